"""API tokens: parsing the setting, `notifier token`, and 401/403 on every endpoint."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from notifier.api.auth import Principal, Role, hash_token, new_token, parse_tokens
from notifier.cli import main
from notifier.clock import SimulatedClock
from notifier.errors import ConfigError
from notifier.logging import configure_logging
from tests.unit.test_api_helpers import (
    CASE,
    CASEWORKER,
    CASEWORKER_TOKEN,
    SYSTEM,
    SYSTEM_TOKEN,
    Api,
    make_api,
)

LETTER = "00000000-0000-4000-8000-000000000000"
# (method, path, role that may call it)
ENDPOINTS = [
    ("post", "/events", "system"),
    ("post", "/receipts", "system"),
    ("get", f"/cases/{CASE}", "caseworker"),
    ("post", f"/cases/{CASE}/letters", "caseworker"),
    ("post", "/letters/preview", "caseworker"),
    ("get", f"/letters/{LETTER}", "caseworker"),
    ("get", f"/letters/{LETTER}/document", "caseworker"),
    ("post", f"/letters/{LETTER}/cancel", "caseworker"),
]


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    return make_api(tmp_path, clock)


def test_token_round_trip() -> None:
    """A token made by new_token is admitted by the entry printed with it, with its role
    and name; the entry holds only the token's hash."""
    token, entry = new_token(Role.CASEWORKER, "anna.b")
    assert token not in entry and entry == f"caseworker:anna.b:{hash_token(token)}"
    table = parse_tokens(f" {entry} , system:cs:{hash_token('other')}")
    assert table.identify(token) == Principal(Role.CASEWORKER, "anna.b")
    assert table.identify("other") == Principal(Role.SYSTEM, "cs")
    assert table.identify(token + "x") is None


@pytest.mark.parametrize(("setting", "expected"), [
    ("caseworker:anna", "entry 1: must be role:name:sha256hex"),
    (f"admin:anna:{'a' * 64}", "entry 1: role must be one of system, caseworker"),
    (f"caseworker:an na:{'a' * 64}", "entry 1: name must be"),
    (f"system:x:{'a' * 64},caseworker:anna:not-a-hash", "entry 2 (caseworker:anna): the hash"),
    (f"system:x:{'a' * 64},caseworker:x:{'b' * 64}", "entry 2 (caseworker:x): the name is used"),
    (f"system:x:{'a' * 64},caseworker:y:{'a' * 64}", "entry 2 (caseworker:y): the same token"),
])
def test_bad_token_setting_names_the_entry(setting: str, expected: str) -> None:
    """Each malformed entry is a ConfigError naming NOTIFIER_API_TOKENS and the entry."""
    with pytest.raises(ConfigError) as error:
        parse_tokens(setting)
    assert "NOTIFIER_API_TOKENS" in str(error.value) and expected in str(error.value)


def test_pasted_raw_token_is_not_echoed() -> None:
    """A raw token pasted where the hash belongs is refused without repeating it."""
    secret = "s3cr3t-token-value-that-must-not-be-printed"
    with pytest.raises(ConfigError) as error:
        parse_tokens(f"caseworker:anna:{secret}")
    assert secret not in str(error.value)


def test_bad_token_setting_stops_the_api_command(tmp_path: Path, clean_env: None,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`notifier api` with a malformed token setting exits 3 before listening."""
    monkeypatch.setenv("NOTIFIER_API_TOKENS", "caseworker:anna:xyz")
    monkeypatch.setenv("NOTIFIER_OUTBOX_DIR", str(tmp_path))
    assert main(["api", "--port", "0"]) == 3
    assert "NOTIFIER_API_TOKENS: entry 1 (caseworker:anna)" in capsys.readouterr().err


def test_token_command_prints_a_working_entry(clean_env: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`notifier token` prints a token and the settings entry that admits it."""
    assert main(["token", "--role", "system", "--name", "case-system"]) == 0
    lines = capsys.readouterr().out.splitlines()
    token = lines[0].rsplit(" ", 1)[1]
    entry = lines[1].rsplit(" ", 1)[1]
    assert parse_tokens(entry).identify(token) == Principal(Role.SYSTEM, "case-system")


def test_token_command_refuses_a_bad_name(clean_env: None,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A name that could not be parsed back from the setting is refused (exit 3)."""
    assert main(["token", "--role", "system", "--name", "a:b"]) == 3
    assert "--name" in capsys.readouterr().err


@pytest.mark.parametrize(("method", "path", "role"), ENDPOINTS)
def test_missing_or_unknown_token_is_401(api: Api, method: str, path: str, role: str) -> None:
    """Every endpoint but /healthz needs a bearer token: none, another scheme or an
    unknown one is 401 with a WWW-Authenticate challenge and a message saying why."""
    call = getattr(api.client, method)
    for headers, words in [({}, "missing bearer token"),
                           ({"Authorization": f"Basic {SYSTEM_TOKEN}"}, "missing bearer token"),
                           ({"Authorization": "Bearer nope"}, "unknown or revoked token")]:
        response = call(path, headers=headers)
        assert response.status_code == 401, (path, headers)
        assert response.headers["www-authenticate"] == "Bearer"
        assert words in response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "role"), ENDPOINTS)
def test_wrong_role_is_403(api: Api, method: str, path: str, role: str) -> None:
    """A valid token of the other role is 403, naming the role needed and the token's
    name (never the token)."""
    headers = CASEWORKER if role == "system" else SYSTEM
    response = getattr(api.client, method)(path, headers=headers)
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert f"this needs a {role} token" in detail
    assert SYSTEM_TOKEN not in detail and CASEWORKER_TOKEN not in detail


def test_health_needs_no_token_and_metrics_takes_either_role(api: Api) -> None:
    """/healthz is open (for load balancers); /metrics takes a token of either role."""
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/metrics").status_code == 401
    assert api.client.get("/metrics", headers=SYSTEM).status_code == 200
    assert api.client.get("/metrics", headers=CASEWORKER).status_code == 200


def test_tokens_and_cpr_never_reach_the_logs(api: Api, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    """Requests with tokens and an event carrying a CPR number leave neither in the log."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    configure_logging("info", "json")
    try:
        api.open_case()
        api.client.get(f"/cases/{CASE}", headers=CASEWORKER)
        api.client.get("/metrics", headers={"Authorization": "Bearer wrong-token-123"})
        logged = capsys.readouterr().err
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
    assert "http.request" in logged  # the access log is on, so its silence means something
    for secret in (SYSTEM_TOKEN, CASEWORKER_TOKEN, "wrong-token-123", "0706851234"):
        assert secret not in logged
