"""Issue 14a against a real redis-server: a case sent, receipted and closed is held, then
released, archived and purged by `notifier retention`; no key of it is left; `notifier
archive show` and `get` read it back with matching checksums.

The scenario is anchored at the real now (clock_at_real_now), because the `notifier`
commands read the real clock: the case closes on the real local date and the retention
is 0 days, so no fixed calendar date meets the wall clock."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import redis

from notifier.cli import main
from notifier.clock import SystemClock
from notifier.models import ChannelName, Status
from notifier.records.receipts import accept_receipt
from notifier.runtime import build_runtime, load_calendar
from notifier.settings import load_settings
from tests.conftest import BASE_OPEN, event, opening_event
from tests.integration.conftest import clock_at_real_now, opened_at
from tests.unit.test_pipeline import deliver_due

CASE = BASE_OPEN["case_id"]


def test_archive_purge_and_read_back_on_real_redis(
        redis_url: str, tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Hold blocks the run; released, the case is archived and purged: no key names or
    holds the case or its letters; the archive verifies, and the PDF read back through the
    CLI has the SHA-256 stored when it was sent; a tampered file makes `archive show`
    fail."""
    env = {"NOTIFIER_REDIS_URL": redis_url, "NOTIFIER_ARCHIVE_DIR": str(tmp_path / "archive"),
           "NOTIFIER_OUTBOX_DIR": str(tmp_path / "outbox"), "NOTIFIER_RETENTION_DAYS": "0"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    clock = clock_at_real_now(settings)
    runtime = build_runtime(settings, clock=clock)
    client = redis.Redis.from_url(redis_url)
    opening = opened_at(clock, settings)
    runtime.store.apply_event(opening_event(occurred_at=opening["occurred_at"],
                                            data=opening["data"]),
                              runtime.planner, clock.now())
    deliver_due(runtime)
    today = load_calendar(settings).local_date(SystemClock().now())
    close = event("evt-close", "case_closed", clock.now().isoformat(),
                  {"closed_on": today.isoformat(), "reason": "recovered"})
    runtime.store.apply_event(close, runtime.planner, clock.now())
    deliver_due(runtime)
    letters = runtime.store.case_letters(CASE)
    sent = {lid: runtime.store.document(lid) for lid, x in letters.items()
            if x.status is Status.SENT}
    for lid in sent:
        if letters[lid].channel is ChannelName.DIGITAL_POST:
            accept_receipt(runtime.store, runtime.renderer.catalog,
                           {"message_uuid": lid, "status": "delivered",
                            "received_at": clock.now().isoformat()}, clock.now())
    assert sent and all(doc and doc.get("pdf_sha256") for doc in sent.values())

    assert main(["hold", CASE, "--reason", "aktindsigt under behandling", "--by", "ole"]) == 0
    assert main(["retention", "--dry-run"]) == 0
    assert "legal hold" in capsys.readouterr().out
    assert main(["hold", CASE, "--release", "--reason", "afsluttet", "--by", "ole"]) == 0
    capsys.readouterr()
    assert main(["retention", "--dry-run"]) == 0
    assert f"would purge  {CASE}" in capsys.readouterr().out
    assert client.exists(f"notifier:case:{CASE}")

    assert main(["retention", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["purged"] == [CASE] and result["failed"] == {}

    mentions = [k.decode() for k in client.scan_iter(count=1000)
                if CASE in k.decode() or any(lid in k.decode() for lid in letters)]
    assert mentions == []
    assert json.loads(client.hget("notifier:retention:purged", CASE) or b"{}")["folder"] \
        == f"cases/{CASE}"

    assert main(["archive", "show", CASE]) == 0
    shown = capsys.readouterr().out
    assert "files verified (SHA-256)" in shown and all(lid in shown for lid in letters)
    lid, doc = next(iter(sent.items()))
    out = tmp_path / "back.pdf"
    assert main(["archive", "get", CASE, f"letters/{lid}/document.pdf", "-o", str(out)]) == 0
    assert doc is not None
    assert hashlib.sha256(out.read_bytes()).hexdigest() == doc["pdf_sha256"]
    record = json.loads((tmp_path / "archive" / "cases" / CASE / "letters" / lid /
                         "letter.json").read_text())
    if letters[lid].channel is ChannelName.DIGITAL_POST:
        assert record["receipt_status"] == "delivered"
    assert main(["archive", "letter", lid]) == 0
    assert CASE in capsys.readouterr().out
    # Both reads of the archive are logged apart from the purged case's own list (review).
    archive_reads = [json.loads(raw)["what"]
                     for raw in client.lrange(f"notifier:access:archive:{CASE}", 0, -1)]
    assert archive_reads == ["archive", f"archive:letters/{lid}/document.pdf"]
    assert not client.exists(f"notifier:access:case:{CASE}")

    (tmp_path / "archive" / "cases" / CASE / "events.json").write_text("[]")
    assert main(["archive", "show", CASE]) == 2
    assert "events.json: SHA-256 differs" in capsys.readouterr().err
