"""Screenshots of the console's main pages (docs/console/*.png), taken from a database made by
`conc station demo-data`:

    .venv/bin/python -m tests.console.screenshots sqlite:///demo.db docs/console [PASSWORD]

The demo admin logs in; each page is shot at 1280 px wide in headless chromium."""
import os
import sys
import tempfile

from host_tools.business.database import open_business
from tests.console.support import BROWSER_ARGS, CHROMIUM, ConsoleServer, login

PAGES = [
    ("dashboard", "/"),
    ("alarms", "/alarms?state=all"),
    ("customer", "/customers/C000008"),
    ("arrears", "/arrears"),
    ("billing", "/billing?period=2026-11"),
    ("terminals", "/terminals"),
]


def shoot(url, folder, password, pages=PAGES):
    from playwright.sync_api import sync_playwright
    os.makedirs(folder, exist_ok=True)
    engine = open_business(url)
    with ConsoleServer(engine) as console, sync_playwright() as pw:
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
