"""Sign-in, sessions and roles, enforced on every request of the Flask server under Dash.

Every route except the sign-in page and static assets needs a session: pages redirect to
``/login``; Dash's JSON endpoints (``/_dash-layout``, ``/_dash-dependencies``,
``/_dash-update-component``) and other non-page requests answer 401. The account is re-read on
every request, so a disabled account or a changed role takes effect at once. Privileged callbacks
re-check the role server-side with :func:`require_role`.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import timedelta
from html import escape
from urllib.parse import quote, urlparse

from flask import Flask, g, jsonify, redirect, request, session

from forecasting.errors import ForecastingError
from forecasting.store.governance import role_at_least

#: Paths served without a session: the sign-in page and static assets (JavaScript bundles, CSS).
PUBLIC_PREFIXES = ("/login", "/_dash-component-suites/", "/assets/", "/_favicon.ico", "/healthz")
#: Pages (HTML) redirect to sign-in; everything else answers 401.
_JSON_PREFIXES = ("/_dash-", "/_reload-hash")
MAX_FAILURES = 5
LOCKOUT_SECONDS = 60.0


class PermissionDenied(ForecastingError):
    """The signed-in account's role does not allow this action."""


def current_user():
    """The signed-in :class:`~dashboards.contracts.Account` of this request, or None."""
    return getattr(g, "account", None)


def require_role(role: str):
    """The signed-in account if its role is at least ``role``, else raise :class:`PermissionDenied`.

    Call inside every privileged callback: hiding a button is not access control.
    """
    account = current_user()
    if account is None:
        raise PermissionDenied("sign in first")
    if not role_at_least(account.role, role):
        raise PermissionDenied(f"this action needs the {role} role; {account.username} is a {account.role}")
    return account


def _is_public(path: str) -> bool:
    return any(path == p or path.startswith(p) for p in PUBLIC_PREFIXES)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after sign-in (no open redirect)."""
    if not target:
        return "/"
    u = urlparse(target)
    if u.scheme or u.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class _Throttle:
    """Counts failed sign-ins per (name, address); locks that pair out for a while after too many."""

    def __init__(self) -> None:
        self.failures: dict[tuple[str, str], list[float]] = {}
        self.lock = threading.Lock()

    def locked(self, key) -> bool:
        with self.lock:
            recent = [t for t in self.failures.get(key, []) if time.monotonic() - t < LOCKOUT_SECONDS]
            self.failures[key] = recent
            return len(recent) >= MAX_FAILURES

    def fail(self, key) -> None:
        with self.lock:
            self.failures.setdefault(key, []).append(time.monotonic())

    def clear(self, key) -> None:
        with self.lock:
            self.failures.pop(key, None)


def install(server: Flask, *, provider, recorder, secret_key: str, cookie_secure: bool = False,
            session_hours: float = 12.0, title: str = "crimecast") -> None:
    """Add the sign-in routes and the session guard to ``server``.

    Parameters
    ----------
    server : flask.Flask
        The Dash app's server.
    provider : DashboardProvider
        Reads accounts (:meth:`~dashboards.contracts.DashboardProvider.get_account`).
    recorder : Recorder
        Checks passwords and writes sign-in events to the audit table.
    secret_key : str
        Signs the session cookie.
    cookie_secure : bool
        Send the cookie over HTTPS only.
    session_hours : float
        Lifetime of a sign-in.
    """
    if not secret_key or len(secret_key) < 16:
        raise ForecastingError("secret_key must be at least 16 characters; set CRIMECAST_SECRET_KEY")
    server.secret_key = secret_key
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_SECURE=bool(cookie_secure), SESSION_COOKIE_NAME="crimecast_session",
                         PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours))
    throttle = _Throttle()

    @server.before_request
    def _guard():
        path = request.path
        if _is_public(path):
            return None
        name = session.get("user")
        account = provider.get_account(name) if name else None
        if account is None or account.disabled:
            if name:  # a revoked account: end its session (but keep an anonymous sign-in form's token)
                session.clear()
            if request.method == "GET" and not path.startswith(_JSON_PREFIXES):
                return redirect("/login?next=" + quote(request.full_path.rstrip("?"), safe="/?=&"))
            return jsonify(error="sign in first"), 401
        g.account = account
        return None

    @server.after_request
    def _headers(resp):
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    @server.route("/healthz")
    def _health():
        return "ok"

    @server.route("/login", methods=["GET", "POST"])
    def _login():
        error = ""
        nxt = _safe_next(request.values.get("next"))
        if request.method == "POST":
            username = (request.form.get("username") or "").strip()
            password = request.form.get("password") or ""
            key = (username, request.remote_addr or "")
            if not secrets.compare_digest(request.form.get("csrf", ""), session.get("csrf", "")):
                error = "The form expired; please try again."
            elif throttle.locked(key):
                error = f"Too many failed attempts; wait {LOCKOUT_SECONDS:.0f} seconds."
            else:
                account = recorder.authenticate(username, password)
                if account is None:
                    throttle.fail(key)
                    recorder.audit(username or None, "sign_in_failed", target=None,
                                   details={"address": request.remote_addr})
                    error = "Unknown name or wrong password (or the account is disabled)."
                else:
                    throttle.clear(key)
                    session.clear()
                    session.permanent = True
                    session["user"] = account.username
                    recorder.audit(account.username, "sign_in", details={"address": request.remote_addr})
                    return redirect(nxt)
        token = session.get("csrf") or secrets.token_urlsafe(24)
        session["csrf"] = token
        status = 401 if error else 200
        return _LOGIN_HTML.format(title=escape(title), error=escape(error), next=escape(nxt), csrf=token), status

    @server.route("/logout")
    def _logout():
        name = session.get("user")
        session.clear()
        if name:
            recorder.audit(name, "sign_out")
        return redirect("/login")


_LOGIN_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - {title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; background: #f3f4f6; margin: 0; }}
form {{ max-width: 340px; margin: 12vh auto; background: white; padding: 28px; border-radius: 8px;
       box-shadow: 0 1px 4px rgba(0,0,0,.15); }}
h1 {{ font-size: 20px; margin: 0 0 16px; }} label {{ display: block; margin: 12px 0 4px; font-size: 14px; }}
input {{ width: 100%; padding: 8px; box-sizing: border-box; font-size: 15px; }}
button {{ margin-top: 18px; width: 100%; padding: 10px; background: #1f4e9c; color: white; border: 0;
         border-radius: 4px; font-size: 15px; cursor: pointer; }}
.error {{ color: #b00020; font-size: 14px; min-height: 1em; }}
</style></head>
<body><form method="post" action="/login" id="login-form">
<h1>{title}</h1><p class="error" id="login-error">{error}</p>
<label for="username">Name</label><input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{next}"><input type="hidden" name="csrf" value="{csrf}">
<button type="submit" id="login-submit">Sign in</button></form></body></html>
"""
