"""Receipts from the Beskedfordeler: ``PKO_PostStatus`` inside a ``ModtagBeskedInput``.

SF1601 reports what became of a letter asynchronously. The Beskedfordeler POSTs a
``ModtagBeskedInput`` (namespace ``urn:oio:sts:1.0.0``) to the municipality's endpoint;
its ``Haendelsesbesked/Beskeddata/Base64`` holds the base64 ``PKO_PostStatus``
(``http://serviceplatformen.dk/xml/print/PKO_PostStatus/1/types``: TransmissionId,
MessageUUID, KanalKode, TransaktionsDatoTid, TransaktionsStatusKode, FejlDetaljer/FejlKode,
FejlTekst). The answer is a ``ModtagBeskedOutput`` with ``StandardRetur/StatusKode`` 20
(sources: the real messages in itk-dev/beskedfordeler-drupal ``resources/messages/sf1601``
and its ``Controller::postStatusBeskedModtag``, which answers 20, or 40 on an error).

A status names our letter by MessageUUID (for print, AfsendelseIdentifikator: we use the
letter id for both). Each status is recorded once with an audit entry (``receipts``); an
``uncertain`` letter is settled as sent by any status (the platform has it); ``Fejlet``
alerts the caseworker. Nothing here logs the message: FejlTekst may quote the letter.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from notifier.errors import InputError

STS_NS = "urn:oio:sts:1.0.0"
SAGDOK_NS = "urn:oio:sagdok:3.0.0"
POST_STATUS_NS = "http://serviceplatformen.dk/xml/print/PKO_PostStatus/1/types"
OK = 20  # StandardRetur StatusKode: received
REFUSED = 40  # what itk-dev answers when it could not take the message

# TransaktionsStatusKode -> our receipt status. "received": the platform has it, on its way;
# "delivered": in the mailbox, or handed to print and post; "failed": it will not arrive.
# Names from the issue's reading of SF1601's documentation and the samples; no public
# source shows a "read" status.
STATUSES = {
    "Modtaget Digital Post": "received",
    "Afsendt": "received",
    "Modtaget Fjernprint": "received",
    "Afleveret Digital Post": "delivered",
    "Afleveret til print og kuvertering": "delivered",
    "Modtaget PostDanmark": "delivered",
    "Fejlet": "failed",
    "Tilbagekaldt": "failed",
}


@dataclass(frozen=True)
class PostStatus:
    message_uuid: str
    transmission_id: str
    channel: str  # KanalKode: "Digital Post" or "Fysisk Post"
    status: str  # TransaktionsStatusKode as the platform wrote it
    at: str  # TransaktionsDatoTid
    error_code: str | None = None
    error_text: str | None = None

    def receipt(self) -> dict[str, Any]:
        """The receipt for ``receipts.accept_receipt``."""
        mapped = STATUSES.get(self.status)
        if mapped is None:
            raise InputError.single("TransaktionsStatusKode", "unknown status")
        reason = None
        if self.error_code or self.error_text:
            reason = f"{self.error_code or ''}: {self.error_text or ''}".strip(": ")[:300]
        return {"message_uuid": self.message_uuid, "status": mapped,
                "received_at": self.at.replace("Z", "+00:00"), "reason": reason,
                "platform_status": self.status, "transmission_id": self.transmission_id}


def parse_modtag_besked(body: bytes) -> PostStatus:
    """The PKO_PostStatus in a ModtagBeskedInput; InputError naming what is wrong."""
    root = _xml(body, "ModtagBeskedInput")
    if root.tag != f"{{{STS_NS}}}ModtagBeskedInput":
        raise InputError.single("ModtagBeskedInput", "not a ModtagBeskedInput")
    payload = next((e for e in root.iter() if _local(e.tag) == "Base64"), None)
    if payload is None or not (payload.text or "").strip():
        raise InputError.single("Beskeddata.Base64", "missing")
    try:
        inner = base64.b64decode("".join((payload.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputError.single("Beskeddata.Base64", "not base64") from None
    status = _xml(inner, "PKO_PostStatus")
    if status.tag != f"{{{POST_STATUS_NS}}}PKO_PostStatus":
        raise InputError.single("PKO_PostStatus", "the message carries no PKO_PostStatus")

    def text(path: str) -> str | None:
        value = status.findtext(path, namespaces={"p": POST_STATUS_NS})
        return value.strip() if value and value.strip() else None

    found = {name: text(f"p:{name}") for name in (
        "MessageUUID", "TransmissionId", "KanalKode", "TransaktionsStatusKode",
        "TransaktionsDatoTid")}
    missing = [name for name, value in found.items() if value is None]
    if missing:
        raise InputError.single(f"PKO_PostStatus.{missing[0]}", "missing")
    return PostStatus(
        message_uuid=str(found["MessageUUID"]), transmission_id=str(found["TransmissionId"]),
        channel=str(found["KanalKode"]), status=str(found["TransaktionsStatusKode"]),
        at=str(found["TransaktionsDatoTid"]),
        error_code=text("p:FejlDetaljer/p:FejlKode"), error_text=text("p:FejlDetaljer/p:FejlTekst"),
    )


def modtag_besked_output(status_code: int, error: str | None = None) -> bytes:
    """The answer the Beskedfordeler expects: ModtagBeskedOutput/StandardRetur."""
    # Not via ET.register_namespace: its registry is global and would re-prefix the MeMo
    # and Fjernprint XML built elsewhere in the process.
    text = escape(error or "")
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<ns2:ModtagBeskedOutput xmlns="{SAGDOK_NS}" xmlns:ns2="{STS_NS}">'
            f"<StandardRetur><StatusKode>{int(status_code)}</StatusKode>"
            f"<FejlbeskedTekst>{text}</FejlbeskedTekst></StandardRetur>"
            f"</ns2:ModtagBeskedOutput>").encode()


def accept_post_status(store: Any, catalog: Any, body: bytes, now: datetime, *,
                       paper_resend: bool = True) -> dict[str, Any]:
    """Record the PKO_PostStatus in ``body``: ``accept_receipt``'s result."""
    from notifier.records.receipts import accept_receipt

    return accept_receipt(store, catalog, parse_modtag_besked(body).receipt(), now,
                          paper_resend=paper_resend)


