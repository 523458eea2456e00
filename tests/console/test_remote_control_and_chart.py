"""Trip from the meter page through the running front end to the relay's confirmation; the daily
consumption chart drawn from the frozen values."""
import datetime
import re
from decimal import Decimal

from sqlalchemy import select

from host_tools.business.tables import audit_log
from host_tools.station.records import FrozenValue
from host_tools.station.repository import open_station
from tests.console.support import ZONE, ZONE_NAME, LiveStation, login

FAST_CONTROL = {"follow_s": 5.0, "probe_s": 0.3, "offline_wait_s": 2.0}


def test_trip_from_the_meter_page_is_carried_out_and_shown_confirmed(
        station_url, engine, console, new_browser):
    with LiveStation(station_url, terminals=1, meters=2, control_options=FAST_CONTROL) as live:
        sim = live.call(lambda h: h.sim(1, relay_delay_s=0.2))
        terminal_id = live.harness.ids[1]
        page = new_browser().new_page()
        login(page, console.url, "dispatcher")
        page.goto(console.url + "/meters/%d/2" % terminal_id)
        assert page.locator("#relay-state").inner_text() == "unknown"
        page.click("button[value=trip]")                    # no reason yet: nothing happens
        assert not page.locator("#confirm-dialog").is_visible()
        page.fill("input[name=reason]", "arrears case 17")
        page.click("button[value=trip]")
        dialog = page.locator("#confirm-dialog")
        assert dialog.is_visible()
        assert "Disconnect this meter (trip)? Reason: arrears case 17" in dialog.inner_text()
        page.click("#confirm-ok")
        page.wait_for_url(re.compile(r".*/commands/\d+$"))
        page.wait_for_selector("#command-state:text('confirmed')", timeout=30000)
        steps = page.locator("#command-steps").inner_text()
        assert "relay" in steps and "confirmed" in steps
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        command_id = int(page.url.rsplit("/", 1)[1])
        command = live.harness.station.command(command_id)
        assert (command.kind, command.pn, command.operator, command.reason, command.state) == \
            ("trip", 2, "dispatcher", "arrears case 17", "confirmed")
        assert live.soon(lambda: sim.requests.count((0x05, [(2, 1)]))) == 1
        page.goto(console.url + "/meters/%d/2" % terminal_id)
        assert page.locator("#relay-state").inner_text() == "tripped"
    with engine.connect() as conn:
        assert conn.execute(select(audit_log.c.action, audit_log.c.subject)).all() \
            == [("console.login", "user:dispatcher"), ("relay.trip", "meter:4101-1:2")]


def test_a_viewer_has_no_trip_button_and_the_api_refuses_it(station_url, engine, console,
                                                             new_browser):
    with open_station(station_url, zone=ZONE_NAME) as station:
        station.add_terminals([("4101", 3, "00", "")])
        terminal_id = station.find_terminal("4101", 3).id
        station.set_measuring_points(terminal_id, [{"pn": 1, "meter_address": "000003000001"}])
    page = new_browser().new_page()
    login(page, console.url, "cashier")
    page.goto(console.url + "/meters/%d/1" % terminal_id)
    assert page.locator("button[value=trip]").count() == 0
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = page.request.post(console.url + "/api/meters/%d/1/relay" % terminal_id,
                               data={"kind": "trip", "reason": "x"},
                               headers={"X-CSRF-Token": token})
    assert answer.status == 403 and "trip or close" in answer.json()["error"]
    with open_station(station_url, zone=ZONE_NAME) as station:
        assert station.commands() == []


def test_the_meter_page_charts_daily_consumption_from_frozen_values(
        station_url, engine, console, new_browser):
    today = datetime.datetime.now(ZONE).date()
    with open_station(station_url, zone=ZONE_NAME) as station:
        station.add_terminals([("4101", 5, "00", "")])
        terminal_id = station.find_terminal("4101", 5).id
        station.set_measuring_points(terminal_id, [{"pn": 1, "meter_address": "000005000001"}])
        # 11 midnight readings -> 10 days of consumption: 1.5, 2.5, ... kWh; one day missing.
        register = Decimal("1000.0000")
        values = []
        for n in range(11, 0, -1):
            day = today - datetime.timedelta(days=n)
            if n != 4:
                values.append(FrozenValue(terminal_id, 1, "energy_fwd_total", day.isoformat(),
                                          register))
            register += Decimal("1.5") + (11 - n)
        station.store_daily_frozen(values)
    page = new_browser().new_page()
    login(page, console.url, "viewer")
    page.goto(console.url + "/meters/%d/1" % terminal_id)
    # the newest register reading as stored, exact, as `conc station readings --daily` shows it
    tile = page.locator(".tile", has_text="Latest daily frozen")
    assert tile.locator("p.big").text_content() == "1060.0000 kWh"
    assert "energy_fwd_total at 00:00 of %s" % (today - datetime.timedelta(days=1)).isoformat() \
        in tile.text_content()
    chart = page.locator("svg.chart")
    assert chart.is_visible()
    bars = chart.locator("rect.bar")
    # 10 days, of which the two around the missing midnight are unknown
    assert bars.count() == 8
    assert int(chart.get_attribute("data-bars")) == 8
    day = (today - datetime.timedelta(days=11)).isoformat()
    assert bars.first.locator("title").text_content() == "%s: 1.5 kWh" % day
    heights = [float(bars.nth(i).get_attribute("height")) for i in range(bars.count())]
    assert heights == sorted(heights) and heights[0] > 0
    # The chart shows 30 days: the other 22 (no values, or today still running) are marked.
    assert chart.locator("text.missing").count() == 30 - 8
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 80
