"""Who is asking and may they: the console's login session, CSRF tokens and the role check that
wraps every page and API endpoint.

    @guard("read")                 # any logged-in user
    async def dashboard(request, user): ...
    @guard("alarm.ack")            # a POST: the CSRF token is checked too
    async def acknowledge(request, user, form): ...

The session is Starlette's signed cookie (HttpOnly, SameSite=Strict, Secure when served over
HTTPS) holding the user's id, the time their password was last set, when it started and a random
CSRF token. Each request reloads the user, so a disabled account, a changed password or a logout
ends its sessions at once - copies of the cookie included, which is why a logout is recorded in
the database (business_settings `console.logged_out.<user id>`) rather than only cleared from the
browser.
Unsafe requests (POST) must carry the session's token: a form field `csrf`, or the header
X-CSRF-Token for the page's own fetch() calls; a request without it is refused with 403 before
its handler runs. A request without a session gets 401 (API) or the login page (pages); one whose
role lacks the permission gets 403 naming the role and what it may not do.
"""
import functools
import hmac
import json
import secrets
import time
import urllib.parse

from sqlalchemy import insert, select, update
from starlette.responses import JSONResponse, RedirectResponse

from host_tools.business import users as users_lib
from host_tools.business.tables import settings, users
from host_tools.console.db import reading

SESSION_COOKIE = "conc_console"
SESSION_MAX_AGE_S = 12 * 3600          # one working shift and some
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD")
LOGGED_OUT_KEY = "console.logged_out.%d"


def _now_ms():
    return time.time_ns() // 1_000_000


def csrf_token(request):
    """The session's CSRF token (made on first use)."""
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request, form):
    expected = request.session.get(CSRF_FIELD)
    given = request.headers.get(CSRF_HEADER) or (form.get(CSRF_FIELD) if form else None)
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))


def start_session(request, user_row):
    """Log a user in: a fresh session (new CSRF token) bound to the password's version."""
    request.session.clear()
    request.session.update({"uid": user_row.id, "pwc": user_row.password_changed_at or 0,
                            CSRF_FIELD: secrets.token_urlsafe(32), "at": _now_ms()})


def end_sessions(conn, user_id, now):
    """Log a user out everywhere: every session started before now is over."""
    key, value = LOGGED_OUT_KEY % user_id, json.dumps(_now_ms())
    if conn.execute(update(settings).where(settings.c.key == key).values(
            value=value, updated_at=now, updated_by=user_id)).rowcount == 0:
        conn.execute(insert(settings).values(key=key, value=value, updated_at=now,
                                             updated_by=user_id))


def current_user(request):
    """The logged-in User, or None (no session, disabled account, password changed since)."""
    if hasattr(request.state, "user"):
        return request.state.user
    user = None
    uid = request.session.get("uid")
    if uid is not None:
        logout = settings.alias("logout")
        with reading(request.app.state.engine) as conn:
            row = conn.execute(
                select(users, logout.c.value.label("logged_out"))
                .select_from(users.outerjoin(logout, logout.c.key == LOGGED_OUT_KEY % uid))
                .where(users.c.id == uid)).first()
        if row is not None and row.active and (row.password_changed_at or 0) == \
                request.session.get("pwc") and (row.logged_out is None or json.loads(
                    row.logged_out) < request.session.get("at", 0)):
            user = users_lib.User(row.id, row.name, row.role, row.full_name)
    request.state.user = user
    return user


def is_api(request):
    return request.url.path.startswith("/api/")


def refuse(request, status, message):
    """A 401/403 for an API call (JSON) or a page (the error page)."""
    if is_api(request):
        return JSONResponse({"error": message}, status_code=status)
    return request.app.state.templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status)


def guard(permission):
    """Wrap an endpoint `f(request, user[, form])` with the login, role and CSRF checks.

    GET endpoints are called as f(request, user); POST ones as f(request, user, form), with the
    form already read (or {} for a JSON body)."""
    def wrap(endpoint):
        @functools.wraps(endpoint)
        async def checked(request):
            user = current_user(request)
            if user is None:
                if is_api(request) or request.method not in SAFE_METHODS:
                    return refuse(request, 401, "log in first (POST /login)")
                target = request.url.path + ("?" + request.url.query if request.url.query
                                             else "")
                return RedirectResponse("/login?next=" + urllib.parse.quote(target),
                                        status_code=303)
            if not users_lib.may(user, permission):
                return refuse(request, 403, "your role (%s) may not %s" % (
                    user.role, PERMISSION_WORDS.get(permission, permission)))
            if request.method in SAFE_METHODS:
                return await endpoint(request, user)
            content_type = request.headers.get("content-type", "")
            form = {} if content_type.startswith("application/json") else \
                await request.form()
            if not csrf_ok(request, form):
                return refuse(request, 403, "the form's security token is missing or out of "
                              "date: reload the page and try again")
            return await endpoint(request, user, form)
        checked.permission = permission  # pyright: ignore[reportAttributeAccessIssue] - the route records its permission
        return checked
    return wrap


PERMISSION_WORDS = {
    "read": "view the console",
    "alarm.ack": "acknowledge alarms",
    "alarm.rules": "change alarm rules",
    "relay.control": "trip or close a meter's relay",
    "user.manage": "manage users",
    "payment.record": "record payments",
    "billing.run": "run the billing",
    "audit.read": "view the audit log",
}
