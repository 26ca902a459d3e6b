"""The `notifier render` and `letters check` commands."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from notifier.cli import main, stop_worker
from notifier.planning.catalog import load_catalog
from notifier.settings import PACKAGE_DIR
from tests.support.schemas import memo_schema

KINDS = sorted(load_catalog(PACKAGE_DIR / "letters" / "da").kinds)


@pytest.mark.parametrize("version", ["1.2", "1.1"])
@pytest.mark.parametrize("kind", KINDS)
def test_render_memo_of_every_kind_validates(kind: str, version: str, tmp_path: Path,
                                             clean_env: None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`notifier render KIND --format memo` writes MeMo valid against the official schema
    of NOTIFIER_MEMO_VERSION (1.2 by default, 1.1 selectable) for every kind."""
    schema = memo_schema(version)
    if version != "1.2":
        monkeypatch.setenv("NOTIFIER_MEMO_VERSION", version)
    out = tmp_path / f"{kind}.xml"
    assert main(["render", kind, "--format", "memo", "-o", str(out)]) == 0
    assert f'memoVersion="{version}"'.encode() in out.read_bytes()
    schema.validate(str(out))


def test_render_unknown_kind_exits_2(clean_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown kind is an input error naming the field, with exit code 2."""
    assert main(["render", "nonsense"]) == 2
    assert "kind: unknown letter kind" in capsys.readouterr().err


def test_letters_check_passes_on_shipped_templates(clean_env: None,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Every shipped template renders its catalog sample under StrictUndefined."""
    assert main(["letters", "check"]) == 0
    assert "ok" in capsys.readouterr().err


def test_letters_check_names_template_and_variable(tmp_path: Path, clean_env: None,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A template using an undefined variable fails the check, naming both."""
    letters = tmp_path / "letters"
    letters.mkdir()
    for source in (PACKAGE_DIR / "letters" / "da").iterdir():
        text = source.read_text(encoding="utf-8")
        if source.name == "adhoc.html":
            text = text.replace("{% endblock %}", "{{ nonexistent_variable }}{% endblock %}", 1)
        (letters / source.name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("NOTIFIER_LETTERS_DIR", str(letters))
    assert main(["letters", "check"]) == 1
    err = capsys.readouterr().err
    assert "adhoc.html" in err and "nonexistent_variable" in err


class _Worker:
    """A Dramatiq worker's stop(): returns after ``takes`` seconds (or when released),
    leaving ``workers`` (its threads) as they are."""

    def __init__(self, takes: float, workers: list[threading.Thread] | None = None) -> None:
        self.takes = takes
        self.workers = workers or []
        self.timeouts: list[int] = []
        self.released = threading.Event()

    def stop(self, timeout: int) -> None:
        self.timeouts.append(timeout)
        self.released.wait(self.takes)


def test_a_worker_that_stops_in_time_is_stopped() -> None:
    """Given a worker whose stop returns at once, stop_worker says it stopped; Dramatiq is
    given three quarters of the bound (in ms), so its requeue of prefetched messages, which
    comes after its two waits, fits inside the bound."""
    worker = _Worker(takes=0)
    assert stop_worker(worker, 2.0) is True
    assert worker.timeouts == [1500]


def test_a_worker_that_cannot_stop_is_left_after_its_seconds() -> None:
    """Given a worker whose stop would block for ever (Dramatiq retrying an acknowledgement
    that cannot reach Redis), stop_worker returns False after its seconds instead of
    waiting: the process can exit and its supervisor sees a clean stop."""
    worker = _Worker(takes=3600)
    try:
        assert stop_worker(worker, 0.2) is False
    finally:
        worker.released.set()


def test_a_stop_that_returns_with_a_thread_still_busy_is_not_a_stop() -> None:
    """Given Dramatiq's stop returning in time while one of its worker threads is still
    busy (its own wait timed out), then stop_worker does not call that stopped: the
    letter in that thread's hand is still in hand."""
    busy = threading.Event()
    thread = threading.Thread(target=busy.wait, daemon=True)
    thread.start()
    try:
        assert stop_worker(_Worker(takes=0, workers=[thread]), 0.2) is False
    finally:
        busy.set()
