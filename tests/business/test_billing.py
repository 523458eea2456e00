"""Golden billing cases, each worked by hand in its comment, on SQLite and PostgreSQL.

Period 2026-11 with reading day 1: from the frozen values of 00:00 on 2026-11-01 to those of
00:00 on 2026-12-01 (daily F161, or monthly F177 of 2026-10 / 2026-11 when present).
"""
import pytest

from host_tools.business import billing, customers, ledger, settings, tariffs
from tests.business.conftest import NOW, rows

TOU = {1: 10000, 2: 8000, 3: 5500, 4: 3000}       # sharp 1.00, peak 0.80, flat 0.55, valley 0.30
TIERS = [(0, 0), (180, 500), (280, 3000)]         # 0-180 +0, 181-280 +0.05, >280 +0.30 yuan/kWh


def flat(world, code="F", price=5000, tiers=(), fixed=0):
    world.run(tariffs.add_tariff, code, "Flat %s" % code, "flat", "2026-01-01", NOW,
              flat_price_e4=price, tiers=tiers, fixed_monthly_fen=fixed)


def tou(world, code="T", tiers=(), fixed=0):
    world.run(tariffs.add_tariff, code, "TOU %s" % code, "tou", "2026-01-01", NOW, prices=TOU,
              tiers=tiers, fixed_monthly_fen=fixed)


def bill(world, **kwargs):
    return world.run(billing.run, "2026-11", NOW, world.admin, **kwargs)


def only(result):
    assert len(result.statements) == 1
    return result.statements[0]


def amounts(statement):
    return [(line.kind, line.register, line.kwh_e4, line.price_e4, line.amount_fen)
            for line in statement.lines]


def test_flat_rounds_each_line_half_up(world):
    # 1000.00 -> 1100.25 kWh: 100.25 kWh x 0.5000 = 50.125 yuan -> 50.13 (half-up, not 50.12)
    flat(world)
    world.meter(1)
    world.frozen(1, "2026-11-01", "1000.00")
    world.frozen(1, "2026-12-01", "1100.25")
    world.customer("C1", pn=1, tariff="F")
    s = only(bill(world))
    assert s.state == "draft" and s.number == "2026-11-000001"
    assert amounts(s) == [("energy", 0, 1002500, 5000, 5013)]
    assert s.lines[0].opening_e4 == 10000000 and s.lines[0].closing_e4 == 11002500
    assert (s.kwh_e4, s.total_fen, s.opening_balance_fen, s.amount_due_fen) == (1002500, 5013, 0,
                                                                                  5013)


def test_time_of_use_prices_each_register(world):
    # sharp 10.50 x 1.00 = 10.50; peak 30.25 x 0.80 = 24.20; flat 50.00 x 0.55 = 27.50;
    # valley 20.01 x 0.30 = 6.003 -> 6.00; total 68.20 yuan for 110.76 kWh
    tou(world)
    world.meter(1)
    world.frozen(1, "2026-11-01", "1000", "100", "200", "300", "400")
    world.frozen(1, "2026-12-01", "1110.76", "110.5", "230.25", "350", "420.01")
    world.customer("C1", pn=1, tariff="T")
    s = only(bill(world))
    assert amounts(s) == [("energy", 1, 105000, 10000, 1050), ("energy", 2, 302500, 8000, 2420),
                          ("energy", 3, 500000, 5500, 2750), ("energy", 4, 200100, 3000, 600)]
    assert s.total_fen == 6820 and s.kwh_e4 == 1107600


@pytest.mark.parametrize("used, tier_lines, total", [
    ("180", [], 9000),                                          # 180 x 0.5, all in tier 1
    # 90.005 -> 90.01; 0.01 kWh in tier 2: 0.0005 -> 0.00
    ("180.01", [("tier", 0, 100, 500, 0)], 9001),
    ("280", [("tier", 0, 1000000, 500, 500)], 14500),           # 140 + 100 x 0.05
    ("281.5", [("tier", 0, 1000000, 500, 500),                  # 140.75 + 5.00 + 1.5 x 0.30
               ("tier", 0, 15000, 3000, 45)], 14620),
    ("300", [("tier", 0, 1000000, 500, 500), ("tier", 0, 200000, 3000, 600)], 16100),
])
def test_tiers_across_their_boundaries(world, used, tier_lines, total):
    flat(world, tiers=TIERS)
    world.meter(1)
    world.frozen(1, "2026-11-01", "0")
    world.frozen(1, "2026-12-01", used)
    world.customer("C1", pn=1, tariff="F")
    s = only(bill(world))
    assert amounts(s)[1:] == tier_lines
    assert s.total_fen == total == sum(line.amount_fen for line in s.lines)


