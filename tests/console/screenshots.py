"""Screenshots of the console's main pages (docs/console/*.png), taken from a database made by
`conc station demo-data`:

    .venv/bin/python -m tests.console.screenshots sqlite:///demo.db docs/console [PASSWORD]

The demo admin logs in; each page is shot at 1280 px wide in headless chromium."""
import os
import sys
import tempfile

from host_tools.business.database import open_business
from tests.console.support import (BROWSER_ARGS, CHROMIUM, ConsoleServer, alarm_count, login,
                                   wait_for_alarm_watcher)
from tests.waiting import wait_for

PAGES = [
    ("dashboard", "/"),
    ("alarms", "/alarms?state=all"),
    ("customer", "/customers/C000008"),
    ("arrears", "/arrears"),
    ("billing", "/billing?period=2026-11"),
    ("terminals", "/terminals"),
]


def sample_events(url, count_before):
    """A few terminal events of different kinds, stored as `serve` stores them."""
    import time

    from host_tools.station.records import Event
    from host_tools.station.repository import open_station
    with open_station(url) as station:
        first, second = [t.id for t in station.terminals()[:2]]
        now = int(time.time())
        station.store_events([
            Event(first, 14, bytes(10), occurred_at=now - 300),
            Event(second, 31, bytes([count_before, 0, 0, 0, 0, 0, 0, 0]), occurred_at=now - 200,
                  pn=3),
            Event(second, 60, bytes([0, 16, 7, 18, 38, 5, 0, 0x1A, 2, 0, 0]),
                  occurred_at=now - 100),
            Event(first, 12, bytes([count_before, 1, 0, 0, 0, 0, 0, 0]), occurred_at=now - 50,
                  pn=2)])


def shoot(url, folder, password, pages=PAGES):
    import time

    from playwright.sync_api import sync_playwright
    os.makedirs(folder, exist_ok=True)
    engine = open_business(url)
    with ConsoleServer(engine) as console, sync_playwright() as pw:
        wait_for_alarm_watcher(engine)      # its first pass marks where new events start
        before = alarm_count(engine)
        sample_events(url, int(time.time()) & 0xFF)
        wait_for("alarms of the sample events", lambda: alarm_count(engine) > before, 20)
        context = pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="console-shots-"), executable_path=CHROMIUM, headless=True,
            args=BROWSER_ARGS, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        login(page, console.url, "admin", password)
        written = []
        for name, path in pages:
            page.goto(console.url + path)
            page.wait_for_load_state("networkidle") if path == "/" else None
            target = os.path.join(folder, "%s.png" % name)
            page.screenshot(path=target, full_page=False)
            written.append(target)
        context.close()
    return written


if __name__ == "__main__":
    print("\n".join(shoot(sys.argv[1], sys.argv[2],
                          sys.argv[3] if len(sys.argv) > 3 else "correct horse 1")))
