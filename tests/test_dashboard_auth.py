"""Sessions that end, sign-in CSRF, throttling, length limits and security headers (dashboards/auth.py)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from dashboards import auth, create_app
from dashboards.settings import DashboardSettings
from tests.support.fake_provider import FakeProvider

ACCOUNTS = {"ana": ("analyst-password", "analyst"), "vic": ("viewer-password", "viewer")}


@pytest.fixture
def fake():
    return FakeProvider(n_cells=25, seed=1, accounts=ACCOUNTS)


@pytest.fixture
def app(fake, tmp_path):
    from forecasting.config import load_settings

    return create_app(load_settings(data_dir=str(tmp_path / "var")), fake)


def _token(client):
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)


def _sign_in(client, name, password, **headers):
    data = {"username": name, "password": password, "csrf": _token(client), "next": "/"}
    return client.post("/login", data=data, headers=headers)


def _cookie(client):
    return client.get_cookie("crimecast_session").value


def _with_cookie(app, value):
    c = app.server.test_client()
    c.set_cookie("crimecast_session", value)
    return c


def _sign_out(client):
    page = client.get("/logout")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/logout", data={"csrf": token})


# ------------------------------------------------------------------ sessions end
def test_a_cookie_copied_before_sign_out_is_refused_after_it(app, fake):
    c = app.server.test_client()
    _sign_in(c, "ana", "analyst-password")
    copied = _cookie(c)
    assert _with_cookie(app, copied).get("/_dash-layout").status_code == 200
    assert _sign_out(c).status_code == 302
    assert _with_cookie(app, copied).get("/_dash-layout").status_code == 401
    assert _with_cookie(app, copied).get("/").status_code == 302
    assert fake.audit_log[-1]["action"] == "sign_out"


def test_sign_out_is_a_post_with_the_session_token(app):
    c = app.server.test_client()
    _sign_in(c, "ana", "analyst-password")
    assert c.get("/logout").status_code == 200  # a confirmation form, not a sign-out
    assert c.get("/_dash-layout").status_code == 200
    assert c.post("/logout", data={"csrf": "forged"}).status_code == 400
    assert c.post("/logout", data={}).status_code == 400
    assert c.get("/_dash-layout").status_code == 200


def test_disable_then_enable_does_not_revive_an_old_cookie(app, fake):
    c = app.server.test_client()
    _sign_in(c, "vic", "viewer-password")
    copied = _cookie(c)
    fake.disable("vic")
    fake.disable("vic", False)
    assert _with_cookie(app, copied).get("/_dash-layout").status_code == 401


def test_absolute_lifetime_and_idle_timeout(fake, tmp_path, monkeypatch):
    from forecasting.config import load_settings

    ds = DashboardSettings(session_hours=1, session_idle_minutes=10)
    app = create_app(load_settings(data_dir=str(tmp_path)), fake, dash_settings=ds)
    clock = [1_000_000.0]
    monkeypatch.setattr(auth.time, "time", lambda: clock[0])
    c = app.server.test_client()
    _sign_in(c, "ana", "analyst-password")
    for _ in range(6):  # active every 9 minutes: the idle clock moves, the absolute one does not
        clock[0] += 9 * 60
        assert c.get("/_dash-layout").status_code == 200
    clock[0] += 9 * 60  # 63 minutes after sign-in
    assert c.get("/_dash-layout").status_code == 401
    _sign_in(c, "ana", "analyst-password")
    clock[0] += 11 * 60  # idle for longer than the timeout
    assert c.get("/_dash-layout").status_code == 401


def test_session_cookie_is_not_reissued_on_every_request(app):
    c = app.server.test_client()
    _sign_in(c, "ana", "analyst-password")
    r = c.get("/_dash-layout")
    assert r.status_code == 200 and "Set-Cookie" not in r.headers


@pytest.mark.parametrize("change", ["passwd", "disable-enable", "role"])
def test_store_accounts_end_sessions_on_cli_changes(settings, sqlite_url, change):
    from forecasting.cli import app as cli
    from forecasting.store.governance import create_user, set_role
    from forecasting.store.session import make_engine, make_session_factory, transaction

    factory = make_session_factory(make_engine(sqlite_url))
    with transaction(factory) as s:
        create_user(session=s, username="ana", password="analyst-password", role="analyst")
    web = create_app(settings)
    c = web.server.test_client()
    assert _sign_in(c, "ana", "analyst-password").status_code == 302
    copied = _cookie(c)
    assert _with_cookie(web, copied).get("/_dash-layout").status_code == 200
    env = {"CRIMECAST_DATA_DIR": str(settings.data_dir)}
    run = CliRunner().invoke
    if change == "passwd":
        result = run(cli, ["users", "passwd", "ana", "--password-stdin"], input="another-password\n", env=env)
        assert result.exit_code == 0
    elif change == "disable-enable":
        assert run(cli, ["users", "disable", "ana"], env=env).exit_code == 0
        assert run(cli, ["users", "enable", "ana"], env=env).exit_code == 0
    else:
        with transaction(factory) as s:
            set_role(session=s, username="ana", role="viewer")
    assert _with_cookie(web, copied).get("/_dash-layout").status_code == 401
    assert _with_cookie(web, copied).get("/").status_code == 302


def test_store_sign_out_ends_every_copy(settings, sqlite_url):
    from forecasting.store.governance import create_user
    from forecasting.store.session import make_engine, make_session_factory, transaction

    factory = make_session_factory(make_engine(sqlite_url))
    with transaction(factory) as s:
        create_user(session=s, username="ana", password="analyst-password", role="analyst")
    web = create_app(settings)
    c = web.server.test_client()
    _sign_in(c, "ana", "analyst-password")
    copied = _cookie(c)
    assert _sign_out(c).status_code == 302
    assert _with_cookie(web, copied).get("/_dash-layout").status_code == 401


# ------------------------------------------------------------------ sign-in CSRF
def test_sign_in_without_cookie_and_empty_token_fails(app):
    c = app.server.test_client()
    for data in ({"username": "ana", "password": "analyst-password", "csrf": ""},
                 {"username": "ana", "password": "analyst-password"}):
        r = c.post("/login", data=data)
        assert r.status_code == 401 and c.get("/_dash-layout").status_code == 401


def test_sign_in_from_a_foreign_origin_fails(app):
    c = app.server.test_client()
    r = _sign_in(c, "ana", "analyst-password", Origin="https://evil.example")
    assert r.status_code == 401 and c.get("/_dash-layout").status_code == 401
    r = _sign_in(c, "ana", "analyst-password", Origin="http://localhost")
    assert r.status_code == 302


def test_token_of_another_cookie_does_not_sign_in(app):
    attacker, victim = app.server.test_client(), app.server.test_client()
    token = _token(attacker)
    victim.get("/login")
    r = victim.post("/login", data={"username": "ana", "password": "analyst-password", "csrf": token})
    assert r.status_code == 401


# ------------------------------------------------------------------ throttling
def test_failures_delay_progressively_and_the_real_user_gets_in(app, monkeypatch):
    clock = [5_000.0]
    monkeypatch.setattr(auth.time, "time", lambda: clock[0])
    c = app.server.test_client()
    for _ in range(auth.FREE_FAILURES):
        assert _sign_in(c, "ana", "wrong-password").status_code == 401
    r = _sign_in(c, "ana", "analyst-password")
    assert r.status_code == 429 and "try again in 1 seconds" in r.text
    clock[0] += 1.5
    assert _sign_in(c, "ana", "wrong-password").status_code == 401
    assert _sign_in(c, "ana", "analyst-password").status_code == 429  # now 2 s
    clock[0] += auth.ACCOUNT_DELAY_CAP + 1  # never longer than the cap: no lock-out of the owner
    assert _sign_in(c, "ana", "analyst-password").status_code == 302


def test_spraying_names_from_one_address_is_slowed(app, monkeypatch):
    monkeypatch.setattr(auth.time, "time", lambda: 9_000.0)
    c = app.server.test_client()
    for i in range(auth.FREE_FAILURES):
        assert _sign_in(c, f"user{i}", "guess-password").status_code == 401
    assert _sign_in(c, "someone-else", "guess-password").status_code == 429
    other = app.server.test_client()  # another address is unaffected
    r = other.post("/login", data={"username": "vic", "password": "viewer-password", "csrf": _token(other)},
                   environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert r.status_code == 302


def test_throttle_memory_is_bounded():
    t = auth._Throttle(cap=10, max_keys=100)
    for i in range(10_000):
        t.fail(f"name{i}", 1.0)
    assert len(t.failures) == 100


def test_trusted_proxy_setting_reads_the_forwarded_address(fake, tmp_path, monkeypatch):
    from forecasting.config import load_settings

    monkeypatch.setattr(auth.time, "time", lambda: 7_000.0)
    app = create_app(load_settings(data_dir=str(tmp_path)), fake, dash_settings=DashboardSettings(trusted_proxies=1))
    c = app.server.test_client()
    for _ in range(auth.FREE_FAILURES):
        _sign_in(c, "nobody", "x" * 12, **{"X-Forwarded-For": "203.0.113.7"})
    assert fake.audit_log[-1]["details"]["address"] == "203.0.113.7"
    # the proxy itself (127.0.0.1) forwarding another client is not slowed by 203.0.113.7's failures
    assert _sign_in(c, "vic", "viewer-password", **{"X-Forwarded-For": "198.51.100.4"}).status_code == 302


def test_without_trusted_proxy_forwarded_for_is_ignored(app, fake):
    c = app.server.test_client()
    _sign_in(c, "nobody", "x" * 12, **{"X-Forwarded-For": "203.0.113.7"})
    assert fake.audit_log[-1]["details"]["address"] == "127.0.0.1"


# ------------------------------------------------------------------ length limits
def test_a_huge_name_is_refused_and_stored_cut(app, fake):
    c = app.server.test_client()
    assert _sign_in(c, "n" * 600_000, "whatever-password").status_code == 413  # refused unread
    assert _sign_in(c, "n" * 5_000, "whatever-password").status_code == 401
    assert fake.audit_log[-1]["action"] == "sign_in_failed" and len(fake.audit_log[-1]["username"]) == 64


def test_audit_rows_are_cut(factory):
    from forecasting.store.governance import AUDIT_TEXT_LIMIT, audit_frame, record_audit
    from forecasting.store.session import transaction

    with transaction(factory) as s:
        record_audit(session=s, username="u" * 10_000, action="sign_in_failed", target="t" * 10_000,
                     details={"address": "a" * 10_000, "n": 3})
    with transaction(factory) as s:
        row = audit_frame(session=s).iloc[0]
    assert len(row["username"]) == 64 and len(row["target"]) == AUDIT_TEXT_LIMIT
    assert len(row["details"]["address"]) == AUDIT_TEXT_LIMIT and row["details"]["n"] == 3


# ------------------------------------------------------------------ routes and headers
@pytest.mark.parametrize("path", ["/loginx", "/healthzfoo", "/login/../", "/logoutx", "/assetsx"])
def test_near_public_paths_need_a_session(app, path):
    r = app.server.test_client().get(path)
    assert r.status_code in (302, 401, 404) and b"_dash-config" not in r.data


def test_security_headers(app):
    r = app.server.test_client().get("/login")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert "camera=()" in r.headers["Permissions-Policy"]


def test_bad_static_paths_are_a_quiet_404(app, caplog):
    c = app.server.test_client()
    for path in ("/_dash-component-suites/dash/deps/x.min.js", "/_dash-component-suites/nope/x.js"):
        assert c.get(path).status_code == 404
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]


def test_background_tasks_are_capped_per_user(fake, tmp_path):
    from flask import g

    from dashboards.pages import models
    from forecasting.config import load_settings

    app = create_app(load_settings(data_dir=str(tmp_path)), fake,
                     dash_settings=DashboardSettings(max_tasks_per_user=2))
    ctx = app.crimecast_context
    out = []
    for _ in range(3):
        with app.server.test_request_context("/_dash-update-component", method="POST"):
            g.account = fake.get_account("ana")
            out.append(str(models.start_task(ctx, "train", {"period": "week"}).children))
    assert [o.startswith("Started") for o in out] == [True, True, False]
    assert "at most 2 at once" in out[2] and len(fake.started) == 2
    fake._tasks[0]["status"] = "succeeded"  # one finished: room for another
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        g.account = fake.get_account("ana")
        assert str(models.start_task(ctx, "train", {"period": "week"}).children).startswith("Started")
