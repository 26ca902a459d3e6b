"""A fake Serviceplatformen: STS, AccessTokenService, SF1601 KombiPostAfsend and
PostForespoerg on one mutual-TLS server (trustme certificates), run in a thread.

It enforces what the public SF1601 clients show the real one wants (docs/digital-post.md):
- every call over mutual TLS with a client certificate from its CA (else the handshake fails);
- STS: the JSON body's TokenType/RequestType/KeyType, an 8-digit AnvenderKontekst.Cvr, a
  known AppliesTo entity id, and ``UseKey`` equal to the certificate the caller presents;
  answers ``RequestedSecurityToken.Assertion`` (base64 SAML with Conditions/@NotOnOrAfter);
- token service: form field ``saml-token`` naming a live assertion issued to the same
  certificate; answers ``access_token``, ``token_type`` ``Holder-of-key``, ``expires_in``;
- kombi: ``Authorization: Holder-of-key <token>`` live, for the kombi entity and the same
  certificate (else 401); ``x-TransaktionsId`` a UUID equal to the messageUUID;
  ``x-TransaktionsTid`` ``yyyy-MM-ddTHH:mm:ssZ``; a ``kombi_request`` whose MeMo validates
  against the schema of its memoVersion, and for "Fysisk Post" a ForsendelseISamling/
  ForsendelseI valid against the fjernprint schemas, naming the same letter; answers a
  ``kombi_response``. It does NOT de-duplicate on messageUUID: no source says the real
  one does, so ``accepted`` above one for a messageUUID is a double letter.
- PostForespoerg: the same token check (its own entity id), ``cprNumber`` given; answers
  ``{"result": bool}`` (false for the numbers in ``no_digital_post``).

Tell it how to answer the next kombi calls with ``script``: ``ok``, ``refuse`` (HTTP 200,
Result false), ``400``, ``429``, ``500``, ``503``, ``slow`` (answer after
``slow_seconds``), ``drop`` (close without answering, nothing accepted) or ``accept_drop``
(accept, then close without answering: the ambiguous failure).
"""

from __future__ import annotations

import base64
import functools
import json
import re
import ssl
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MEMO_NS = "https://DigitalPost.dk/MeMo-1"
FJERNPRINT_NS = "urn:oio:fjernprint:1.0.0"
CHOICES = {"Digital Post", "Fysisk Post", "Automatisk Valg"}
KOMBI_ENTITY = "http://entityid.kombit.dk/service/kombipostafsend/1"
FORESPOERG_ENTITY = "http://entityid.kombit.dk/service/postforespoerg/1"
STS_PATH = "/runtime/api/rest/wstrust/v1/issue"
TOKEN_PATH = "/service/AccessTokenService_1/token"
KOMBI_PATH = "/service/KombiPostAfsend_1/kombi"
FORESPOERG_PATH = "/service/PostForespoerg_1"
STS_CONSTANTS = {
    "TokenType": "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0",
    "RequestType": "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue",
    "KeyType": "http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey",
}
ZULU = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@dataclass
class Accepted:
    message_uuid: str
    choice: str
    transaction_id: str
    transaction_time: str
    memo: bytes
    forsendelse: bytes | None = None


@dataclass
class Issued:
    entity_id: str
    certificate: bytes  # DER of the certificate it was issued to
    expires: float  # epoch seconds on the fake's clock


