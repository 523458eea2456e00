"""The operator console's web application (Starlette): `create_app(engine, zone, secret)`.

    app = create_app(make_engine(url), station_zone(), secret_key)
    uvicorn.run(app, host="127.0.0.1", port=8000)       # what `conc station web` does

Pages are server-rendered Jinja2 templates; each page has a JSON twin under /api/ returning the
same data (docs/console.md lists them). The alarm loop (live.AlarmWatcher) runs inside the app's
lifespan. Static files and the alarm sounds are served from the package: nothing comes from
the internet.
"""
import asyncio
import contextlib
import datetime
import time
import urllib.parse

import jinja2
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from host_tools.business import audit
from host_tools.business import users as users_lib
from host_tools.business.tables import users
from host_tools.console import alarm_pages, auth, business_pages, pages, sounds, user_pages
from host_tools.console.db import writing
from host_tools.console.live import AlarmWatcher

LOGIN_FAILED = "wrong name or password, or the account is locked or disabled"


def create_app(engine, zone, secret_key, https_only=False, alarm_poll_s=0.5, rules_s=30.0,
               clock=time.time, watch=True):
    """The ASGI app. watch=False: no alarm loop (a second console process, or tests)."""
    templates = Jinja2Templates(env=_environment(zone))
    watcher = AlarmWatcher(engine, zone, alarm_poll_s, rules_s, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = asyncio.get_running_loop().create_task(watcher.run()) if watch else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    routes = [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/sounds/{severity}.wav", sound),
        Mount("/static", StaticFiles(packages=[("host_tools.console", "static")]), name="static"),
    ] + pages.routes() + alarm_pages.routes() + business_pages.routes() + \
        user_pages.routes()
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[
        Middleware(ServerTiming),
        Middleware(SessionMiddleware, secret_key=secret_key, session_cookie=auth.SESSION_COOKIE,
                   max_age=auth.SESSION_MAX_AGE_S, same_site="strict", https_only=https_only),
        Middleware(SecurityHeaders)])
    app.state.engine = engine
    app.state.zone = zone
    app.state.templates = templates
    app.state.watcher = watcher
    app.state.clock = clock
    app.state.day_figures = {}          # pages.dashboard's cache of the whole-day figures
    return app


class ServerTiming:
    """Adds `Server-Timing: app;dur=MS` (the time until the response starts) to every answer:
    the browser's developer tools show it, and the benchmarks read it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()

        async def timed_send(message):
            if message["type"] == "http.response.start":
                spent = (time.perf_counter() - started) * 1000
                message["headers"] = list(message.get("headers", [])) + [
                    (b"server-timing", b"app;dur=%.1f" % spent)]
            await send(message)
        await self.app(scope, receive, timed_send)


class SecurityHeaders:
    """Pages may not be framed (clickjacking) and load scripts and styles from this site only."""

    HEADERS = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"same-origin"),
               (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; "
                b"style-src 'self'; script-src 'self'; frame-ancestors 'none'")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.HEADERS
            await send(message)
        await self.app(scope, receive, with_headers)


def _environment(zone):
    env = jinja2.Environment(loader=jinja2.PackageLoader("host_tools.console", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)

    def when(seconds, seconds_too=True):
        if seconds is None:
            return "-"
        moment = datetime.datetime.fromtimestamp(seconds, zone)
        return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds_too else "%Y-%m-%d %H:%M")

    def money(fen):
        if fen is None:
            return "-"
        sign = "-" if fen < 0 else ""
        return "%s%s.%02d yuan" % (sign, "{:,}".format(abs(fen) // 100), abs(fen) % 100)

    def kwh(value, decimals=2):
        return "-" if value is None else "%s kWh" % ("{:,.%df}" % decimals).format(value)

    def percent(ratio, decimals=1):
        return "-" if ratio is None else "%.*f %%" % (decimals, ratio * 100)

    env.filters.update(when=when, money=money, kwh=kwh, percent=percent)
    env.globals["may"] = users_lib.may
    env.globals["csrf_token"] = auth.csrf_token
    return env


async def login_page(request):
    if auth.current_user(request) is not None:
        return RedirectResponse(_next(request), status_code=303)
    return request.app.state.templates.TemplateResponse(
        request, "login.html", {"next": _next(request), "error": None, "name": ""})


async def login(request):
    """Check the name and password (argon2, lock-out after repeated failures: users.py)."""
    form = await request.form()
    if not auth.csrf_ok(request, form):
        return auth.refuse(request, 403, "the login form is out of date: reload the page")
    name, password = (form.get("name") or "").strip(), form.get("password") or ""
    engine, now = request.app.state.engine, int(request.app.state.clock())
    try:
        row = await asyncio.to_thread(_authenticate, engine, name, password, now,
                                      _peer(request))
    except users_lib.AuthenticationFailed:
        return request.app.state.templates.TemplateResponse(
            request, "login.html", {"next": form.get("next") or "/", "error": LOGIN_FAILED,
                                    "name": name}, status_code=401)
    auth.start_session(request, row)
    return RedirectResponse(_safe_next(form.get("next")), status_code=303)


def _authenticate(engine, name, password, now, peer):
    """The user's row after a good password; every attempt lands in the audit log."""
    try:
        user = users_lib.authenticate(engine, name, password, now)
    except users_lib.AuthenticationFailed as exc:
        with writing(engine) as conn:
            audit.record(conn, None, "console.login_failed", "user:%s" % name[:64], now,
                         reason=str(exc), peer=peer)
        raise
    with writing(engine) as conn:
        row = conn.execute(select(users).where(users.c.id == user.id)).one()  # pyright: ignore[reportOptionalMemberAccess] - the login was checked
        audit.record(conn, user, "console.login", "user:%s" % user.name, now, peer=peer)  # pyright: ignore[reportOptionalMemberAccess] - the login was checked
    return row


@auth.guard("read")
async def logout(request, user, form):
    def record(conn):
        now = int(request.app.state.clock())
        auth.end_sessions(conn, user.id, now)
        audit.record(conn, user, "console.logout", "user:%s" % user.name, now)
    await pages.write(request, record)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def sound(request):
    severity = request.path_params["severity"]
    if severity not in sounds.PATTERNS:
        return Response("no such sound", status_code=404, media_type="text/plain")
    return Response(_sound_bytes(severity), media_type="audio/wav",
                    headers={"Cache-Control": "max-age=86400"})


_SOUNDS = {}


def _sound_bytes(severity):
    if severity not in _SOUNDS:
        _SOUNDS[severity] = sounds.wav(severity)
    return _SOUNDS[severity]


def _peer(request):
    return "%s:%s" % (request.client.host, request.client.port) if request.client else ""


def _next(request):
    return _safe_next(request.query_params.get("next"))


def _safe_next(target):
    """Only a path on this site (no open redirect to another host)."""
    if not target:
        return "/"
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
