"""Operator commands for Serviceplatformen (issue 12), kept out of cli.py's body:

- ``notifier digital-post check [--recipient-file FILE]``: load the function certificate
  (subject, days to expiry), get a SAML and an access token for KombiPostAfsend (and for
  PostForespoerg), optionally ask PostForespoerg about a test recipient whose CPR number
  is read from a file (never from the command line, where ``ps`` and shell history would
  keep it); exit 1 with a message naming the failing step.
- ``notifier beskedfordeler``: the mutual-TLS listener for PKO_PostStatus receipts.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from notifier.errors import ConfigError, NotifierError
from notifier.settings import Settings

EXPIRY_WARNING_DAYS = 30


def register(sub: Any) -> None:
    post = sub.add_parser("digital-post", help="Serviceplatformen (SF1601) tools")
    post_sub = post.add_subparsers(dest="digital_post_command", required=True)
    check = post_sub.add_parser("check", help="certificate, STS and token service, "
                                              "optionally PostForespoerg")
    check.add_argument("--recipient-file", type=Path,
                       help="file holding a test recipient's CPR number for PostForespoerg")
    check.set_defaults(func=cmd_check)
    listener = sub.add_parser("beskedfordeler", help="receive PKO_PostStatus receipts "
                                                     "(mutual TLS)")
    listener.set_defaults(func=cmd_beskedfordeler)


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.channels.gateway import Sf1601Gateway
    from notifier.channels.postforespoerg import PostForespoerg
    from notifier.channels.sts import ENTITY_KOMBI, ENTITY_POSTFORESPOERG
    from notifier.clock import SystemClock

    clock = SystemClock()
    step = "certificate"
    try:
        gateway = Sf1601Gateway(settings, clock)
    except ConfigError as exc:
        print(f"FAILED {step}: {exc}", file=sys.stderr)
        return 1
    try:
        certificate = gateway.certificate
        days = certificate.days_left(clock.now())
        print(f"ok certificate: {certificate.subject}; expires {certificate.not_after:%Y-%m-%d}"
              f" ({days} days)")
        if days < 0:
            print("FAILED certificate: expired", file=sys.stderr)
            return 1
        if days < EXPIRY_WARNING_DAYS:
            print(f"WARNING certificate: fewer than {EXPIRY_WARNING_DAYS} days left")
        for entity in (ENTITY_KOMBI, ENTITY_POSTFORESPOERG):
            step = f"tokens for {entity}"
            gateway.tokens.authorization(entity)
            print(f"ok {step}: SAML token from the STS, access token from the token service")
        if args.recipient_file:
            step = "PostForespoerg"
            cpr = args.recipient_file.read_text(encoding="utf-8").strip()
            answer = PostForespoerg(settings, gateway).can_receive(cpr)
            print(f"ok {step}: the test recipient {'can' if answer else 'cannot'} receive "
                  "Digital Post")
    except (NotifierError, OSError) as exc:
        print(f"FAILED {step}: {exc}", file=sys.stderr)
        return 1
    finally:
        gateway.close()
    return 0


def cmd_beskedfordeler(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.cli import stop_on_signal
    from notifier.records.beskedfordeler import serve_beskedfordeler
    from notifier.runtime import build_runtime
    from notifier.store.schema import check_at_start

    runtime = build_runtime(settings)
    check_at_start(runtime.client)  # it writes receipts and plans letters: same layout rule
    server = serve_beskedfordeler(settings, runtime)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    stop = stop_on_signal()  # before the line saying we listen: a SIGTERM after it is clean
    print(f"notifier: Beskedfordeler receipts on https://{host}:{port}/…/PostStatusBeskedModtag "
          "(mutual TLS)", file=sys.stderr)
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        runtime.close()
    return 0
