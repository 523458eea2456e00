"""Fixtures for the business library's tests: every database test runs on SQLite and PostgreSQL.

`engine` is a fresh station database with the business schema, made by
host_tools/business/database.open_business (the one place that becomes `alembic upgrade head`).
`world` adds terminals, meters and frozen values the way the front end stores them.
"""

import pytest
from sqlalchemy import insert, text

from host_tools.business import customers, tariffs, users
from host_tools.business.database import open_business
from host_tools.station.items import energy_item

NOW = 1796083200        # 2026-12-01 00:00:00 UTC
PASSWORD = "correct horse battery"


@pytest.fixture
def engine(db_url):
    engine = open_business(db_url)
    yield engine
    engine.dispose()


class World:
    """Terminals, meters, customers and frozen values for a test, written straight to the
    tables (the collection side as the front end leaves it)."""

    def __init__(self, engine):
        self.engine = engine
        self.terminal_id = None
        with engine.begin() as conn:
            self.admin = users.add_user(conn, "admin", PASSWORD, "admin", NOW)

    def terminal(self, area_code="4101", address=1):
        with self.engine.begin() as conn:
            self.terminal_id = conn.execute(text(
                "INSERT INTO terminals (area_code, address, password, created_at) "
                "VALUES (:a, :b, :pw, :now) RETURNING id"),
                {"a": area_code, "b": address, "pw": "0" * 32, "now": NOW}).scalar()
        return self.terminal_id

    def meter(self, pn, address=None, integer_digits=6, decimal_digits=2):
        if self.terminal_id is None:
            self.terminal()
        with self.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO measuring_points (terminal_id, pn, serial_no, meter_address, "
                "protocol, port, baud, integer_digits, decimal_digits) "
                "VALUES (:t, :pn, :pn, :addr, 30, 2, 2400, :i, :d)"),
                {"t": self.terminal_id, "pn": pn, "addr": address or "%012d" % pn,
                 "i": integer_digits, "d": decimal_digits})
        return self.terminal_id, pn

    def frozen(self, pn, day, *kwh, scale=4, monthly=False):
        """Frozen values of one meter on a day: kwh = (total, r1, r2, r3, r4) as text kWh."""
        table, column = ("monthly_frozen", "month") if monthly else ("daily_frozen", "day")
        rows = [{"t": self.terminal_id, "pn": pn, "item": energy_item("fwd", i), "when": day,
                 "v": int(round(float(v) * 10 ** scale)), "s": scale, "now": NOW}
                for i, v in enumerate(kwh) if v is not None]
        with self.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO %s (terminal_id, pn, item, %s, value, scale, received_at) "
                "VALUES (:t, :pn, :item, :when, :v, :s, :now)" % (table, column)), rows)

    def customer(self, number, pn=None, tariff=None, valid_from="2026-01-01", multiplier=1,
                 area=None):
        with self.engine.begin() as conn:
            customers.add_customer(conn, number, "Customer %s" % number, NOW, area=area)
            if pn is not None:
                customers.attach_meter(conn, number, self.terminal_id, pn, valid_from, NOW,
                                       multiplier=multiplier)
            if tariff is not None:
                tariffs.assign(conn, number, tariff, valid_from, NOW, self.admin)

    def run(self, fn, *args, **kwargs):
        with self.engine.begin() as conn:
            return fn(conn, *args, **kwargs)


@pytest.fixture
def world(engine):
    return World(engine)


def rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


__all__ = ["NOW", "PASSWORD", "World", "insert", "rows"]
