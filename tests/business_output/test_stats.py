"""Statistics worked by hand on a small area: two customers (one meter swapped on 2026-11-03,
one behind a x2 CT whose register goes back once and misses a day), the area's supply meter
behind a x10 CT, and a customer outside the area whose consumption jumps."""
import json
from decimal import Decimal

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from host_tools.business import customers, stats
from host_tools.business.errors import BusinessError, NotFound
from host_tools.cli import conc
from tests.business_output.conftest import NOW

SUPPLY = {"2026-11-01": "1000.0", "2026-11-02": "1001.5", "2026-11-03": "1002.6",
          "2026-11-04": "1003.4", "2026-11-05": "1004.0", "2026-12-01": "1030.0"}
A_OLD = {"2026-11-01": "100.00", "2026-11-02": "105.00", "2026-11-03": "111.00"}
A_NEW = {"2026-11-03": "0.50", "2026-11-04": "6.50", "2026-11-05": "6.50", "2026-12-01": "106.50"}
B = {"2026-11-01": "50", "2026-11-02": "52", "2026-11-03": "54", "2026-11-04": "53",
     "2026-12-01": "90"}
C = {"2026-11-01": "0", "2026-11-02": "2", "2026-11-03": "4", "2026-11-04": "6",
     "2026-11-05": "16"}


@pytest.fixture
def area(world):
    terminal_id = world.terminal()
    for pn in (1, 2, 3, 4, 5):
        world.meter(pn)
    for pn, values in ((1, SUPPLY), (2, A_OLD), (3, B), (4, A_NEW), (5, C)):
        for day, value in values.items():
            world.frozen(pn, day, value)
    world.run(customers.add_area, "TQ1", "东关1号台区", NOW, supply=(terminal_id, 1),
              supply_multiplier=10)
    world.customer("A", pn=2, valid_from="2026-10-01", area="TQ1")
    world.customer("B", pn=3, valid_from="2026-10-01", area="TQ1", multiplier=2)
    world.customer("C", pn=5, valid_from="2026-10-01")
    world.run(customers.attach_meter, "A", terminal_id, 4, "2026-11-03", NOW)
    return world


def _by(rows, *keys):
    if len(keys) == 1:
        return {r[keys[0]]: r for r in rows}
    return {tuple(r[k] for k in keys): r for r in rows}


def kwh(text):
    return int(Decimal(text) * 10000)


def test_daily_consumption_per_customer_follows_the_swap_and_flags_zero_negative_missing(area):
    rows = _by(area.run(stats.consumption, "2026-11-01", "2026-11-04"), "customer", "period")
    assert rows["A", "2026-11-01"]["kwh_e4"] == kwh("5")
    assert rows["A", "2026-11-03"]["kwh_e4"] == kwh("6")            # the new meter's first day
    assert (rows["A", "2026-11-04"]["kwh_e4"], rows["A", "2026-11-04"]["flag"]) == (0, "zero")
    assert rows["B", "2026-11-01"]["kwh_e4"] == kwh("4")             # x2
    assert (rows["B", "2026-11-03"]["kwh_e4"], rows["B", "2026-11-03"]["flag"]) == \
        (kwh("-2"), "negative")
    assert (rows["B", "2026-11-04"]["kwh_e4"], rows["B", "2026-11-04"]["missing"]) == (None, 1)
    assert rows["C", "2026-11-04"]["flag"] == "sudden"               # 10 kWh after 2, 2, 2
    assert [rows["C", d]["flag"] for d in ("2026-11-01", "2026-11-02", "2026-11-03")] == \
        ["", "", ""]


def test_monthly_consumption_adds_both_meters_of_a_swap(area):
    rows = _by(area.run(stats.consumption, "2026-11", "2026-11", stats.MONTH), "customer")
    assert rows["A"]["kwh_e4"] == kwh("117")                        # 11 old + 106 new
    assert rows["B"]["kwh_e4"] == kwh("80")
    per_meter = area.run(stats.consumption, "2026-11", "2026-11", stats.MONTH, "meter",
                         customer="A")
    assert sorted(r["kwh_e4"] for r in per_meter) == [kwh("11"), kwh("106")]
    per_area = area.run(stats.consumption, "2026-11", "2026-11", stats.MONTH, "area")
    assert [(r["area"], r["kwh_e4"]) for r in per_area if r["area"]] == [("TQ1", kwh("197"))]


