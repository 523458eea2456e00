"""Alarms raised from the events `serve` stores, shown on an open console without reload, with
sound; the banner while the browser blocks sound; acknowledgement that persists."""
import time

from sqlalchemy import select

from host_tools.business.tables import alarms, audit_log, users
from host_tools.console.alarm_pages import STREAM_CHECK_S
from host_tools.station.records import Event
from host_tools.station.repository import open_station
from tests.console.support import (ZONE_NAME, LiveStation, alarm_count, login, login_by_request,
                                   wait_for_alarm_watcher)
from tests.waiting import wait_for

POWER_CUT = {"erc": 14, "power_off": (2026, 12, 7, 3, 0), "power_on": (2026, 12, 7, 3, 5)}


def test_a_power_cut_stored_by_serve_rings_on_an_open_console_and_is_acknowledged(
        station_url, engine, console, new_browser):
    with LiveStation(station_url, terminals=1, meters=2) as live:
        sim = live.call(lambda h: h.sim(1))
        wait_for_alarm_watcher(engine)
        page = new_browser().new_page()
        login(page, console.url, "dispatcher")
        page.goto(console.url + "/alarms")
        assert page.locator("#sound-banner").is_visible()        # sound not allowed yet
        page.click("#enable-sound")
        page.wait_for_selector("#sound-banner", state="hidden")
        assert page.locator("tr.alarm").count() == 0

        live.soon(lambda: (sim.raise_event(dict(POWER_CUT)), sim.heartbeat()))  # ACD -> AFN0E
        row = page.wait_for_selector("tr.alarm[data-severity=critical]", timeout=20000)
        assert "4101-1: Terminal power cut (ERC 14)" in row.inner_text()
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        page.wait_for_function("Number(document.getElementById('sound-critical').dataset.plays"
                               " || 0) >= 1")
        played = page.evaluate("document.getElementById('sound-critical').played.length")
        assert played >= 1                       # the audio element really played
        assert page.locator("#alarm-badge").inner_text() == "1"

        page.fill("tr.alarm input[name=note]", "feeder 3 fuse replaced")
        page.click("tr.alarm button:has-text('Acknowledge')")
        page.wait_for_selector("tr.alarm[data-state=acknowledged]")
        page.reload()
        text = page.locator("tr.alarm").inner_text()
        assert "acknowledged" in text and "dispatcher" in text
        assert "feeder 3 fuse replaced" in text
    with engine.connect() as conn:
        alarm = conn.execute(select(alarms)).one()
        dispatcher = conn.execute(select(users.c.id).where(users.c.name == "dispatcher")).scalar()
        assert (alarm.kind, alarm.state, alarm.acknowledged_by) == \
            ("erc14", "acknowledged", dispatcher)
        assert alarm.event_id is not None and alarm.terminal_id is not None
        assert conn.execute(select(audit_log.c.action).where(
            audit_log.c.user_id == dispatcher, audit_log.c.action == "alarm.acknowledge")
        ).scalar() == "alarm.acknowledge"


def test_a_blocked_browser_shows_the_banner_when_an_alarm_cannot_ring(
        station_url, engine, console, new_browser):
    """No gesture may reach the page before its alarm rings: Playwright's own calls into a page
    count as user activation for Chromium's autoplay policy, so the test watches the database,
    waits, and only then looks at the page."""
    with open_station(station_url, zone=ZONE_NAME) as station:
        station.add_terminals([("4101", 7, "00", "")])
        terminal_id = station.find_terminal("4101", 7).id
    wait_for_alarm_watcher(engine)
    context = new_browser("--autoplay-policy=user-gesture-required")
    login_by_request(context, console.url, "viewer")
    page = context.new_page()
    page.goto(console.url + "/alarms")
    # Only fixed waits can tell when the page has its stream and its alarm: any Playwright
    # call into the page would count as the user gesture this test must not make.
    time.sleep(1.0)                                 # the stream is open
    with open_station(station_url, zone=ZONE_NAME) as station:
        station.store_events([Event(terminal_id, 31, bytes(8), occurred_at=(2026, 12, 7, 3, 0),
                                    pn=2)])
    wait_for("the alarm raised", lambda: alarm_count(engine), 20)
    time.sleep(2 * STREAM_CHECK_S + 1)              # delivered to the page by now
    assert page.evaluate("Number(document.body.dataset.soundBlocked || 0)") >= 1
    assert page.locator("tr.alarm[data-severity=major]").count() == 1
    assert page.locator("#sound-banner").is_visible()
    assert "blocks its sound" in page.locator("#sound-banner").inner_text()
    assert page.evaluate("document.getElementById('sound-major').played.length") == 0
    # A viewer sees the alarm but has no acknowledge form.
    assert page.locator("tr.alarm .ack-form").count() == 0
