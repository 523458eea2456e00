"""The throwaway PostgreSQL server the station's tests and benchmark depend on."""
import os

import pytest

from host_tools.station import pgtest


def test_server_runs_unprivileged_in_its_own_temp_dir(postgres_server):
    if not isinstance(postgres_server, pgtest.ThrowawayPostgres):
        pytest.skip("using the server from %s" % pgtest.ENV_URL)
    data = os.path.join(postgres_server.dir, "data")
    if os.geteuid() == 0:     # initdb/postgres refuse root: they must run as another user
        assert os.stat(data).st_uid != 0
    assert os.path.exists(os.path.join(postgres_server.dir, ".s.PGSQL.5432"))
    import psycopg
    url = postgres_server.create_database("probe")
    with psycopg.connect(url) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""
    postgres_server.drop_database("probe")


def test_missing_postgres_without_root_says_what_to_do(monkeypatch):
    monkeypatch.setattr(pgtest, "find_binaries", lambda: None)
    monkeypatch.setattr(pgtest.os, "geteuid", lambda: 1000)
    with pytest.raises(pgtest.PostgresUnavailable) as info:
        pgtest.ThrowawayPostgres().start()
    assert "apt-get install postgresql" in str(info.value)
    assert pgtest.ENV_SKIP in str(info.value) and pgtest.ENV_URL in str(info.value)


@pytest.mark.parametrize("value,skip", [("", False), ("0", False), ("1", True), ("yes", True)])
def test_explicit_opt_out_only(monkeypatch, value, skip):
    monkeypatch.setenv(pgtest.ENV_SKIP, value)
    assert pgtest.skip_requested() is skip
