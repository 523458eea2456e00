"""`conc station demo-data`: deterministic, realistic enough for the console and the benchmarks
(frozen values that billing, statistics and statements all use), and refusing to run twice."""
import hashlib
import json
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from host_tools.business import demo_data, stats
from host_tools.business.database import open_business
from host_tools.business.tables import arrears_cases, customers, payments, service_points
from host_tools.cli import conc

UNTIL = "2026-12-01"


def _digest(engine):
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT terminal_id, pn, item, day, value FROM daily_frozen "
                                 "ORDER BY terminal_id, pn, item, day")).all()
        names = conn.execute(select(customers.c.number, customers.c.name)
                             .order_by(customers.c.number)).all()
    return hashlib.sha256(repr((rows, names)).encode()).hexdigest(), len(rows)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """40 customers (an area of 4 concentrators... 1 area), 2 months billed: shared by the
    read-only tests below."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = open_business("sqlite:///%s" % path)
    summary = demo_data.generate(engine, 40, seed=5, until=UNTIL, password="demo-password",
                                 billed_months=2)
    yield engine, summary
    engine.dispose()


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(demo, tmp_path):
    engine, summary = demo
    again = open_business("sqlite:///%s" % (tmp_path / "again.db"))
    demo_data.generate(again, 40, seed=5, until=UNTIL, password="demo-password",
                       billed_months=0)
    other = open_business("sqlite:///%s" % (tmp_path / "other.db"))
    demo_data.generate(other, 40, seed=6, until=UNTIL, password="demo-password",
                       billed_months=0)
    first, count = _digest(engine)
    assert _digest(again) == (first, count)
    assert _digest(other)[0] != first
    # 40 customers' meters x 5 registers x 366 days (the swapped pair shares the swap day) and
    # 1 supply meter x 366 days, less about 0.3 % unread meter-days
    full = 40 * 5 * 366 + 5 + 366
    assert summary["frozen_values"] == count
    assert 0.99 * full < count < full


def test_a_year_with_a_meter_swap_line_loss_and_billing(demo):
    engine, summary = demo
    assert (summary["first_day"], summary["last_day"]) == ("2025-12-01", UNTIL)
    assert (summary["areas"], summary["terminals"], summary["meters"]) == (1, 4, 42)
    with engine.connect() as conn:
        swapped = conn.execute(select(service_points.c.valid_from, service_points.c.valid_to)
                               .join(customers).where(
            customers.c.number == summary["swapped_customer"]["customer"])
            .order_by(service_points.c.valid_from)).all()
        assert [tuple(r) for r in swapped] == [
            ("2025-12-01", summary["swapped_customer"]["day"]),
            (summary["swapped_customer"]["day"], None)]
        # Every month's line loss is a few per cent; in the last month two customer meters
        # have no value (their statements are held) and the loss shown is too high.
        losses = stats.line_loss(conn, "2025-12", "2026-11")
        assert [r["missing"] for r in losses] == [0] * 11 + [2]
        for row in losses[:-1]:
            assert between(row["loss_rate"], "0.015", "0.065"), row
        monthly = stats.consumption(conn, "2026-11", "2026-11", stats.MONTH)
        assert all(r["kwh_e4"] is not None for r in monthly if r["customer"] not in
                   ("C000004", "C000006"))
        paid = conn.execute(select(func.count()).select_from(payments)).scalar()
        cases = conn.execute(select(func.count()).select_from(arrears_cases)).scalar()
    billed = {p["period"]: p for p in summary["periods"]}
    assert list(billed) == ["2026-10", "2026-11"]
    assert billed["2026-11"]["held"] == 2          # two meters not read on the last 1st
    assert billed["2026-10"]["issued"] == 40
    assert paid == sum(p["paid"] for p in summary["periods"]) > 30
    assert cases == sum(p["arrears_opened"] for p in summary["periods"])


def between(value, low, high):
    return value is not None and Decimal(low) <= value <= Decimal(high)


def test_the_cli_fills_a_database_once(tmp_path, monkeypatch):
    monkeypatch.setenv("CONC_STATION_PASSWORD", "demo-password")
    db = "sqlite:///%s" % (tmp_path / "cli.db")
    runner = CliRunner()
    args = ["station", "demo-data", "--db", db, "--customers", "12", "--until", UNTIL,
            "--billed-months", "1"]
    result = runner.invoke(conc, args + ["--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["customers"] == 12 and summary["users"] == [
        "admin", "cashier", "clerk", "dispatcher", "viewer"]
    result = runner.invoke(conc, args)
    assert result.exit_code == 4
    assert "has customers already" in result.output
    result = runner.invoke(conc, ["station", "statements", "--db", db, "--period", "2026-11",
                                  "-o", str(tmp_path / "s.pdf")])
    assert result.exit_code == 0, result.output
    assert "wrote 10 statements of 2026-11" in result.output       # 12 less 2 held
    assert "not printed, held" in result.output
    result = runner.invoke(conc, ["station", "demo-data", "--db", db, "--until", "12/01"])
    assert result.exit_code == 4 and "bad --until" in result.output


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_takes_the_bulk_load_with_the_same_rows_as_sqlite(db_url, tmp_path):
    engine = open_business(db_url)
    summary = demo_data.generate(engine, 12, seed=3, until=UNTIL, password="demo-password",
                                 billed_months=1)
    lite = open_business("sqlite:///%s" % (tmp_path / "lite.db"))
    demo_data.generate(lite, 12, seed=3, until=UNTIL, password="demo-password", billed_months=0)
    assert summary["frozen_values"] == _digest(engine)[1] > 12 * 5 * 360
    assert _digest(engine) == _digest(lite)
    assert summary["periods"][0]["issued"] == 10
    # The key and the foreign key dropped for the load are back.
    with engine.connect() as conn:
        kinds = conn.execute(text("SELECT contype FROM pg_constraint WHERE conrelid = "
                                  "CAST('daily_frozen' AS regclass) ORDER BY contype")).scalars()
        assert list(kinds) == ["f", "p"]
        row = conn.execute(text("SELECT * FROM daily_frozen LIMIT 1")).mappings().one()
        with pytest.raises(IntegrityError):
            conn.execute(text("INSERT INTO daily_frozen (%s) VALUES (%s)" % (
                ", ".join(row), ", ".join(":" + k for k in row))), dict(row))
    engine.dispose()
    lite.dispose()