class FakeGateway:
    """The fake Serviceplatformen (named for the SF1601 gateway it grew from)."""

    def __init__(self, validate: bool = True, slow_seconds: float = 5.0,
                 saml_lifetime: float = 8 * 3600, access_lifetime: float = 3600,
                 now: Callable[[], float] = time.time) -> None:
        self.schemas = _schemas() if validate else {}
        self.slow_seconds = slow_seconds
        self.saml_lifetime = saml_lifetime
        self.access_lifetime = access_lifetime
        self.now = now
        self.default = "ok"
        self.answers: deque[str] = deque()
        self.received: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.messages: dict[str, Accepted] = {}
        self.rejections: list[str] = []  # what the checks refused, for assertions
        self.calls: Counter[str] = Counter()  # per endpoint: sts, token, kombi, forespoerg
        self.saml: dict[str, Issued] = {}
        self.tokens: dict[str, Issued] = {}
        self.no_digital_post: set[str] = set()
        # Called with the messageUUID once a message is accepted, before the answer leaves:
        # the platform's PKO_PostStatus can overtake its own answer to the sender.
        self.on_accept: Callable[[str], None] | None = None
        self.lock = threading.Lock()
        self.files = tempfile.TemporaryDirectory(prefix="fake-sp-")
        self.ca = trustme.CA()
        self.client_cert = self.ca.issue_cert("notifier-funktionscertifikat.eksempel.dk")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.server.socket = _server_context(self.ca).wrap_socket(
            self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.paths = self._write_files()

    @property
    def base(self) -> str:
        return f"https://localhost:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base + KOMBI_PATH

    def env(self) -> dict[str, str]:
        """NOTIFIER_* settings for a client of this platform (certificate, URLs)."""
        return {
            "NOTIFIER_GATEWAY_URL": self.url,
            "NOTIFIER_POSTFORESPOERG_URL": self.base + FORESPOERG_PATH,
            "NOTIFIER_STS_URL": self.base + STS_PATH,
            "NOTIFIER_TOKEN_URL": self.base + TOKEN_PATH,
            "NOTIFIER_GATEWAY_CERT_FILE": str(self.paths["cert"]),
            "NOTIFIER_GATEWAY_KEY_FILE": str(self.paths["key"]),
            "NOTIFIER_GATEWAY_CA_FILE": str(self.paths["ca"]),
            "NOTIFIER_PRINT_TYPE_ID": "1",
        }

    def settings(self) -> dict[str, Any]:
        """The same as ``env``, as load_settings keyword arguments."""
        return {k.removeprefix("NOTIFIER_").lower(): v for k, v in self.env().items()}

    def _write_files(self) -> dict[str, Path]:
        directory = Path(self.files.name)
        paths = {"cert": directory / "client.crt", "key": directory / "client.key",
                 "ca": directory / "ca.pem"}
        self.client_cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
        self.client_cert.private_key_pem.write_to_path(str(paths["key"]))
        self.ca.cert_pem.write_to_path(str(paths["ca"]))
        return paths

    def start(self) -> FakeGateway:
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread.is_alive():  # shutdown() waits forever for a loop that never ran
            self.server.shutdown()
        self.server.server_close()
        self.files.cleanup()

    def script(self, answers: Iterable[str]) -> None:
        """Answer the next kombi calls with ``answers`` in order, then with ``default``."""
        with self.lock:
            self.answers.extend(answers)

    def push_status(self, url: str, trust: Path, message_uuid: str,
                    status: str = "Afleveret Digital Post",
                    fejl: tuple[str, str] | None = None) -> str | None:
        """Play the Beskedfordeler: POST a PKO_PostStatus for ``message_uuid`` to ``url``
        over mutual TLS (a client certificate from this platform's CA; ``trust`` is the CA
        of the receiving end). Returns the StatusKode answered."""
        import httpx

        context = ssl.create_default_context(cafile=str(trust))
        self.ca.issue_cert("beskedfordeler.serviceplatformen.dk").configure_cert(context)
        answer = httpx.post(url, content=modtag_besked_input(message_uuid, status, fejl),
                            verify=context, timeout=10)
        return ET.fromstring(answer.content).findtext(
            "{urn:oio:sagdok:3.0.0}StandardRetur/{urn:oio:sagdok:3.0.0}StatusKode")

    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (as if hours had passed)."""
        with self.lock:
            for issued in (*self.saml.values(), *self.tokens.values()):
                issued.expires = 0.0

    def next_answer(self) -> str:
        with self.lock:
            return self.answers.popleft() if self.answers else self.default

    def _refuse(self, problem: str) -> tuple[int, str, bytes]:
        with self.lock:
            self.rejections.append(problem)
        return 400, "text/plain; charset=utf-8", problem.encode()

    # -- STS and token service ------------------------------------------------------------

    def sts(self, peer: bytes, body: bytes) -> tuple[int, str, bytes]:
        with self.lock:
            self.calls["sts"] += 1
        try:
            request = json.loads(body)
        except ValueError:
            return self._refuse("sts: body is not JSON")
        for key, value in STS_CONSTANTS.items():
            if request.get(key) != value:
                return self._refuse(f"sts: {key} must be {value}")
        cvr = (request.get("AnvenderKontekst") or {}).get("Cvr", "")
        if not re.fullmatch(r"\d{8}", str(cvr)):
            return self._refuse("sts: AnvenderKontekst.Cvr must be 8 digits")
        entity = ((request.get("AppliesTo") or {}).get("EndpointReference") or {}).get("Address")
        if entity not in (KOMBI_ENTITY, FORESPOERG_ENTITY):
            return self._refuse("sts: AppliesTo.EndpointReference.Address: unknown entity id")
        if request.get("UseKey") != base64.b64encode(peer).decode():
            return self._refuse("sts: UseKey is not the certificate presented over TLS")
        expires = self.now() + self.saml_lifetime
        not_after = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assertion = base64.b64encode(
            f'<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
            f'ID="_{uuid.uuid4()}"><saml:Conditions NotOnOrAfter="{not_after}"/>'
            f"<saml:AttributeStatement/></saml:Assertion>".encode()).decode()
        with self.lock:
            self.saml[assertion] = Issued(entity, peer, expires)
        lifetime = datetime.fromtimestamp(expires, UTC).strftime("%m/%d/%Y %H:%M:%S")
        answer = {"RequestedSecurityToken": {"Assertion": assertion}, "Lifetime": lifetime}
        return 200, "application/json", json.dumps(answer).encode()

    def token(self, peer: bytes, headers: Any, body: bytes) -> tuple[int, str, bytes]:
        with self.lock:
            self.calls["token"] += 1
        if not headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return self._refuse("token: must be a form post")
        saml = parse_qs(body.decode()).get("saml-token", [""])[0]
        with self.lock:
            issued = self.saml.get(saml)
        if issued is None or issued.certificate != peer or issued.expires <= self.now():
            return 401, "text/plain", b"saml-token unknown, expired or not this certificate"
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).decode()
        with self.lock:
            self.tokens[value] = Issued(issued.entity_id, peer, self.now() + self.access_lifetime)
        answer = {"access_token": value, "token_type": "Holder-of-key",
                  "expires_in": int(self.access_lifetime)}
        return 200, "application/json", json.dumps(answer).encode()

    def authorised(self, peer: bytes, headers: Any, entity: str) -> bool:
        kind, _, value = headers.get("Authorization", "").partition(" ")
        with self.lock:
            issued = self.tokens.get(value)
        return (kind == "Holder-of-key" and issued is not None and issued.entity_id == entity
                and issued.certificate == peer and issued.expires > self.now())

    # -- PostForespoerg ---------------------------------------------------------------------

    def forespoerg(self, peer: bytes, headers: Any, path: str) -> tuple[int, str, bytes]:
        with self.lock:
            self.calls["forespoerg"] += 1
        if not self.authorised(peer, headers, FORESPOERG_ENTITY):
            return 401, "text/plain", b"Holder-of-key token missing or invalid"
        parts = urlsplit(path)
        cpr = parse_qs(parts.query).get("cprNumber", [""])[0]
        if parts.path != FORESPOERG_PATH + "/digitalpost" or not re.fullmatch(r"\d{10}", cpr):
            return self._refuse("postforespoerg: GET /digitalpost?cprNumber=<10 digits>")
        if not _is_uuid(headers.get("x-TransaktionsId", "")):
            return self._refuse("postforespoerg: x-TransaktionsId must be a UUID")
        result = cpr not in self.no_digital_post
        return 200, "application/json", json.dumps({"result": result}).encode()

    # -- KombiPostAfsend --------------------------------------------------------------------

    def kombi(self, peer: bytes, headers: Any, body: bytes) -> tuple[int, str, bytes, bool]:
        """(status, content type, body, drop) for one kombi call; records it."""
        with self.lock:
            self.calls["kombi"] += 1
        if not self.authorised(peer, headers, KOMBI_ENTITY):
            return 401, "text/plain", b"Holder-of-key token missing or invalid", False
        problem, message = self.validate(headers, body)
        if problem:
            return (*self._refuse(problem), False)
        assert message is not None
        with self.lock:
            self.received[message.message_uuid] += 1
        answer = self.next_answer()
        if answer == "drop":
            return 0, "", b"", True
        if answer == "slow":
            time.sleep(self.slow_seconds)
        if answer.isdigit():
            return int(answer), "text/plain", f"scripted HTTP {answer}".encode(), False
        if answer == "refuse":
            return 200, "application/xml", kombi_response(False, None, "memo.invalid"), False
        with self.lock:
            self.messages[message.message_uuid] = message
            self.accepted[message.message_uuid] += 1
        if self.on_accept is not None:
            self.on_accept(message.message_uuid)
        return (200, "application/xml", kombi_response(True, str(uuid.uuid4())),
                answer == "accept_drop")

    def validate(self, headers: Any, body: bytes) -> tuple[str | None, Accepted | None]:
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            return f"body: not XML ({exc})", None
        choice = root.findtext("KombiValgKode")
        memo = root.find(f"{{{MEMO_NS}}}Message")
        if root.tag != "kombi_request" or choice not in CHOICES or memo is None:
            return "body: expected kombi_request with KombiValgKode and memo:Message", None
        memo_bytes = ET.tostring(memo, encoding="UTF-8")
        version = memo.get("memoVersion", "")
        schema = self.schemas.get(f"memo-{version}")
        if self.schemas and schema is None:
            return f"memo: memoVersion {version!r} is not 1.1 or 1.2", None
        if schema is not None:
            errors = [str(e.reason) for e in schema.iter_errors(memo_bytes.decode())]
            if errors:
                return f"memo: not valid MeMo {version}: {errors[0]}", None
        message_uuid = memo.findtext(f".//{{{MEMO_NS}}}messageUUID") or ""
        forsendelse = root.find(f"{{{FJERNPRINT_NS}}}ForsendelseISamling/"
                                f"{{{FJERNPRINT_NS}}}ForsendelseI")
        if choice == "Fysisk Post":
            if forsendelse is None:
                return "body: Fysisk Post needs ForsendelseISamling/ForsendelseI", None
            problem = self._check_forsendelse(forsendelse, message_uuid)
            if problem:
                return problem, None
        transaction_id = headers.get("x-TransaktionsId", "")
        transaction_time = headers.get("x-TransaktionsTid", "")
        if transaction_id != message_uuid or not _is_uuid(transaction_id):
            return "header x-TransaktionsId: must be the messageUUID", None
        if not ZULU.fullmatch(transaction_time):
            return "header x-TransaktionsTid: must be yyyy-MM-ddTHH:mm:ssZ", None
        printed = ET.tostring(forsendelse) if forsendelse is not None else None
        return None, Accepted(message_uuid, choice, transaction_id, transaction_time,
                              memo_bytes, printed)

    def _check_forsendelse(self, forsendelse: ET.Element, message_uuid: str) -> str | None:
        schema = self.schemas.get("fjernprint")
        if schema is not None:
            errors = [str(e.reason) for e in schema.iter_errors(
                ET.tostring(forsendelse, encoding="unicode"))]
            if errors:
                return f"ForsendelseI: not valid: {errors[0]}"
        ident = forsendelse.findtext(f"{{{FJERNPRINT_NS}}}AfsendelseIdentifikator")
        if ident != message_uuid:
            return "ForsendelseI: AfsendelseIdentifikator must name the letter"
        return None


def kombi_response(result: bool, transmission_id: str | None, fejl: str = "") -> bytes:
    """A kombi_response as OS2Valghalla's generated class reads it."""
    reaction = (f"<Fejl><FejlId>{fejl}</FejlId><FejlTekst>refused: {fejl}</FejlTekst></Fejl>"
                if fejl else "<Advis><AdvisId>0</AdvisId><AdvisTekst>Received</AdvisTekst></Advis>")
    transmission = f"<TransmissionID>{transmission_id}</TransmissionID>" if transmission_id else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><kombi_response>'
            f"<Result>{'true' if result else 'false'}</Result>{transmission}"
            f"<HovedoplysningerSvarREST><SvarReaktion>{reaction}</SvarReaktion>"
            f"</HovedoplysningerSvarREST></kombi_response>").encode()


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS, like the real platform
    ca.configure_trust(context)
    return context