def test_line_loss_per_day_and_month(area):
    daily = _by(area.run(stats.line_loss, "2026-11-01", "2026-11-04", stats.DAY), "period")
    assert daily["2026-11-01"]["supply_kwh_e4"] == kwh("15")
    assert daily["2026-11-01"]["consumed_kwh_e4"] == kwh("9")
    assert daily["2026-11-01"]["loss_rate"] == Decimal("0.4000")
    assert daily["2026-11-02"]["loss_rate"] == Decimal("0.0909")     # 1 of 11
    assert daily["2026-11-03"]["loss_kwh_e4"] == kwh("4")            # 8 - (6 - 2)
    assert (daily["2026-11-04"]["missing"], daily["2026-11-04"]["meters"]) == (1, 2)
    (month,) = area.run(stats.line_loss, "2026-11", "2026-11")
    assert (month["supply_kwh_e4"], month["consumed_kwh_e4"]) == (kwh("300"), kwh("197"))
    assert month["loss_rate"] == Decimal("0.3433")
    assert month["missing"] == 0


def test_line_loss_without_a_supply_value_has_no_rate(area):
    (row,) = area.run(stats.line_loss, "2026-11-05", "2026-11-05", stats.DAY)
    assert row["supply_kwh_e4"] is None and row["loss_rate"] is None


def test_read_success_counts_the_meters_in_service_that_day(area):
    rows = _by(area.run(stats.read_success, "2026-11-03", "2026-11-05"), "day")
    assert (rows["2026-11-03"]["read"], rows["2026-11-03"]["expected"]) == (4, 4)
    assert (rows["2026-11-04"]["read"], rows["2026-11-04"]["expected"]) == (3, 3)
    assert (rows["2026-11-05"]["read"], rows["2026-11-05"]["rate"]) == (2, Decimal("0.6667"))


def test_top_consumers(area):
    top = area.run(stats.top_consumers, "2026-11", "2026-11", stats.MONTH, 1)
    assert [(r["customer"], r["kwh_e4"]) for r in top] == [("A", kwh("117"))]


def test_bad_ranges_and_unknown_areas_are_refused(area):
    with pytest.raises(BusinessError, match="YYYY-MM-DD"):
        area.run(stats.consumption, "2026-11", "2026-11-04")
    with pytest.raises(BusinessError, match="after the last"):
        area.run(stats.line_loss, "2026-12", "2026-11")
    with pytest.raises(NotFound, match="no area"):
        area.run(stats.line_loss, "2026-11", "2026-11", area="TQ9")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_prints_json_csv_and_writes_xlsx(area, db_url, tmp_path):
    runner = CliRunner()
    base = ["station", "stats", "line-loss", "--from", "2026-11", "--db", db_url]
    result = runner.invoke(conc, base + ["--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["loss_rate"] == "0.3433"
    assert json.loads(result.output)[0]["supply_kwh"] == "300.00"
    result = runner.invoke(conc, base)
    assert "34.33 %" in result.output and "300.00" in result.output
    result = runner.invoke(conc, ["station", "stats", "consumption", "--from", "2026-11-01",
                                  "--to", "2026-11-04", "--flagged", "--csv", "--db", db_url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "day,customer,name,area,kWh,missing,flag"
    assert "2026-11-03,B,Customer B,TQ1,-2.00,0,negative" in lines
    path = tmp_path / "loss.xlsx"
    result = runner.invoke(conc, base + ["--daily", "--from", "2026-11-01", "--to",
                                         "2026-11-02", "--xlsx", str(path)])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(path).active
    assert [c.value for c in sheet[1]][:4] == ["day", "area",
                                            "area name", "supply kWh"]
    assert sheet["D2"].value == 15 and sheet["G2"].number_format == "0.00%"
    result = runner.invoke(conc, base[:-2] + ["--area", "TQ9", "--db", db_url])
    assert result.exit_code == 4 and "no area 'TQ9'" in result.output
