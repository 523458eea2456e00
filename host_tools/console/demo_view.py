"""The console's part of `make demo`: start `conc station web` on the demo's station database,
log in as the demo admin in headless chromium, save screenshots of the dashboard and the alarm
console into the demo folder, and print the command that opens the console on that data.

    show(db_url, folder, password)     # -> [screenshot paths]; raises DemoViewError

The password is used to log in and never printed.

Playwright (a dev dependency, installed by `make install`) drives Debian's chromium; without
them the screenshots are skipped with a message, the command is still printed.
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


class DemoViewError(Exception):
    pass


def show(db_url, folder, password, user="admin", env=None, shown_password=None):
    """shown_password: how the printed command names the password (it is never printed)."""
    env = dict(env or os.environ)
    console = subprocess.Popen(
        [sys.executable, "-m", "host_tools.cli", "station", "web", "--listen", "127.0.0.1:0",
         "--json", "--db", db_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    try:
        line = console.stdout.readline()  # pyright: ignore[reportOptionalMemberAccess] - started with pipes
        if not line:
            raise DemoViewError("the console did not start: %s" % console.stderr.read().strip())  # pyright: ignore[reportOptionalMemberAccess] - started with pipes
        url = json.loads(line)["listening"]
        shots = _screenshots(url, folder, user, password)
    finally:
        console.terminate()
        try:
            console.wait(15)
        except subprocess.TimeoutExpired:
            console.kill()
    print("open the console on this data:\n  .venv/bin/conc station web --listen "
          "127.0.0.1:8000 --db %s\n  then http://127.0.0.1:8000 and log in as %s with %s"
          % (shlex.quote(db_url), user, shown_password or "the demo users' password"))
    return shots


def _screenshots(url, folder, user, password):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("(no screenshots: Playwright is not installed - `make install`)")
        return []
    if not os.path.exists(CHROMIUM):
        print("(no screenshots: %s is missing - `make install` installs chromium)" % CHROMIUM)
        return []
    os.makedirs(folder, exist_ok=True)
    shots = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="demo-chromium-"), executable_path=CHROMIUM, headless=True,
            args=BROWSER_ARGS, viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            page.goto(url + "/login")
            page.fill("input[name=name]", user)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_load_state("domcontentloaded")
            if "/login" in page.url:
                raise DemoViewError("the demo admin could not log in to the console")
            for name, path in (("console-dashboard", "/"), ("console-alarms", "/alarms")):
                page.goto(url + path, wait_until="domcontentloaded")
                page.wait_for_timeout(1000)         # the live stream's first summary
                target = os.path.join(folder, name + ".png")
                page.screenshot(path=target)
                shots.append(target)
                print("screenshot: %s" % target)
        finally:
            context.close()
    return shots
