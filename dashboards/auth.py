"""Sign-in, sessions and roles, enforced on every request of the Flask server under Dash.

Every route except the sign-in page, ``/healthz`` and static assets needs a session: pages
redirect to ``/login``; Dash's JSON endpoints (``/_dash-layout``, ``/_dash-dependencies``,
``/_dash-update-component``) and other non-page requests answer 401. Public routes match exactly
(``/loginx`` is not ``/login``).

A session is valid while (1) its account exists and is enabled, (2) the account's *session
generation* equals the one the cookie was issued under (sign-out, a password change, disabling
and a role change bump it, so every copy of an older cookie stops working), (3) it is younger
than the absolute lifetime (``session_hours``; never extended) and (4) it has seen a request
within the idle timeout (``session_idle_minutes``). The account is re-read on every request.
Privileged callbacks re-check the role server-side with :func:`require_role`.

Sign-in and sign-out are POSTs carrying a token bound to the (pre-)session cookie, with the
``Origin`` checked. Failed sign-ins slow further attempts per account and per client address
(progressive delay, bounded memory) instead of locking the real user out.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from datetime import timedelta
from html import escape
from urllib.parse import quote, urlparse

from flask import Flask, g, jsonify, redirect, request, session

from forecasting.errors import ForecastingError
from forecasting.store.governance import role_at_least

#: Paths served without a session, matched exactly.
PUBLIC_PATHS = frozenset({"/login", "/logout", "/healthz", "/_favicon.ico"})
#: Static assets (JavaScript bundles, CSS) served without a session.
PUBLIC_PREFIXES = ("/_dash-component-suites/", "/assets/")
#: Pages (HTML) redirect to sign-in; everything else answers 401.
_JSON_PREFIXES = ("/_dash-", "/_reload-hash")
#: Failed sign-ins allowed before any delay; then the wait doubles from 1 s up to the cap.
FREE_FAILURES = 3
#: Longest wait imposed on an account (its real user waits at most this long, never locked out).
ACCOUNT_DELAY_CAP = 15.0
#: Longest wait imposed on a client address (password spraying across names).
ADDRESS_DELAY_CAP = 300.0
#: Failures are forgotten this long after the last one.
FORGET_AFTER = 900.0
#: Longest accepted form values; longer ones are refused before any lookup.
MAX_USERNAME, MAX_PASSWORD, MAX_NEXT, MAX_TOKEN = 64, 1024, 2048, 128
_MAX_FORM_BYTES = 16 * 1024
#: Re-issue the cookie (to move the idle clock) at most this often.
_SEEN_EVERY = 60.0


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


def csrf_token() -> str:
    """The token of this (pre-)session, created on first use; forms post it back."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after sign-in (no open redirect)."""
    if not target or len(target) > MAX_NEXT:
        return "/"
    u = urlparse(target)
    if u.scheme or u.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _same_origin() -> bool:
    """False when the browser says the form came from another site (``Origin``, else ``Referer``)."""
    here = request.host_url.rstrip("/")
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin == here
    referer = request.headers.get("Referer")
    if referer:
        u = urlparse(referer)
        return f"{u.scheme}://{u.netloc}" == here
    return True  # non-browser clients send neither; the cookie-bound token still has to match


def _token_ok() -> bool:
    sent = request.form.get("csrf") or ""
    expected = session.get("csrf") or ""
    return bool(sent) and bool(expected) and len(sent) <= MAX_TOKEN and secrets.compare_digest(sent, expected)


class _Throttle:
    """Progressive delay after failed sign-ins, per key (an account or an address), in bounded memory.

    After :data:`FREE_FAILURES` failures each further attempt must wait ``2 ** (n - FREE_FAILURES)``
    seconds (capped) after the last failure. At most ``max_keys`` keys are kept (least recently
    failed dropped first), so a flood of invented names cannot grow the server's memory.
    """

    def __init__(self, cap: float, max_keys: int = 10_000) -> None:
        self.cap, self.max_keys = cap, max_keys
        self.failures: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self.lock = threading.Lock()

    def wait(self, key: str, now: float) -> float:
        """Seconds before ``key`` may try again (0 when it may now)."""
        with self.lock:
            n, last = self.failures.get(key, (0, 0.0))
            if n and now - last > FORGET_AFTER:
                del self.failures[key]
                return 0.0
        if n < FREE_FAILURES:
            return 0.0
        return max(0.0, last + min(self.cap, 2.0 ** (n - FREE_FAILURES)) - now)

    def fail(self, key: str, now: float) -> None:
        with self.lock:
            n, _ = self.failures.pop(key, (0, 0.0))
            self.failures[key] = (n + 1, now)
            while len(self.failures) > self.max_keys:
                self.failures.popitem(last=False)

    def clear(self, key: str) -> None:
        with self.lock:
            self.failures.pop(key, None)


def _valid(account, now: float, lifetime: float, idle: float) -> bool:
    return (account is not None and not account.disabled
            and session.get("gen") == account.generation
            and now - float(session.get("iat", 0)) < lifetime
            and now - float(session.get("seen", 0)) < idle)


