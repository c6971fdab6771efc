"""The dashboard's sign-in on SQLite and PostgreSQL: the cookie is a server-side session, never
the key; logout and key revocation end it; every HTML page carries the security headers."""

from __future__ import annotations

from sqlmodel import Session, select

from orchestrator.api.deps import COOKIE_NAME
from orchestrator.api.keys import revoke_api_key
from orchestrator.db.models import BrowserSession
from tests.factories.stored_campaign import build_campaign
from tests.integration.api.api_client import Api


def _login(api: Api, who: str) -> str:
    api.client.cookies.clear()
    r = api.client.post("/v1/login", data={"key": api.keys[who]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    token = r.cookies[COOKIE_NAME]
    assert token and api.keys[who] not in r.headers["set-cookie"]
    return str(token)


def _with_cookie(api: Api, method: str, url: str, value: str, **kw: object):  # type: ignore[no-untyped-def]
    api.client.cookies.clear()
    api.client.cookies.set(COOKIE_NAME, value)
    try:
        return api.client.request(method, url, **kw)  # type: ignore[arg-type]
    finally:
        api.client.cookies.clear()


def test_the_cookie_is_a_session_that_logout_ends(api: Api) -> None:
    sc = build_campaign(api.engine, api.data_dir, requester="alice", n_items=30, seed=3)
    url = f"/v1/campaigns/{sc.campaign_id}/status"
    token = _login(api, "alice")
    with Session(api.engine) as s:
        stored = [row.token_hash for row in s.exec(select(BrowserSession)).all()]
    assert len(stored) == 1 and token not in stored  # only a digest is kept
    assert _with_cookie(api, "GET", url, token).status_code == 200
    # the raw key in the cookie is no credential any more
    r = _with_cookie(api, "GET", url, api.keys["alice"])
    assert r.status_code == 401
    r = _with_cookie(api, "POST", "/v1/logout", token, follow_redirects=False)
    assert r.status_code == 303
    # a copy of the cookie kept after logout no longer works
    r = _with_cookie(api, "GET", url, token)
    assert r.status_code == 401 and "session has ended" in r.json()["detail"]


def test_revoking_the_key_ends_its_sessions(api: Api) -> None:
    sc = build_campaign(api.engine, api.data_dir, requester="bob", n_items=30, seed=4)
    url = f"/v1/campaigns/{sc.campaign_id}/status"
    token = _login(api, "bob")
    assert _with_cookie(api, "GET", url, token).status_code == 200
    revoke_api_key(api.engine, api.keys["bob"])
    assert _with_cookie(api, "GET", url, token).status_code == 401


def test_html_pages_carry_security_headers(api: Api) -> None:
    sc = build_campaign(api.engine, api.data_dir, requester="alice", n_items=30, seed=5)
    pages = [
        api.client.get("/v1/login"),
        api.get("alice", f"/v1/campaigns/{sc.campaign_id}/dashboard"),
        api.client.get("/v1/docs"),
    ]
    for r in pages:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
    assert "script-src" not in pages[0].headers["content-security-policy"]  # no scripts at all
    assert api.get("alice", "/v1/campaigns").headers["x-content-type-options"] == "nosniff"
