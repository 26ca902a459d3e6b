"""Danish words for the caseworker pages: labels, notices and error messages.

The shared validation speaks English (API clients and logs); a caseworker reads Danish,
so the errors a page can show are translated here, field by field.
"""

from __future__ import annotations

from typing import Any

from notifier.errors import FieldError
from notifier.models import Recipient
from notifier.runtime import Runtime

LABELS: dict[str, dict[str, str]] = {
    "status": {"scheduled": "Planlagt", "queued": "I kø", "sending": "Sendes",
               "sent": "Sendt", "cancelled": "Annulleret",
               "suppressed": "Ikke sendt (standby)", "dead": "Kunne ikke sendes",
               "held": "Holdt tilbage",
               "uncertain": "Afsendt? Afventer kvittering"},
    "channel": {"digital_post": "Digital Post", "print": "Fysisk brev", "mail": "E-mail"},
    "recipient": {"citizen": "Borger", "employer": "Arbejdsgiver",
                  "caseworker": "Sagsbehandler"},
    "form": {"in_person": "Fremmøde", "phone": "Telefon", "video": "Video"},
    "receipt": {"delivered": "Leveret i postkassen", "read": "Læst",
                "failed": "Kunne ikke leveres"},
    "outcome": {"granted": "Bevilget", "refused": "Afslag", "stopped": "Stoppet",
                "partial": "Delvist bevilget"},
}
FIELDS = {"kind": "Brevtype", "recipient": "Modtager", "subject": "Overskrift",
          "paragraphs": "Tekst", "deadline": "Svarfrist", "meeting_id": "Møde",
          "decision_id": "Afgørelse", "send_at": "Afsendelse", "case_id": "Sagsnummer",
          "letter_id": "Brev", "status": "Status", "idempotency_key": "Formular",
          "reason": "Begrundelse", "token": "Adgangsnøgle", "(side)": "Siden",
          "(date)": "Dato"}
NOTICES = ("planlagt", "findes", "annulleret", "allerede-annulleret", "frigivet",
           "allerede-frigivet")  # case.html words them
# (field, words in the English message, Danish message): the first match wins.
_MESSAGES = [
    ("(side)", "Not Found", "Siden findes ikke."),
    ("(side)", "cross-site", "Formularen kom fra en anden hjemmeside og er afvist."),
    ("(side)", "", "Du har ikke adgang til siden."),
    ("case_id", "unknown case", "Der findes ingen sag med dette sagsnummer."),
    ("case_id", "CPR", "Det ligner et CPR-nummer. Søg på sagsnummeret, aldrig på CPR-nummer."),
    ("case_id", "must be 1-64", "Et sagsnummer består af bogstaver, tal, punktum, bindestreg "
                                "og understreg, fx SDP-2026-0042."),
    ("", "archived and purged", "Sagen er arkiveret og slettet fra brevsystemet. "
                                "Driften kan hente den fra arkivet (notifier archive show)."),
    ("case_id", "no legal hold", "Sagen er ikke i retligt tilbagehold."),
    ("reason", "required", "Skriv en begrundelse."),
    ("case_id", "closed", "Sagen er lukket og kan ikke få flere breve."),
    ("", "CPR number", "Må ikke indeholde et CPR-nummer – breve viser aldrig CPR-numre."),
    ("", "must lie in the years", "Datoen skal ligge mellem år 2000 og 2100."),
    ("", "years ahead", "Datoen ligger for langt ude i fremtiden."),
    ("", "out of the range", "En dato ligger uden for det, systemet kan håndtere."),
    ("", "control character", "Teksten indeholder et usynligt styretegn. Skriv den igen."),
    ("", "too long", "Teksten er for lang."),
    ("paragraphs", "at least one", "Skriv mindst ét afsnit."),
    ("", "only for kind adhoc", "Bruges kun i fritekstbreve."),
    ("recipient", "no employer", "Sagen har ingen arbejdsgiver."),
    ("recipient", "goes to", "Brevtypen kan ikke sendes til den valgte modtager."),
    ("meeting_id", "", "Vælg et af sagens møder."),
    ("decision_id", "", "Vælg en af sagens afgørelser."),
    ("send_at", "past", "Tidspunktet er allerede passeret."),
    ("send_at", "", "Vælg dato og klokkeslæt."),
    ("deadline", "after the day", "Fristen skal ligge efter den dag, brevet sendes."),
    ("kind", "needs", "Sagen mangler oplysninger, som denne brevtype skal bruge."),
    ("kind", "", "Brevtypen kan ikke sendes for denne sag."),
    ("idempotency_key", "", "Formularen er allerede brugt til et andet brev. Begynd forfra."),
    ("status", "only a scheduled", "Brevet er allerede sendt eller ved at blive sendt og kan "
                                   "ikke annulleres."),
    ("status", "only a held", "Brevet er ikke holdt tilbage og kan ikke frigives."),
    ("letter_id", "unknown", "Der findes intet brev med dette id."),
    ("letter_id", "not been sent", "Brevet er ikke sendt endnu, så der er intet dokument."),
]


def danish_errors(errors: list[FieldError]) -> list[dict[str, str]]:
    """Each error as ``{"field", "label", "message"}`` for the pages (and the live preview)."""
    return [{"field": e.field.split(".")[0], "label": _label(e.field),
             "message": _message(e)} for e in errors]


def _label(field: str) -> str:
    return FIELDS.get(field.split(".")[0], field)


def _message(error: FieldError) -> str:
    root = error.field.split(".")[0]
    for field, words, danish in _MESSAGES:
        if field in ("", root) and words in error.message:
            return danish
    return f"Ugyldig værdi ({error.message})."


def kind_choices(runtime: Runtime) -> list[dict[str, Any]]:
    """Letter kinds a caseworker may send, free text first, for the form's select."""
    catalog, rules = runtime.renderer.catalog, runtime.planner.rules.letters
    choices = []
    for kind, entry in catalog.kinds.items():
        recipients = [r.value for r in entry.recipients if r is not Recipient.CASEWORKER]
        if recipients:
            rule = rules.get(kind)
            choices.append({"kind": kind, "title": entry.title, "recipients": recipients,
                            "scope": (rule.scope if rule else None) or ""})
    return sorted(choices, key=lambda c: (c["kind"] != "adhoc", c["title"]))
