"""`make bench ONLY=console`: the operator console on a utility-sized database.

The database is `conc station demo-data` with 10,000 customers (1,000 terminals, a year of daily
frozen values), made once and kept in build/ (it takes many minutes; CONC_BENCH_CONSOLE_DB
names another one). Figures:
- console.dashboard_ms: the dashboard page's server time (Server-Timing), p95 of 50 requests.
- console.page_load_ms: chromium's DOMContentLoaded of the dashboard, median of 10 loads.
- console.alarm_latency_p99_s: 100 terminal events committed as `serve` stores them (paced
  10 a second) -> the alarm's row visible in an open alarm console; p99.
- console.customer_search_ms: server time of a customer search (number, name, address or meter
  address), p95 of 50 searches.
"""
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from host_tools.business import demo_data
from host_tools.business.database import open_business
from tests.console.support import (BROWSER_ARGS, CHROMIUM, PASSWORD, ZONE_NAME, ConsoleServer,
                                   login)

ROOT = Path(__file__).resolve().parent.parent.parent
CUSTOMERS = 10_000
SEED = 1376


def database():
    """The benchmark's database URL, made with demo-data when missing."""
    given = os.environ.get("CONC_BENCH_CONSOLE_DB")
    if given:
        return given
    path = ROOT / "build" / ("bench-console-%d-%d.db" % (CUSTOMERS, SEED))
    if not path.exists():
        partial = path.with_suffix(".partial")
        for stale in partial.parent.glob(partial.name + "*"):
            stale.unlink()
        engine = open_business("sqlite:///%s" % partial)
        demo_data.generate(engine, CUSTOMERS, seed=SEED, password=PASSWORD)
        engine.dispose()
        # The database file with its WAL and shared memory, if SQLite left them.
        for suffix in ("-wal", "-shm", ""):
            if os.path.exists(str(partial) + suffix):
                shutil.move(str(partial) + suffix, str(path) + suffix)
    return "sqlite:///%s" % path


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def server_ms(response):
    """The app's own time from its Server-Timing header."""
    header = response.headers["server-timing"]
    return float(header.split("dur=")[1])


def run(bench):
    from playwright.sync_api import sync_playwright

    from host_tools.station.records import Event
    from host_tools.station.repository import open_station
    url = database()
    engine = open_business(url)
    with ConsoleServer(engine, rules_s=3600) as console, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="bench-console-"), executable_path=CHROMIUM,
            headless=True, args=BROWSER_ARGS)
        page = browser.new_page()
        login(page, console.url, "admin")

        # The first request computes the whole-day figures (consumption, line loss), which
        # the console then keeps for DAY_FIGURES_TTL_S: its time is reported beside the p95.
        console.app.state.day_figures.clear()       # (the login's redirect filled it)
        first = server_ms(page.request.get(console.url + "/"))
        times = [server_ms(page.request.get(console.url + "/")) for _ in range(50)]
        bench.emit("console.dashboard_ms", round(percentile(times, 0.95), 1), "ms",
                   goal="<= 300", median=round(statistics.median(times), 1), requests=50,
                   first_uncached_ms=round(first, 1), customers=CUSTOMERS)

        loads = []
        for _ in range(10):
            page.goto(console.url + "/", wait_until="domcontentloaded")
            loads.append(page.evaluate(
                "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"))
        bench.emit("console.page_load_ms", round(statistics.median(loads), 1), "ms",
                   goal="<= 1000", worst=round(max(loads), 1), loads=10)

        rng = random.Random(SEED)
        with engine.connect() as conn:
            from sqlalchemy import text
            numbers = [r[0] for r in conn.execute(text("SELECT number FROM customers"))]
            names = [r[0] for r in conn.execute(text("SELECT name FROM customers LIMIT 500"))]
            meters = [r[0] for r in conn.execute(text(
                "SELECT meter_address FROM measuring_points LIMIT 500"))]
        queries = [rng.choice(numbers) if n % 3 == 0 else rng.choice(names)[:2]
                   if n % 3 == 1 else rng.choice(meters) for n in range(50)]
        searches = [server_ms(page.request.get(console.url + "/api/customers?q=" + q))
                    for q in queries]
        bench.emit("console.customer_search_ms", round(percentile(searches, 0.95), 1), "ms",
                   goal="<= 100", median=round(statistics.median(searches), 1), searches=50)

        page.goto(console.url + "/alarms")
        # The page records when each alarm row appears (Date.now(), the same clock as ours).
        page.evaluate("""() => {
            window.seen = {};
            new MutationObserver(() => {
                for (const row of document.querySelectorAll('tr.alarm'))
                    if (!(row.dataset.id in window.seen)) window.seen[row.dataset.id] = Date.now();
            }).observe(document.getElementById('alarm-rows'), {childList: true});
        }""")
        committed = {}
        with open_station(url, zone=ZONE_NAME) as station:
            terminal_id = station.terminals()[0].id
            for n in range(100):
                before = {e.id for e in station.events(terminal_id, erc=31)}
                # Random bytes: an event stored by an earlier run is a duplicate, not stored.
                station.store_events([Event(terminal_id, 31, bytes([n]) + os.urandom(7),
                                            occurred_at=int(time.time()), pn=1)])
                committed_at = time.time()
                new = {e.id for e in station.events(terminal_id, erc=31)} - before
                committed[new.pop()] = committed_at
                time.sleep(0.1)
        deadline = time.monotonic() + 30
        while page.evaluate("Object.keys(window.seen).length") < 100 and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        seen = page.evaluate("window.seen")
        with engine.connect() as conn:
            from sqlalchemy import select

            from host_tools.business.tables import alarms
            by_event = dict(conn.execute(select(alarms.c.event_id, alarms.c.id).where(
                alarms.c.event_id.in_(list(committed)))).all())
        latencies = [seen[str(by_event[e])] / 1000 - at if e in by_event and
                     str(by_event[e]) in seen else 30.0 for e, at in committed.items()]
        bench.emit("console.alarm_latency_p99_s", round(percentile(latencies, 0.99), 2), "s",
                   goal="<= 3", median=round(statistics.median(latencies), 2),
                   shown=sum(1 for e in committed if e in by_event and str(by_event[e]) in seen),
                   events=100)
        browser.close()
    engine.dispose()
