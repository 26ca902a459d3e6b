"""Issue 17, findings 4, 5 and 7: sessions that end, tokens that can be listed and revoked
without a restart, failed logins logged and limited per address, a request log that says
who and from where, and cross-site form posts refused when Origin is missing."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from notifier.api.auth import Principal, Role, hash_token
from notifier.api.security import Tokens, client_address
from notifier.cli import main
from notifier.clock import SimulatedClock
from tests.unit.test_api_helpers import (
    BASE,
    CASE,
    CASEWORKER,
    CASEWORKER_TOKEN,
    SYSTEM_TOKEN,
    Api,
    make_api,
)

SAME_ORIGIN = {"Origin": BASE}


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    api = make_api(tmp_path, clock)
    api.open_case()
    return api


def login(api: Api, token: str = CASEWORKER_TOKEN, **headers: str) -> Any:
    return api.client.post("/ui/login", data={"token": token, "next": "/ui"},
                           headers={**SAME_ORIGIN, **headers}, follow_redirects=False)


def case_page(api: Api, cookie: str | None = None) -> int:
    if cookie is not None:
        api.client.cookies.set("notifier_ui", cookie, domain="testserver", path="/ui")
    status: int = api.client.get(f"/ui/cases/{CASE}", follow_redirects=False).status_code
    return status


def tokens_of(api: Api) -> Tokens:
    found: Tokens = api.client.app.state.tokens  # type: ignore[attr-defined]
    return found


# --- sessions -----------------------------------------------------------------------------
def test_cookie_is_a_random_session_id_with_the_flags(api: Api) -> None:
    """The cookie holds a random id, not the token; HttpOnly, SameSite=Strict, Secure."""
    response = login(api)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert CASEWORKER_TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    assert case_page(api) == 200


def test_dev_mode_drops_only_the_secure_flag(tmp_path: Path, clean_env: None,
                                             clock: SimulatedClock) -> None:
    """NOTIFIER_DEV_MODE=true (plain http on a laptop): the cookie is not Secure."""
    api = make_api(tmp_path, clock, dev_mode=True)
    cookie = login(api).headers["set-cookie"]
    assert "Secure" not in cookie and "HttpOnly" in cookie


def test_a_token_in_the_cookie_is_not_a_session(api: Api) -> None:
    """The old cookie (the bearer token itself) no longer logs anyone in."""
    assert case_page(api, CASEWORKER_TOKEN) == 303


def test_logout_ends_the_session_server_side(api: Api) -> None:
    """After "Log ud" the same cookie value, replayed, is refused (it used to work)."""
    login(api)
    session_id = api.client.cookies.get("notifier_ui")
    assert session_id and case_page(api) == 200
    api.client.post("/ui/logout", headers=SAME_ORIGIN, follow_redirects=False)
    assert case_page(api, session_id) == 303


def test_idle_session_expires(api: Api) -> None:
    """Unused for longer than NOTIFIER_SESSION_IDLE_MINUTES (30), the session is over."""
    login(api)
    api.clock.advance(timedelta(minutes=29))
    assert case_page(api) == 200
    api.clock.advance(timedelta(minutes=31))
    assert case_page(api) == 303


def test_session_has_an_absolute_lifetime(api: Api) -> None:
    """Used every 20 minutes, a session still ends NOTIFIER_SESSION_MAX_HOURS (10) after
    login."""
    login(api)
    for _ in range(29):  # 9 h 40 min
        api.clock.advance(timedelta(minutes=20))
        assert case_page(api) == 200
    api.clock.advance(timedelta(minutes=30))
    assert case_page(api) == 303


# --- tokens ---------------------------------------------------------------------------------
def test_stored_token_works_expires_and_is_revoked_without_restart(api: Api) -> None:
    """A token kept in Redis admits its holder until its expiry; revoking its name refuses
    it at once, and ends the sessions made with it."""
    tokens = tokens_of(api)
    tokens.add(hash_token("stored-token-1"), Principal(Role.CASEWORKER, "bo"), days=30)
    bearer = {"Authorization": "Bearer stored-token-1"}
    assert api.client.get(f"/cases/{CASE}", headers=bearer).status_code == 200
    login(api, "stored-token-1")
    assert case_page(api) == 200
    assert tokens.revoke("bo") == 1
    assert api.client.get(f"/cases/{CASE}", headers=bearer).status_code == 401
    assert case_page(api) == 303
    tokens.add(hash_token("stored-token-2"), Principal(Role.CASEWORKER, "bo"), days=1)
    api.clock.advance(timedelta(days=1, seconds=1))
    assert api.client.get(f"/cases/{CASE}", headers={
        "Authorization": "Bearer stored-token-2"}).status_code == 401


def test_settings_token_can_be_revoked_without_restart(api: Api) -> None:
    """A NOTIFIER_API_TOKENS entry keeps working (bootstrap) until revoked by name."""
    assert api.client.get(f"/cases/{CASE}", headers=CASEWORKER).status_code == 200
    assert tokens_of(api).revoke("anna") == 1
    assert api.client.get(f"/cases/{CASE}", headers=CASEWORKER).status_code == 401


def test_cli_token_make_list_revoke(tmp_path: Path, clean_env: None,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`notifier token --role R --name N` prints the token and entry as before, and with
    Redis configured also stores it; `token list` shows it (never a token or hash);
    `token revoke N` revokes it; an unknown name exits 2."""
    from notifier import runtime

    server = fakeredis.FakeServer()
    monkeypatch.setattr(runtime, "redis_client",
                        lambda settings: fakeredis.FakeRedis(server=server))
    monkeypatch.setenv("NOTIFIER_REDIS_URL", "redis://localhost:1/0")
    assert main(["token", "--role", "caseworker", "--name", "bo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("token (give it to bo; it is shown only this once): ")
    assert lines[1].startswith("settings entry (add it to NOTIFIER_API_TOKENS")
    assert lines[2].startswith("stored in Redis")
    token = lines[0].rsplit(": ", 1)[1]
    assert main(["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "bo\tcaseworker\tredis" in listing and "valid" in listing
    assert token not in listing and hash_token(token) not in listing
    assert main(["token", "revoke", "bo"]) == 0
    assert "revoked 1 token(s) of bo" in capsys.readouterr().out
    assert main(["token", "revoke", "bo"]) == 2


# --- failed logins, the request log -----------------------------------------------------
def test_wrong_tokens_get_429_after_a_burst(api: Api) -> None:
    """300 wrong tokens met no limit; now after NOTIFIER_LOGIN_BURST (10) failures from one
    address, that address gets 429 with Retry-After, even with a right token."""
    wrong = {"Authorization": "Bearer wrong-token"}
    codes = [api.client.get(f"/cases/{CASE}", headers=wrong).status_code for _ in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    blocked = api.client.get(f"/cases/{CASE}", headers=CASEWORKER)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert login(api).status_code == 429
    assert "For mange forkerte forsøg" in login(api).text


def test_the_limit_is_per_client_behind_a_trusted_proxy(tmp_path: Path, clean_env: None,
                                                        clock: SimulatedClock) -> None:
    """Behind a configured proxy, X-Forwarded-For decides the address: one client's
    failures do not block another's; from an untrusted peer the header is ignored."""
    api = make_api(tmp_path, clock, trusted_proxies="testclient")
    wrong = {"Authorization": "Bearer wrong-token"}
    for _ in range(10):
        api.client.get("/metrics", headers={**wrong, "X-Forwarded-For": "203.0.113.7"})
    assert api.client.get("/metrics", headers={
        **wrong, "X-Forwarded-For": "203.0.113.7"}).status_code == 429
    assert api.client.get("/metrics", headers={
        **CASEWORKER, "X-Forwarded-For": "203.0.113.8"}).status_code == 200
    assert client_address("198.51.100.1", "203.0.113.7", frozenset({"10.0.0.1"})) \
        == "198.51.100.1"
    assert client_address("10.0.0.1", "203.0.113.7, 10.0.0.2", frozenset(
        {"10.0.0.1", "10.0.0.2"})) == "203.0.113.7"


def test_request_log_names_principal_and_client_never_the_token(
        api: Api, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """Each request line has principal (role:name) and client; failed and successful
    logins are logged; no token appears anywhere in the log."""
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        api.client.get(f"/cases/{CASE}", headers=CASEWORKER)
        api.client.get(f"/cases/{CASE}", headers={"Authorization": "Bearer wrong-token"})
        login(api)
        login(api, SYSTEM_TOKEN)
    lines = capsys.readouterr().out.splitlines() + [str(r.msg) for r in caplog.records
                                                     if r.name == "notifier.api"]
    requests = [x for x in lines if "http.request" in x]
    assert any("caseworker:anna" in x and "testclient" in x for x in requests)
    assert any("auth.failed" in x and "testclient" in x for x in lines)
    assert any("auth.login" in x and "caseworker:anna" in x for x in lines)
    assert not any(t in x for x in lines for t in (CASEWORKER_TOKEN, SYSTEM_TOKEN,
                                                    "wrong-token"))


# --- cross-site posts without Origin -----------------------------------------------------
@pytest.mark.parametrize(("headers", "status"), [
    ({"Referer": "https://evil.example/page"}, 403),
    ({"Referer": "https://testserver.evil.example/"}, 403),
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Sec-Fetch-Site": "same-site"}, 403),
    ({"Referer": f"{BASE}/ui"}, 303),
    ({"Sec-Fetch-Site": "same-origin"}, 303),
])
def test_form_posts_without_origin_check_referer_then_fetch_site(
        api: Api, headers: dict[str, str], status: int) -> None:
    """Without Origin, a form post is judged by Referer, else by Sec-Fetch-Site."""
    login(api)
    response = api.client.post("/ui/cases", data={"case_id": CASE}, headers=headers,
                               follow_redirects=False)
    assert response.status_code == status
