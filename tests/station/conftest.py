"""Fixtures for the station's tests: every database test runs on SQLite and on PostgreSQL.

The PostgreSQL server is a throwaway one started once per test process (host_tools/station/
pgtest.py: found or installed binaries, temp dir, unix socket), or the server named by
CONC_TEST_POSTGRES_URL. Each test gets a fresh database (`db_url`, tests/conftest.py). If PostgreSQL cannot be started the
PostgreSQL tests FAIL with the reason; a developer may opt out with CONC_SKIP_POSTGRES=1.
"""

import pytest

from host_tools.station.repository import open_station

ZONE = "Asia/Shanghai"
START = 1796083200    # 2026-12-01 00:00:00 UTC = 08:00 in Shanghai


class FakeClock:
    """A clock tests move by hand: Unix seconds."""

    def __init__(self, now=START):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def station(db_url, clock):
    with open_station(db_url, zone=ZONE, clock=clock) as opened:
        yield opened


@pytest.fixture
def terminal(station):
    return station.add_terminal("4101", 1, "00", name="north-yard")
