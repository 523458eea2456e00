"""What the console's tests and benchmarks share: a station database with the business tables,
users of every role, and the console served by uvicorn in a thread.

prepare_database() gets a test database its schema through host_tools.business.database
(today the station's migration plus the business tables; `alembic upgrade head` once the
Alembic revisions land).
"""
import socket
import threading
import time
import zoneinfo

import uvicorn
from sqlalchemy import func, select

from host_tools.business import users
from host_tools.business.database import open_business
from host_tools.business.tables import alarms, settings
from host_tools.console.app import create_app
from tests.waiting import wait_for

ZONE_NAME = "Asia/Shanghai"
ZONE = zoneinfo.ZoneInfo(ZONE_NAME)
PASSWORD = "correct horse 1"
ROLES = ("viewer", "clerk", "cashier", "dispatcher", "admin")


def prepare_database(url):
    """Create (or bring up to date) a station database for the console; its Engine (the
    business library's one schema helper, so the switch to Alembic happens there)."""
    return open_business(url)


def add_role_users(engine, now=None):
    """One user per role, named after it, all with PASSWORD."""
    now = int(time.time()) if now is None else now
    with engine.begin() as conn:
        for role in ROLES:
            users.add_user(conn, role, PASSWORD, role, now, full_name=role.title())


class ConsoleServer:
    """The console app on 127.0.0.1:<free port>, served by uvicorn in a daemon thread."""

    def __init__(self, engine, **options):
        options.setdefault("alarm_poll_s", 0.2)
        self.app = create_app(engine, ZONE, "test-secret", **options)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_for("the console to start", self._started, 20, every=0.02)
        return self

    def _started(self):
        if not self.thread.is_alive():
            raise RuntimeError("the console's server thread ended before it started")
        return self.server.started

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync"]
CHROMIUM = "/usr/bin/chromium"     # Debian's package (Playwright's own download is not used)


def login(page, base_url, name, password=PASSWORD):
    """Log `page` in through the login form; returns the page after the redirect."""
    page.goto(base_url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    return page


def login_by_request(context, base_url, name, password=PASSWORD):
    """Log a browser context in with HTTP requests only: its pages have had no user gesture
    (a click on the login form would count as one for the autoplay policy)."""
    import re
    form = context.request.get(base_url + "/login").text()
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    answer = context.request.post(base_url + "/login", form={
        "csrf": token, "name": name, "password": password, "next": "/"})
    assert answer.ok, answer.status


class LiveStation:
    """The station's front end (as `conc station serve` runs it) and simulated terminals, on
    their own asyncio loop in a thread, sharing the console's database.

        with LiveStation(url, terminals=1, meters=2) as live:
            live.call(lambda h: h.sim(1))             # a coroutine run on the station's loop
            live.soon(lambda: sim.heartbeat())         # a plain call on that loop
    """

    def __init__(self, url, **harness_options):
        import asyncio

        from tests.station_frontend.frontend_support import Harness
        self.loop = asyncio.new_event_loop()
        self.harness = Harness(url, **harness_options)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, make_coroutine, timeout=30):
        import asyncio
        future = asyncio.run_coroutine_threadsafe(make_coroutine(self.harness), self.loop)
        return future.result(timeout)

    def soon(self, function, timeout=10):
        """Run a plain function on the station's loop and return its result."""
        async def run(_harness):
            return function()
        return self.call(run, timeout)

    def __enter__(self):
        self.thread.start()
        self.call(lambda h: h.__aenter__())
        return self

    def __exit__(self, *exc):
        try:
            self.call(lambda h: h.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def wait_for_alarm_watcher(engine):
    """Until the console's alarm loop has made its first pass (it starts after the events
    already in the database, so events stored before then raise no alarm)."""
    def events_seen():
        with engine.connect() as conn:
            return conn.execute(select(settings.c.value).where(
                settings.c.key == "alarms.events_seen")).scalar() is not None
    wait_for("the console's alarm loop to make its first pass", events_seen, 20)


def alarm_count(engine):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(alarms)).scalar()
