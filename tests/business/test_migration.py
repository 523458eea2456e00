"""Revision 0002_business: it creates what host_tools/business/tables.py describes, on both
engines, and a V1 station database made before Alembic upgrades to it without loss."""
import shutil
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from host_tools.business import customers, users
from host_tools.business.database import open_business
from host_tools.business.tables import metadata
from host_tools.station import schema
from tests.business.conftest import NOW, PASSWORD

V1_FILE = Path(__file__).resolve().parent.parent / "station" / "data" / "v1_station.db"


def test_the_revision_creates_the_tables_of_tables_py(engine):
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    business = set(metadata.tables)

    def ours(diff):
        # Diffs about collection tables (not described in tables.py) are not ours to judge;
        # foreign keys into them are declared in the revision only (tables.py says so).
        kind, item = diff[0], diff[1]
        if kind == "remove_table":
            return item.name in business
        if kind in ("add_fk", "remove_fk"):
            return item.parent.name in business and item.referred_table.name in business
        table = getattr(item, "table", None)
        return table is None or table.name in business

    flat = [d for diff in differences for d in (diff if isinstance(diff, list) else [diff])]
    assert [d for d in flat if ours(d)] == []
    with engine.connect() as conn:
        assert "user_id" in {c["name"] for c in inspect(conn).get_columns("commands")}
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == \
            schema.head()


def test_a_v1_file_upgrades_and_keeps_its_commands(tmp_path):
    path = tmp_path / "station.db"
    shutil.copy(V1_FILE, path)
    engine = open_business("sqlite:///%s" % path)
    try:
        with engine.begin() as conn:
            assert conn.execute(text("SELECT kind, state, operator, user_id FROM commands")
                                ).all() == [("trip", "confirmed", "alice", None)]
            assert conn.execute(text("SELECT count(*) FROM daily_frozen")).scalar() > 0
            admin = users.add_user(conn, "admin", PASSWORD, "admin", NOW)
            customers.add_customer(conn, "C1", "Wang Fang", NOW)
        assert admin.id == 1
    finally:
        engine.dispose()