def _xml(body: bytes, what: str) -> ET.Element:
    # ElementTree (expat) never fetches external entities, and expat limits entity
    # expansion; the body comes from an authenticated caller besides.
    try:
        return ET.fromstring(body)  # noqa: S314
    except ET.ParseError:
        raise InputError.single(what, "not well-formed XML") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# --- the mutual-TLS listener (``notifier beskedfordeler``) -------------------------------
MAX_BODY = 1_000_000


def serve_beskedfordeler(settings: Any, runtime: Any, ready: Any = None) -> Any:
    """A ThreadingHTTPServer on NOTIFIER_BESKEDFORDELER_HOST/_PORT that takes
    ``POST …/PostStatusBeskedModtag`` over mutual TLS only: the caller must present a
    certificate from NOTIFIER_BESKEDFORDELER_CLIENT_CA_FILE (and, if set, with
    NOTIFIER_BESKEDFORDELER_CLIENT_SUBJECT in its subject). The public API's bearer tokens
    play no part. Returns the server; the caller runs ``serve_forever``."""
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from notifier.errors import ConfigError
    from notifier.logging import get_logger

    log = get_logger(__name__)
    needed = {"NOTIFIER_BESKEDFORDELER_CERT_FILE": settings.beskedfordeler_cert_file,
              "NOTIFIER_BESKEDFORDELER_KEY_FILE": settings.beskedfordeler_key_file,
              "NOTIFIER_BESKEDFORDELER_CLIENT_CA_FILE": settings.beskedfordeler_client_ca_file}
    missing = [name for name, value in needed.items() if not value]
    if missing:
        raise ConfigError(f"{', '.join(missing)}: required by the Beskedfordeler listener")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH,
                                         cafile=settings.beskedfordeler_client_ca_file)
    context.load_cert_chain(settings.beskedfordeler_cert_file, settings.beskedfordeler_key_file)
    context.verify_mode = ssl.CERT_REQUIRED
    wanted = settings.beskedfordeler_client_subject

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not self.path.rstrip("/").endswith("PostStatusBeskedModtag"):
                return self._answer(404, b"")
            if length > MAX_BODY:
                return self._answer(413, b"")
            if wanted and wanted not in str(self.connection.getpeercert()):
                return self._answer(403, modtag_besked_output(REFUSED, "certificate subject"))
            body = self.rfile.read(length)
            try:
                status = parse_modtag_besked(body)
                if runtime.store.letter(status.message_uuid) is None:
                    # Another of the municipality's systems sent it (the subscription is
                    # per CVR): acknowledged, so the Beskedfordeler does not redeliver it.
                    log.info("beskedfordeler.not_ours", status=status.status)
                    return self._answer(200, modtag_besked_output(OK))
                result = accept_post_status(
                    runtime.store, runtime.renderer.catalog, body, runtime.clock.now(),
                    paper_resend=settings.paper_resend_on_failure)
            except InputError as exc:  # ConflictError included
                log.warning("beskedfordeler.refused", error=str(exc)[:200])
                return self._answer(200, modtag_besked_output(REFUSED, str(exc)[:200]))
            log.info("beskedfordeler.recorded", **result)
            self._answer(200, modtag_besked_output(OK))

        def _answer(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # structlog above; the default would print the peer's address per request

    server = ThreadingHTTPServer((settings.beskedfordeler_host, settings.beskedfordeler_port),
                                 Handler)
    server.daemon_threads = True
    # The handshake runs in the request's thread (on its first read), so a client that
    # connects and stalls cannot hold up the accepting loop.
    server.socket = context.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    return server