def _handler(fake: FakeGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def peer(self) -> bytes:
            der = self.connection.getpeercert(binary_form=True)  # type: ignore[attr-defined]
            assert der, "mutual TLS: the server requires a client certificate"
            return bytes(der)

        def do_GET(self) -> None:
            if self.path.startswith(FORESPOERG_PATH + "/"):
                self.answer(*fake.forespoerg(self.peer(), self.headers, self.path))
            else:
                self.answer(404, "text/plain", b"no such service")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            path = urlsplit(self.path).path
            if path == STS_PATH:
                self.answer(*fake.sts(self.peer(), body))
            elif path == TOKEN_PATH:
                self.answer(*fake.token(self.peer(), self.headers, body))
            elif path == KOMBI_PATH:
                status, kind, payload, drop = fake.kombi(self.peer(), self.headers, body)
                if drop or not status:  # the answer never reaches the client
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.answer(status, kind, payload)
            else:
                self.answer(404, "text/plain", b"no such service")

        def answer(self, status: int, kind: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            if status in (429, 503):
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean; the counters are the record

    return Handler


@functools.cache
def _schemas() -> dict[str, Any]:
    """The official schemas found in ../shared (none if absent: tests that need them skip).
    Loaded once per process: they are read-only once built."""
    import xmlschema

    found: dict[str, Any] = {}
    for key, path in (("memo-1.1", SHARED / "memo-1.1-xsd" / "MeMo_core.xsd"),
                      ("memo-1.2", SHARED / "memo-1.2-xsd" / "Version1.2" / "MeMo_core.xsd"),
                      ("fjernprint", SHARED / "sf1600-fjernprint-xsd" / "_all.xsd")):
        if path.is_file():
            found[key] = xmlschema.XMLSchema(str(path))
    return found


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


BESKEDFORDELER_SAMPLE = SHARED / "beskedfordeler-samples" / "PostStatusBeskedModtag.success.xml"


def modtag_besked_input(message_uuid: str, status: str = "Afleveret Digital Post",
                        fejl: tuple[str, str] | None = None,
                        at: str = "2026-11-23T09:20:00.000Z") -> bytes:
    """What the Beskedfordeler pushes: the real sample's envelope with a PKO_PostStatus for
    ``message_uuid`` (skips the test if the sample is absent)."""
    if not BESKEDFORDELER_SAMPLE.is_file():
        import pytest

        pytest.skip("../shared/beskedfordeler-samples not found beside the checkout")
    details = (f"<FejlDetaljer><FejlKode>{fejl[0]}</FejlKode><FejlTekst>{fejl[1]}</FejlTekst>"
               f"</FejlDetaljer>" if fejl else "<FejlDetaljer/>")
    transmission = str(uuid.uuid4())
    inner = (f'<PKO_PostStatus xmlns="http://serviceplatformen.dk/xml/print/PKO_PostStatus/1/'
             f'types"><TransmissionId>{transmission}</TransmissionId><MessageUUID>'
             f"{message_uuid}</MessageUUID><MessageId>{uuid.uuid4()}</MessageId><KanalKode>"
             f"Digital Post</KanalKode><TransaktionsDatoTid>{at}</TransaktionsDatoTid>"
             f"<TransaktionsStatusKode>{status}</TransaktionsStatusKode><CorrelationId>"
             f"{transmission}</CorrelationId>{details}</PKO_PostStatus>")
    sample = BESKEDFORDELER_SAMPLE.read_text(encoding="utf-8")
    encoded = base64.b64encode(inner.encode()).decode()
    replaced = re.sub(r"(<Base64[^>]*>)[^<]+(</Base64>)", lambda m: m[1] + encoded + m[2],
                      sample)
    assert replaced != sample
    return replaced.encode()
