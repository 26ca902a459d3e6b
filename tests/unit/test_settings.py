"""Settings: NOTIFIER_* variables, defaults, misspelt or invalid values → ConfigError."""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from notifier.errors import ConfigError
from notifier.settings import load_settings, unknown_variables


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every NOTIFIER_* variable (any case) so the host environment cannot leak in."""
    for name in list(os.environ):
        if name.upper().startswith("NOTIFIER_"):
            monkeypatch.delenv(name)


def config_error(**overrides: object) -> str:
    """The message of the ConfigError load_settings must raise."""
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    return str(info.value)


def test_defaults_load() -> None:
    """With no NOTIFIER_* variables the documented defaults load."""
    s = load_settings()
    assert s.redis_url is None
    assert s.embedded is True
    assert s.timezone == "Europe/Copenhagen"
    assert s.zone == ZoneInfo("Europe/Copenhagen")
    assert (s.send_window_start, s.send_window_end) == (time(8, 0), time(17, 0))
    assert s.sender_cvr == "29189366"
    assert s.claim_batch == 500
    assert s.outbox_dir == Path("outbox")
    assert (s.rules_dir / "sygedagpenge.toml").is_file()
    assert s.log_level == "info"


def test_environment_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIFIER_* variables set the matching settings, converted to their types."""
    monkeypatch.setenv("NOTIFIER_REDIS_URL", "redis://localhost:6379/0")
    monkeypatch.setenv("NOTIFIER_CLAIM_BATCH", "50")
    monkeypatch.setenv("NOTIFIER_SEND_WINDOW_START", "09:00")
    monkeypatch.setenv("NOTIFIER_TIMEZONE", "Europe/Berlin")
    s = load_settings()
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.embedded is False
    assert s.claim_batch == 50
    assert s.send_window_start == time(9, 0)
    assert s.zone == ZoneInfo("Europe/Berlin")


def test_misspelt_variable_is_refused_with_suggestion(monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIFIER_REDIS_ULR is an error naming the variable and suggesting NOTIFIER_REDIS_URL."""
    monkeypatch.setenv("NOTIFIER_REDIS_ULR", "redis://localhost:6379/0")
    message = config_error()
    assert "NOTIFIER_REDIS_ULR" in message
    assert "did you mean NOTIFIER_REDIS_URL?" in message


def test_unknown_variable_without_close_match(monkeypatch: pytest.MonkeyPatch) -> None:
    """A NOTIFIER_* variable like nothing known is still an error naming it."""
    monkeypatch.setenv("NOTIFIER_XYZZY", "1")
    assert "NOTIFIER_XYZZY: unknown setting" in config_error()


def test_unknown_variables_ignores_other_prefixes() -> None:
    """Only NOTIFIER_* names are checked; known ones pass; results are sorted."""
    env = {
        "PATH": "/bin",
        "REDIS_ULR": "x",
        "NOTIFIER_REDIS_URL": "redis://x",
        "NOTIFIER_ZZZ": "1",
        "NOTIFIER_CLAIM_BACH": "1",
    }
    messages = unknown_variables(env)
    assert len(messages) == 2
    assert messages[0].startswith("NOTIFIER_CLAIM_BACH: unknown setting")
    assert "NOTIFIER_CLAIM_BATCH" in messages[0]
    assert messages[1].startswith("NOTIFIER_ZZZ: unknown setting")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NOTIFIER_CLAIM_BATCH", "abc"),
        ("NOTIFIER_CLAIM_BATCH", "0"),
        ("NOTIFIER_CLAIM_BATCH", "10001"),
        ("NOTIFIER_TIMEZONE", "Mars/Base"),
        ("NOTIFIER_TIMEZONE", ""),
        ("NOTIFIER_SENDER_CVR", "12345678"),
        ("NOTIFIER_SENDER_CVR", "2918936"),
        ("NOTIFIER_DISPATCH_INTERVAL", "0"),
        ("NOTIFIER_LOG_LEVEL", "verbose"),
        ("NOTIFIER_SEND_WINDOW_START", "eight"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """An invalid value raises ConfigError (not ValidationError) naming the variable."""
    monkeypatch.setenv(variable, value)
    message = config_error()
    assert f"{variable}: " in message


def test_bad_timezone_message_names_the_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIFIER_TIMEZONE=Mars/Base says the zone is unknown."""
    monkeypatch.setenv("NOTIFIER_TIMEZONE", "Mars/Base")
    assert "unknown time zone 'Mars/Base'" in config_error()


def test_bad_sender_cvr_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIFIER_SENDER_CVR=12345678 fails the modulus-11 check."""
    monkeypatch.setenv("NOTIFIER_SENDER_CVR", "12345678")
    message = config_error()
    assert "NOTIFIER_SENDER_CVR" in message
    assert "modulus-11" in message


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a misspelt variable and an invalid value, one ConfigError names both
    (load_settings' contract: 'raise ConfigError naming every bad variable')."""
    monkeypatch.setenv("NOTIFIER_REDIS_ULR", "redis://localhost:6379/0")
    monkeypatch.setenv("NOTIFIER_CLAIM_BATCH", "abc")
    message = config_error()
    assert "NOTIFIER_REDIS_ULR" in message
    assert "NOTIFIER_CLAIM_BATCH" in message


def test_inverted_send_window_is_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A send window that starts after it ends is refused at start-up as a ConfigError,
    not later as a bare ValueError from DanishCalendar."""
    monkeypatch.setenv("NOTIFIER_SEND_WINDOW_START", "18:00")
    message = config_error()
    assert "NOTIFIER_SEND_WINDOW" in message


def test_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Command-line overrides beat NOTIFIER_* variables."""
    monkeypatch.setenv("NOTIFIER_CLAIM_BATCH", "10")
    monkeypatch.setenv("NOTIFIER_REDIS_URL", "redis://env:6379/0")
    s = load_settings(claim_batch=20, redis_url="redis://cli:6379/0")
    assert s.claim_batch == 20
    assert s.redis_url == "redis://cli:6379/0"


def test_invalid_override_is_config_error() -> None:
    """An invalid override is a ConfigError too."""
    assert "NOTIFIER_CLAIM_BATCH" in config_error(claim_batch=0)


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after loading."""
    s = load_settings()
    with pytest.raises(ValidationError):
        s.claim_batch = 1  # type: ignore[misc]
