"""Fixtures of the console's tests: a station database with one user per role, the console
served on a free port, and Debian's chromium driven by Playwright."""
import tempfile

import pytest

from tests.console.support import (BROWSER_ARGS, CHROMIUM, ConsoleServer, add_role_users,
                                   prepare_database)


@pytest.fixture
def station_url(tmp_path):
    return "sqlite:///%s" % (tmp_path / "station.db")


@pytest.fixture
def engine(station_url):
    engine = prepare_database(station_url)
    add_role_users(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def console(engine):
    with ConsoleServer(engine) as server:
        yield server


# Package scope, not session: Playwright's sync API keeps its asyncio loop running in this thread
# while it is started, and the station's tests that a test worker runs after these ones call
# asyncio.run(), which refuses to start inside a running loop.
@pytest.fixture(scope="package")
def pw():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="package")
def chromium(pw):
    """Debian's chromium, once per test session (each test gets its own context)."""
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def new_browser(pw, chromium):
    """new_browser(*extra_args) -> a fresh browser context: a new context of the shared
    chromium, or with extra command-line arguments a chromium of its own with a new profile
    (--user-data-dir). All are closed after the test."""
    contexts = []

    def make(*extra_args):
        if extra_args:
            context = pw.chromium.launch_persistent_context(
                tempfile.mkdtemp(prefix="console-chromium-"), executable_path=CHROMIUM,
                headless=True, args=BROWSER_ARGS + list(extra_args))
        else:
            context = chromium.new_context()
        context.set_default_timeout(20000)
        contexts.append(context)
        return context
    yield make
    for context in contexts:
        context.close()
