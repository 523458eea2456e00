"""Fixtures for the front end's tests: a station database on SQLite (`sqlite_url`), or on both
engines for the tests that take `db_url` (tests/conftest.py: the throwaway PostgreSQL server of
host_tools/station/pgtest.py, or CONC_TEST_POSTGRES_URL's; CONC_SKIP_POSTGRES=1 skips those on
purpose)."""
import pytest


@pytest.fixture
def sqlite_url(tmp_path):
    return "sqlite:///%s" % (tmp_path / "station.db")