def test_time_of_use_with_tiers_and_a_fixed_charge(world):
    # 50 x 1.00 + 100 x 0.80 + 60 x 0.55 + 40 x 0.30 = 175.00 for 250 kWh;
    # tier 2: 70 kWh x 0.05 = 3.50; fixed 5.00; total 183.50
    tou(world, tiers=TIERS, fixed=500)
    world.meter(1)
    world.frozen(1, "2026-11-01", "0", "0", "0", "0", "0")
    world.frozen(1, "2026-12-01", "250", "50", "100", "60", "40")
    world.customer("C1", pn=1, tariff="T")
    s = only(bill(world))
    assert [line.amount_fen for line in s.lines] == [5000, 8000, 3300, 1200, 350, 500]
    assert [line.kind for line in s.lines][-2:] == ["tier", "fixed"]
    assert s.total_fen == 18350


def test_meter_swap_mid_period_bills_both_meters(world):
    # old meter 500 -> 560 until 00:00 on 11-16 (60 kWh), new meter 0 -> 45.5 from then:
    # 105.5 kWh x 0.5 = 30.00 + 22.75 = 52.75
    flat(world)
    world.meter(1)
    world.meter(2)
    world.frozen(1, "2026-11-01", "500")
    world.frozen(1, "2026-11-16", "560")
    world.frozen(2, "2026-11-16", "0")
    world.frozen(2, "2026-12-01", "45.5")
    world.customer("C1", pn=1, tariff="F")
    world.run(customers.attach_meter, "C1", world.terminal_id, 2, "2026-11-16", NOW)
    s = only(bill(world))
    assert [(line.opening_e4, line.closing_e4, line.amount_fen) for line in s.lines] == [
        (5000000, 5600000, 3000), (0, 455000, 2275)]
    assert s.total_fen == 5275 and s.kwh_e4 == 1055000


def test_multiplier_scales_consumption(world):
    # CT 50/5 x PT 1 = 10: (22.34 - 10.00) x 10 = 123.4 kWh x 0.5 = 61.70
    flat(world)
    world.meter(1)
    world.frozen(1, "2026-11-01", "10.00")
    world.frozen(1, "2026-12-01", "22.34")
    world.customer("C1", pn=1, tariff="F", multiplier=10)
    s = only(bill(world))
    assert (s.lines[0].multiplier, s.lines[0].kwh_e4, s.total_fen) == (10, 1234000, 6170)


def test_monthly_frozen_value_is_taken_first_on_the_first(world):
    # F177 of 2026-11 (frozen at 00:00 on 12-01) 1200 beats a daily value of 1300 that day
    flat(world)
    world.meter(1)
    world.frozen(1, "2026-10", "1000", monthly=True)
    world.frozen(1, "2026-11", "1200", monthly=True)
    world.frozen(1, "2026-12-01", "1300")
    world.customer("C1", pn=1, tariff="F")
    assert only(bill(world)).total_fen == 10000       # 200 kWh x 0.5


def test_other_reading_day(world):
    # reading day 15: 00:00 on 11-15 to 00:00 on 12-15; due 15 days later
    flat(world)
    world.run(settings.put, "reading_day", 15, NOW)
    world.meter(1)
    world.frozen(1, "2026-11-01", "0")
    world.frozen(1, "2026-11-15", "100")
    world.frozen(1, "2026-12-15", "150")
    world.customer("C1", pn=1, tariff="F")
    result = bill(world)
    assert (result.period.start_day, result.period.end_day, result.period.due_day) == (
        "2026-11-15", "2026-12-15", "2026-12-30")
    assert only(result).total_fen == 2500


