"""A callback receiver for the integration tests (issue 13), run as its own process:

    python -m tests.support.webhook_receiver PORT SECRET RECORD_FILE [ERRORS] [HANGS]

It verifies every request with the Standard Webhooks reference implementation
(``standardwebhooks``), answers the first ERRORS verified requests with 500 and the next
HANGS by hanging past the sender's timeout, then 204; a request that does not verify gets
400. Each request is appended to RECORD_FILE as one JSON line (what it answered, the
webhook-id, type, letter id, sequence and the SHA-256 of the PDF it carried).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

HANG_SECONDS = 5.0


class State:
    def __init__(self, secret: str, record: str, errors: int, hangs: int) -> None:
        self.webhook = Webhook(secret)
        self.record = record
        self.errors = errors
        self.hangs = hangs
        self.lock = threading.Lock()

    def answer(self) -> int:
        with self.lock:
            if self.errors:
                self.errors -= 1
                return 500
            if self.hangs:
                self.hangs -= 1
                return 0  # hang
            return 204

    def write(self, line: dict[str, Any]) -> None:
        with self.lock, open(self.record, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")


def handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server calls it by this name
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload = state.webhook.verify(body, headers)
            except WebhookVerificationError as exc:
                state.write({"answer": 400, "error": str(exc)})
                self._reply(400)
                return
            code = state.answer()
            data = payload["data"]
            document = data.get("document") or {}
            pdf = document.get("pdf")
            state.write({
                "answer": code or "hang", "webhook_id": headers["webhook-id"],
                "type": payload["type"], "letter_id": data["letter_id"],
                "sequence": data["sequence"], "sha256": document.get("sha256"),
                "pdf_sha256": hashlib.sha256(base64.b64decode(pdf)).hexdigest() if pdf else None,
            })
            if code == 0:
                time.sleep(HANG_SECONDS)
                code = 503
            self._reply(code)

        def _reply(self, code: int) -> None:
            try:
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    port, secret, record = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    errors = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    hangs = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(State(secret, record, errors,
                                                                     hangs)))
    print("receiver.started", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
