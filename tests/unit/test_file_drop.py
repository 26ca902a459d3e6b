"""Issue 13: the file-drop alternative. Each sent letter leaves exactly one pair in
NOTIFIER_FILE_DROP_DIR, its PDF being the one stored for aktindsigt; a replay or retry
writes the same bytes again (no second pair, nothing half-written), and a folder that
fails is retried like an unreachable receiver."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import fakeredis
import pytest

from notifier.clock import SimulatedClock
from notifier.delivery.pdf import sha256
from notifier.models import Recipient, Status
from notifier.records.callbacks import CallbackOutbox
from notifier.runtime import Runtime, build_runtime
from notifier.settings import load_settings
from tests.conftest import CITIZEN_CPR, opening_event
from tests.unit.test_pipeline import deliver_due


@pytest.fixture
def runtime(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Runtime:
    settings = load_settings(outbox_dir=tmp_path / "outbox", file_drop_dir=tmp_path / "esdh")
    return build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())


def drain(runtime: Runtime) -> list[str]:
    """What the dispatcher claims from the outbox and the workers do, in this thread."""
    assert runtime.callbacks is not None
    now = runtime.clock.now()
    ids = CallbackOutbox(runtime.store).claim(now, now + timedelta(minutes=5), 1000)
    return [runtime.callbacks.send(i).result for i in ids]


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_one_pair_per_sent_letter_written_once_even_when_replayed(
        runtime: Runtime, tmp_path: Path) -> None:
    """Sent letters to parties each get <id>.pdf + <id>.json (no callback URL needed);
    the PDF's SHA-256 is the stored one, the JSON names it and holds no CPR number; a
    replay rewrites nothing new and leaves no temporary file behind."""
    drop = tmp_path / "esdh"
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    sent = [x for x in (runtime.store.letter(i) for i in deliver_due(runtime))
            if x and x.status is Status.SENT and x.recipient is not Recipient.CASEWORKER]
    assert sent
    assert set(drain(runtime)) == {"delivered"}
    expected = sorted(f"{x.letter_id}{ext}" for x in sent for ext in (".json", ".pdf"))
    assert files(drop) == expected
    for letter in sent:
        meta = json.loads((drop / f"{letter.letter_id}.json").read_text(encoding="utf-8"))
        pdf = (drop / meta["document"]["file"]).read_bytes()
        stored = runtime.store.document(letter.letter_id)
        assert stored is not None and sha256(pdf) == meta["document"]["sha256"] \
            == stored["pdf_sha256"]
        assert meta["letter_id"] == letter.letter_id and meta["case_id"] == letter.case_id
        assert "pdf" not in meta["document"]
        assert CITIZEN_CPR not in json.dumps(meta)
    before = {name: (drop / name).stat().st_mtime_ns for name in files(drop)}
    outbox = CallbackOutbox(runtime.store)
    assert outbox.replay(outbox.letter_items(sent[0].letter_id), runtime.clock.now()) == 1
    assert drain(runtime) == ["delivered"]
    assert files(drop) == expected, "no second pair, no temporary file left"
    assert {name: (drop / name).stat().st_mtime_ns for name in files(drop)} == before


def test_a_failing_folder_is_retried_then_written(runtime: Runtime, tmp_path: Path) -> None:
    """While the drop folder cannot be written (a file stands where it should be), the
    item is retried with backoff, not lost; once the folder works the pair appears."""
    blocker = tmp_path / "esdh"
    blocker.write_text("not a folder")
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    deliver_due(runtime)
    assert set(drain(runtime)) == {"retry"}
    blocker.unlink()
    runtime.clock.advance(timedelta(minutes=5))
    assert set(drain(runtime)) == {"delivered"}
    assert any(name.endswith(".pdf") for name in files(blocker))