def test_missing_frozen_value_holds_and_estimate_is_explicit(world):
    flat(world)
    world.meter(1)
    world.frozen(1, "2026-11-01", "100")
    world.frozen(1, "2026-11-29", "150")
    world.frozen(1, "2026-12-03", "154")
    world.customer("C1", pn=1, tariff="F")
    s = only(bill(world))
    assert s.state == "held" and s.lines == [] and s.total_fen == 0
    assert "energy_fwd_total" in s.hold_reason and "2026-12-01" in s.hold_reason
    assert "000000000001" in s.hold_reason
    # --estimate: linear between 11-29 (150) and 12-03 (154): 152 at 12-01; 52 kWh x 0.5 = 26.00
    s = only(bill(world, estimate=True))
    assert (s.state, s.estimated, s.total_fen) == ("draft", True, 2600)
    assert "(estimated)" in s.lines[0].description
    assert "2026-11-000001" == s.number        # the held statement, now a draft
    logged = rows(world.engine, "SELECT detail FROM audit_log WHERE action = 'billing.run' "
                  "ORDER BY id")
    assert '"estimate": false' in logged[0][0] and '"estimate": true' in logged[1][0]
    assert "2026-11-000001" in logged[1][0]


def test_decrease_is_an_exception_unless_the_register_wrapped(world):
    flat(world)
    world.meter(1, integer_digits=6)
    world.meter(2, integer_digits=6)
    world.frozen(1, "2026-11-01", "500")
    world.frozen(1, "2026-12-01", "499")
    # 999950 -> 30 on a 6-digit register: wrapped, 80 kWh x 0.5 = 40.00
    world.frozen(2, "2026-11-01", "999950")
    world.frozen(2, "2026-12-01", "30")
    world.customer("C1", pn=1, tariff="F")
    world.customer("C2", pn=2, tariff="F")
    first, second = bill(world).statements
    assert first.state == "held" and first.hold_reason.startswith("exception:")
    assert "500.0000" in first.hold_reason and "499.0000" in first.hold_reason
    assert (second.state, second.total_fen, second.kwh_e4) == ("draft", 4000, 800000)
    assert "rolled over" in second.lines[0].description


def test_no_tariff_or_no_meter_is_held(world):
    flat(world)
    world.meter(1)
    world.customer("C1", pn=1)
    world.customer("C2", tariff="F")
    first, second = bill(world).statements
    assert (first.state, first.hold_reason) == ("held", "no tariff in force at the end of the "
                                                "period")
    assert (second.state, second.hold_reason) == ("held", "no meter in service during the period")


def test_rerun_changes_nothing_and_charges_once(world):
    flat(world)
    world.meter(1)
    world.meter(2)
    for pn in (1, 2):
        world.frozen(pn, "2026-11-01", "0")
        world.frozen(pn, "2026-12-01", "100")
    world.customer("C1", pn=1, tariff="F")
    world.customer("C2", pn=2, tariff="F")
    first = bill(world)
    assert (first.created, first.unchanged) == (2, 0)
    before = rows(world.engine, "SELECT * FROM statement_lines ORDER BY id")
    again = bill(world)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert [s.number for s in again.statements] == [s.number for s in first.statements]
    assert rows(world.engine, "SELECT * FROM statement_lines ORDER BY id") == before
    assert world.run(billing.issue, "2026-11", NOW, world.admin) == 2
    assert world.run(billing.issue, "2026-11", NOW, world.admin) == 0
    third = bill(world)
    assert third.issued_kept == 2 and third.created == 0
    assert world.run(ledger.balance, "C1") == -5000
    assert rows(world.engine, "SELECT count(*) FROM ledger")[0][0] == 2


def test_void_reverses_the_charge_and_the_next_run_bills_afresh(world):
    flat(world)
    world.meter(1)
    world.frozen(1, "2026-11-01", "0")
    world.frozen(1, "2026-12-01", "100")
    world.customer("C1", pn=1, tariff="F")
    bill(world)
    world.run(billing.issue, "2026-11", NOW, world.admin)
    world.run(billing.void, "2026-11-000001", NOW, world.admin, "wrong multiplier")
    assert world.run(ledger.balance, "C1") == 0
    s = only(bill(world))
    assert (s.number, s.state) == ("2026-11-000002", "draft")


def test_dry_run_writes_nothing(world):
    flat(world)
    world.meter(1)
    world.frozen(1, "2026-11-01", "0")
    world.frozen(1, "2026-12-01", "100")
    world.customer("C1", pn=1, tariff="F")
    s = only(bill(world, dry_run=True))
    assert s.total_fen == 5000 and s.number is None
    assert rows(world.engine, "SELECT count(*) FROM statements")[0][0] == 0
    assert rows(world.engine, "SELECT count(*) FROM billing_periods")[0][0] == 0
