"""A fake SF1601 gateway: a real HTTP server on a loopback port, run in a thread.

It checks what it receives like the real one would (kombi_request shape, headers, and
the MeMo message against the XSD when given), de-duplicates on messageUUID with HTTP 409,
and can be told how to answer next: ``ok``, ``400``, ``429``, ``500``, ``503``, ``slow``
(answer after ``slow_seconds``), ``drop`` (close without answering, nothing accepted) or
``accept_drop`` (accept, then close without answering: the ambiguous failure).

Counters, per messageUUID:
- ``received``: every request that arrived (a retry after an ambiguous failure adds one),
- ``accepted``: requests the gateway accepted. More than one would be a double letter,
  which the 409 rule makes impossible here, so tests also watch ``received``.
"""

from __future__ import annotations

import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MEMO_NS = "https://DigitalPost.dk/MeMo-1"
CHOICES = {"Digital Post", "Fysisk Post"}


@dataclass
class Accepted:
    message_uuid: str
    choice: str
    transaction_id: str
    transaction_time: str
    memo: bytes


class FakeGateway:
    def __init__(self, xsd_dir: Path | None = None, slow_seconds: float = 5.0) -> None:
        self.schema = _schema(xsd_dir)
        self.slow_seconds = slow_seconds
        self.default = "ok"
        self.answers: deque[str] = deque()
        self.received: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.messages: dict[str, Accepted] = {}
        self.rejections: list[str] = []  # what the validation refused, for assertions
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/sf1601/kombi"

    def start(self) -> FakeGateway:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, answers: Iterable[str]) -> None:
        """Answer the next requests with ``answers`` in order, then with ``default``."""
        with self.lock:
            self.answers.extend(answers)

    def next_answer(self) -> str:
        with self.lock:
            return self.answers.popleft() if self.answers else self.default

    def handle(self, headers: Any, body: bytes) -> tuple[int, str, bool]:
        """(status, text, drop) for one request; records it."""
        problem, message = self.validate(headers, body)
        if problem:
            with self.lock:
                self.rejections.append(problem)
            return 400, problem, False
        assert message is not None
        with self.lock:
            self.received[message.message_uuid] += 1
        answer = self.next_answer()
        if answer == "drop":
            return 0, "", True
        if answer == "slow":
            time.sleep(self.slow_seconds)
        if answer.isdigit():
            return int(answer), f"scripted HTTP {answer}", False
        with self.lock:
            if message.message_uuid in self.messages:
                return 409, "messageUUID already accepted", answer == "accept_drop"
            self.messages[message.message_uuid] = message
            self.accepted[message.message_uuid] += 1
        return 200, "accepted", answer == "accept_drop"

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
        if self.schema is not None:
            errors = [str(e.reason) for e in self.schema.iter_errors(memo_bytes.decode())]
            if errors:
                return f"memo: not valid MeMo 1.1: {errors[0]}", None
        message_uuid = memo.findtext(f".//{{{MEMO_NS}}}messageUUID") or ""
        transaction_id = headers.get("x-TransaktionsId", "")
        transaction_time = headers.get("x-TransaktionsTid", "")
        if transaction_id != message_uuid or not _is_uuid(transaction_id):
            return "header x-TransaktionsId: must be the messageUUID", None
        if not _is_instant(transaction_time):
            return "header x-TransaktionsTid: must be an ISO 8601 time with offset", None
        return None, Accepted(message_uuid, choice, transaction_id, transaction_time, memo_bytes)


def _handler(gateway: FakeGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, text, drop = gateway.handle(self.headers, body)
            if status:
                if drop:  # accepted, but the answer never reaches the client
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                if status in (429, 503):
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(payload)
                return
            self.close_connection = True
            self.connection.shutdown(2)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean; the counters are the record

    return Handler


def _schema(xsd_dir: Path | None) -> Any:
    if xsd_dir is None:
        return None
    import xmlschema

    return xmlschema.XMLSchema(str(xsd_dir / "MeMo_core.xsd"))


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _is_instant(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).utcoffset() is not None
    except ValueError:
        return False
