"""Fixtures for the front end's tests: a station database on SQLite, or on PostgreSQL for the
tests marked to run on both engines (the throwaway server of host_tools/station/pgtest.py, or
CONC_TEST_POSTGRES_URL's; CONC_SKIP_POSTGRES=1 skips those on purpose)."""
import uuid

import pytest



@pytest.fixture
def sqlite_url(tmp_path):
    return "sqlite:///%s" % (tmp_path / "station.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path):
    """A fresh database on each engine."""
    if request.param == "sqlite":
        yield "sqlite:///%s" % (tmp_path / "station.db")
        return
    server = request.getfixturevalue("postgres_server")
    # The key file that seals terminal passwords: PostgreSQL's default is in the home folder.
    request.getfixturevalue("monkeypatch").setenv("CONC_STATION_KEY",
                                                  str(tmp_path / "station.key"))
    name = "frontend_%s" % uuid.uuid4().hex[:12]
    yield server.create_database(name)
    server.drop_database(name)
