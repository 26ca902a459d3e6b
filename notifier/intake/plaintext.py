"""What text may come in (issue 17): no control characters, no CPR number, one e-mail address.

The control-character rule is the MeMo builder's (``memo.py`` uses ``control_problem``
too), so text accepted at intake can always be delivered: a name with CR/LF used to be
accepted and then made the letter ``dead`` at the MeMo step. One-line fields (names,
addresses, titles, ids) refuse tab and newline as well; multi-line fields keep them.
Bidirectional overrides are refused too: they make a letter read differently from its text.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from notifier.identifiers import looks_like_cpr

# XML 1.0 Char minus "\r" (every parser turns a carriage return into "\n", so a text holding
# one would not arrive as sent); C1 controls and bidi overrides are refused too.
_NOT_TEXT = re.compile(
    "[^\t\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u202a-\u202e\u2066-\u2069]")
_ONE_LINE_BREAKS = re.compile("[\t\n\u2028\u2029\x85]")
CONTROL = "contains a control character"
NO_CPR = "must not contain a CPR number"


def control_problem(value: str, *, multiline: bool = True) -> str | None:
    if _NOT_TEXT.search(value) or (not multiline and _ONE_LINE_BREAKS.search(value)):
        return CONTROL if multiline else CONTROL + " or line break"
    return None


def text_problem(value: str, *, multiline: bool) -> str | None:
    """Why ``value`` may not come in as free text, or None."""
    return control_problem(value, multiline=multiline) or (NO_CPR if looks_like_cpr(value)
                                                           else None)


# What the letter fonts (Liberation/DejaVu, the Arial fallbacks) print: Latin, Greek,
# Cyrillic, punctuation and common symbols. Anything else would be laid out glyph by
# missing glyph (slow, and one WeasyPrint warning per character), so a letter's own text
# is refused with the first character outside these, named by its code point.
_PRINTABLE = re.compile(
    "[^\t\n\x20-\x7e\xa0-\u024f\u0300-\u036f\u0370-\u03ff\u0400-\u04ff\u1e00-\u1eff"
    "\u2000-\u206f\u20a0-\u20cf\u2100-\u214f\u2190-\u21ff\u2200-\u22ff]")


def script_problem(value: str) -> str | None:
    found = _PRINTABLE.search(value)
    if found is None:
        return None
    return (f"contains a character the letter fonts cannot print (U+{ord(found[0]):04X}); "
            "use Latin, Greek or Cyrillic letters")


def not_blank(value: str) -> str:
    """A pydantic after-validator: with a before-validator in the same Annotated, pydantic
    strips the text but no longer applies min_length, so "   " would come in as ""."""
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def printable(value: str) -> str:
    """A pydantic after-validator for text a letter prints (names, addresses, decision
    texts): refused at intake, naming the field, rather than laid out as missing glyphs."""
    problem = script_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def unix_newlines(value: object) -> object:
    """A pydantic before-validator: CRLF (what browsers send from a textarea, and Windows
    systems write) becomes LF; a lone CR is still refused."""
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


def one_line(value: str) -> str:
    """A pydantic after-validator for one-line text and ids."""
    problem = text_problem(value, multiline=False)
    if problem:
        raise ValueError(problem)
    return value


def multi_line(value: str) -> str:
    """A pydantic after-validator for paragraphs, agendas, reasons."""
    problem = text_problem(value, multiline=True)
    if problem:
        raise ValueError(problem)
    return value


def email_address(value: str) -> str:
    """Exactly one valid address (email-validator; no DNS look-up), normalised.

    "x,evil@attacker.dk", "a@b.dk b@c.dk" and addresses with control characters fail.
    """
    problem = text_problem(value, multiline=False)
    if problem:
        raise ValueError(problem)
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"must be one valid e-mail address ({exc})") from None
    return str(checked.normalized)


def domain_problem(address: str, domains: tuple[str, ...]) -> str | None:
    """With ``domains`` configured, why ``address`` is outside them, or None."""
    domain = address.rpartition("@")[2].lower()
    if not domains or any(domain == d or domain.endswith("." + d) for d in domains):
        return None
    return "must be an address in " + ", ".join(domains)