def install(server: Flask, *, provider, recorder, secret_key: str, cookie_secure: bool = False,
            session_hours: float = 12.0, idle_minutes: float = 30.0, title: str = "crimecast") -> None:
    """Add the sign-in routes and the session guard to ``server``.

    Parameters
    ----------
    server : flask.Flask
        The Dash app's server.
    provider : DashboardProvider
        Reads accounts (:meth:`~dashboards.contracts.DashboardProvider.get_account`).
    recorder : Recorder
        Checks passwords, ends sessions and writes sign-in events to the audit table.
    secret_key : str
        Signs the session cookie.
    cookie_secure : bool
        Send the cookie over HTTPS only.
    session_hours : float
        Absolute lifetime of a sign-in (not extended by activity).
    idle_minutes : float
        A session without a request for this long ends.
    """
    if not secret_key or len(secret_key) < 16:
        raise ForecastingError("secret_key must be at least 16 characters; set CRIMECAST_SECRET_KEY")
    lifetime, idle = session_hours * 3600.0, idle_minutes * 60.0
    server.secret_key = secret_key
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_SECURE=bool(cookie_secure), SESSION_COOKIE_NAME="crimecast_session",
                         PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours),
                         SESSION_REFRESH_EACH_REQUEST=False)
    by_account, by_address = _Throttle(ACCOUNT_DELAY_CAP), _Throttle(ADDRESS_DELAY_CAP)

    @server.before_request
    def _guard():
        path = request.path
        if _is_public(path):
            return None
        now = time.time()
        name = session.get("user")
        account = provider.get_account(name) if name else None
        if not _valid(account, now, lifetime, idle):
            if name:  # revoked, signed out elsewhere or expired: end it (keep no stale identity)
                session.clear()
            if request.method == "GET" and not path.startswith(_JSON_PREFIXES):
                return redirect("/login?next=" + quote(request.full_path.rstrip("?")[:MAX_NEXT], safe="/?=&"))
            return jsonify(error="sign in first"), 401
        if now - float(session.get("seen", 0)) > _SEEN_EVERY:
            session["seen"] = now
        g.account = account
        return None

    @server.route("/healthz")
    def _health():
        return "ok"

    @server.route("/login", methods=["GET", "POST"])
    def _login():
        request.max_content_length = _MAX_FORM_BYTES  # a sign-in form is small; refuse 600 kB names (413)
        error, status = "", 200
        nxt = _safe_next(request.values.get("next"))
        if request.method == "POST":
            error, status = _attempt(nxt)
            if not error:
                return redirect(nxt)
        page = _LOGIN_HTML.format(title=escape(title), error=escape(error), next=escape(nxt), csrf=csrf_token())
        return page, status

    def _attempt(nxt: str) -> tuple[str, int]:
        """Check one sign-in POST; on success start the session and return ``("", 302)``."""
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        address = request.remote_addr or ""
        if not _token_ok() or not _same_origin():
            return "The form expired; please try again.", 401
        now = time.time()
        wait = max(by_account.wait(username[:MAX_USERNAME], now), by_address.wait(address, now))
        if wait > 0:
            return f"Too many failed attempts; try again in {wait:.0f} seconds.", 429
        too_long = len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD
        account = None if too_long else recorder.authenticate(username, password)
        if account is None:
            by_account.fail(username[:MAX_USERNAME], now)
            by_address.fail(address, now)
            recorder.audit(username[:MAX_USERNAME] or None, "sign_in_failed", target=None,
                           details={"address": address})
            return "Unknown name or wrong password (or the account is disabled).", 401
        by_account.clear(username)
        session.clear()  # a fresh session (no fixation) with a fresh token
        session.permanent = True
        session.update(user=account.username, gen=account.generation, iat=now, seen=now,
                       csrf=secrets.token_urlsafe(24))
        recorder.audit(account.username, "sign_in", details={"address": address})
        return "", 302

    @server.route("/logout", methods=["GET", "POST"])
    def _logout():
        request.max_content_length = _MAX_FORM_BYTES
        if request.method == "GET":  # a link or a typed URL: ask, so a foreign page cannot sign anyone out
            return _LOGOUT_HTML.format(title=escape(title), csrf=csrf_token())
        if not _token_ok() or not _same_origin():
            return "The form expired; sign out again from the page.", 400
        name = session.get("user")
        session.clear()
        if name and provider.get_account(name) is not None:
            recorder.end_sessions(name)  # every copy of this cookie stops working, not just this one
            recorder.audit(name, "sign_out")
        return redirect("/login")


def add_security_headers(server: Flask, *, script_hashes=(), online: bool = False) -> None:
    """Content-Security-Policy, Permissions-Policy and friends on every response.

    Dash's only executable inline script (the renderer start) is allowed by its hash
    (``app.csp_hashes()``), not by ``'unsafe-inline'``. Styles need ``'unsafe-inline'`` (plotly.js
    injects style elements); the heatmap is a ``data:`` image. An online basemap adds ``https:``
    images and connections.
    """
    extra = " https:" if online else ""
    csp = "; ".join([
        "default-src 'self'",
        "script-src 'self' " + " ".join(script_hashes),
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob:{extra}",
        f"connect-src 'self'{extra}",
        "worker-src 'self' blob:",
        "font-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])

    @server.after_request
    def _headers(resp):
        resp.headers.setdefault("Content-Security-Policy", csp)
        resp.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), "
                                                      "usb=(), interest-cohort=()")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp


_LOGOUT_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign out - {title}</title></head>
<body><form method="post" action="/logout" id="logout-form"><input type="hidden" name="csrf" value="{csrf}">
<button type="submit" id="logout-submit">Sign out</button></form></body></html>
"""

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
