"""host_tools.business.frozen_load: series of daily frozen values go in as the rows the front end
would have stored (day, value, scale, received_at), gaps left out, on SQLite and PostgreSQL;
the table keeps its key, and a failed load leaves nothing behind."""
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from host_tools.business import frozen_load
from tests.business.conftest import World

DAYS = ["2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01"]
RECEIVED = [1796000000, 1796086400, 1796172800, 1796259200]


def _rows(engine):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT pn, item, day, value, scale, read_at, received_at FROM daily_frozen "
            "ORDER BY pn, item, day"))]


def test_series_become_rows_with_their_days_and_gaps_left_out(engine):
    terminal_id = World(engine).terminal()
    with engine.begin() as conn:
        with frozen_load.bulk_load(conn, DAYS, RECEIVED, scale=4) as load:
            load.series(terminal_id, 1, "energy_fwd_total", 0, [100, None, 350, 12_345_678_901])
            load.series(terminal_id, 2, "energy_fwd_t3", 2, [7, 9])    # from the third day
    assert load.rows == 5
    assert _rows(engine) == [
        (1, "energy_fwd_total", "2026-11-28", 100, 4, None, 1796000000),
        (1, "energy_fwd_total", "2026-11-30", 350, 4, None, 1796172800),
        (1, "energy_fwd_total", "2026-12-01", 12_345_678_901, 4, None, 1796259200),
        (2, "energy_fwd_t3", "2026-11-30", 7, 4, None, 1796172800),
        (2, "energy_fwd_t3", "2026-12-01", 9, 4, None, 1796259200)]
    # The key is in force again after the load (PostgreSQL drops it for the load).
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO daily_frozen (terminal_id, pn, item, day, value, scale, "
                          "received_at) VALUES (:t, 1, 'energy_fwd_total', '2026-11-28', 1, 4, 0)"),
                     {"t": terminal_id})


def test_a_failed_load_leaves_the_table_as_it_was(engine):
    terminal_id = World(engine).terminal()
    with engine.begin() as conn:
        with frozen_load.bulk_load(conn, DAYS, RECEIVED, scale=4) as load:
            load.series(terminal_id, 1, "energy_fwd_total", 0, [1, 2, 3, 4])
    with pytest.raises(RuntimeError), engine.begin() as conn:
        with frozen_load.bulk_load(conn, DAYS, RECEIVED, scale=4) as load:
            load.series(terminal_id, 2, "energy_fwd_total", 0, [5, 6, 7, 8])
            raise RuntimeError("the generator failed")
    assert [r[:4] for r in _rows(engine)] == [(1, "energy_fwd_total", d, v) for d, v in
                                              zip(DAYS, [1, 2, 3, 4], strict=True)]
    # and the next load works (nothing left of the failed one: temp table, dropped keys)
    with engine.begin() as conn:
        with frozen_load.bulk_load(conn, DAYS, RECEIVED, scale=4) as load:
            load.series(terminal_id, 2, "energy_fwd_total", 1, [6, 7, 8])
    assert len(_rows(engine)) == 7
