"""The station's tables as SQLAlchemy Core objects: what queries are built from.

    from host_tools.station.tables import terminals, readings
    conn.execute(select(terminals.c.id).where(terminals.c.area_code == "4101"))

These describe the schema the migrations (migrations/versions/) create; they never create it
themselves. A test compares them with a migrated database on both engines, so a migration that
changes a table changes it here too. Other parts of the station (host_tools/business/) keep their
tables in their own MetaData and may reference these (e.g. a foreign key to terminals.id).

Column conventions: `*_at` columns are Unix seconds UTC; `day`/`month` are the terminal's calendar
labels (`YYYY-MM-DD`, `YYYY-MM`); a measured quantity is `value` (an exact integer) and `scale`
(decimal places), so 12345.6789 kWh is value=123456789, scale=4 and nothing is ever a float.
"""
from sqlalchemy import (BigInteger, CheckConstraint, Column, ForeignKey, Identity, Index,
                        Integer, LargeBinary, MetaData, SmallInteger, Table, Text,
                        UniqueConstraint, text)

metadata = MetaData()

# SQLite calls every integer INTEGER (64-bit); PostgreSQL needs BIGINT for Unix seconds and ids.
BIGINT = BigInteger().with_variant(Integer(), "sqlite")


def _id():
    return Column("id", BIGINT, Identity(), primary_key=True)


def _terminal_ref(nullable=False, ondelete="CASCADE"):
    return Column("terminal_id", BIGINT, ForeignKey("terminals.id", ondelete=ondelete),
                  nullable=nullable)


terminals = Table(
    "terminals", metadata,
    _id(),
    Column("area_code", Text, nullable=False),          # A1, 4 BCD digits as text ('4101')
    Column("address", Integer, nullable=False),         # A2, 1..65534
    Column("name", Text, nullable=False, server_default=""),
    Column("password", Text, nullable=False),           # PW, encrypted (see secrets.py)
    Column("status", Text, nullable=False, server_default="offline"),
    Column("last_seen_at", BIGINT),
    Column("last_login_at", BIGINT),
    Column("important_events_read", Integer),           # EC1 / EC2 read up to
    Column("normal_events_read", Integer),
    Column("created_at", BIGINT, nullable=False),
    Column("relay_path", Text, nullable=False, server_default="afn05"),    # relay_paths.py (revision 0004)
    # CIDR networks it may log in from, space-separated; '' any (revision 0003)
    Column("allowed_networks", Text, nullable=False, server_default=""),
    UniqueConstraint("area_code", "address"),
    sqlite_autoincrement=True,
)
Index("terminals_name", terminals.c.name, unique=True,
      sqlite_where=text("name <> ''"), postgresql_where=text("name <> ''"))

measuring_points = Table(                               # the meter archive (AFN04 F10)
    "measuring_points", metadata,
    Column("terminal_id", BIGINT, ForeignKey("terminals.id", ondelete="CASCADE"),
           primary_key=True),
    Column("pn", Integer, CheckConstraint("pn BETWEEN 1 AND 2040"), primary_key=True),
    Column("serial_no", Integer, nullable=False),
    Column("meter_address", Text, nullable=False),      # 12 digits as printed on the meter
    Column("protocol", Integer, nullable=False),        # F10 code: 1 DL/T 645-1997, 30 -2007
    Column("port", Integer, nullable=False),
    Column("baud", Integer, nullable=False),
    Column("meter_password", Text, nullable=False, server_default="000000000000"),
    Column("tariff_count", Integer, nullable=False, server_default="4"),
    Column("integer_digits", Integer, nullable=False, server_default="6"),
    Column("decimal_digits", Integer, nullable=False, server_default="2"),
    Column("collector_address", Text, nullable=False, server_default="000000000000"),
    Column("user_class", Integer, nullable=False, server_default="0"),
    Column("user_subclass", Integer, nullable=False, server_default="0"),
    Column("archive_sent_at", BIGINT),
    Column("archive_verified_at", BIGINT),
)
Index("measuring_points_meter", measuring_points.c.meter_address)

readings = Table(                                       # real-time values (AFN0C)
    "readings", metadata,
    Column("terminal_id", BIGINT, ForeignKey("terminals.id", ondelete="CASCADE"),
           primary_key=True),
    Column("pn", Integer, primary_key=True),
    Column("item", Text, primary_key=True),
    Column("read_at", BIGINT, primary_key=True),
    Column("value", BIGINT, nullable=False),
    Column("scale", SmallInteger, nullable=False),
    Column("received_at", BIGINT, nullable=False),
    sqlite_with_rowid=False,      # looked up by key only: rows live in the key's b-tree
)

point_collection = Table(                               # per point: when it was last read
    "point_collection", metadata,
    Column("terminal_id", BIGINT, ForeignKey("terminals.id", ondelete="CASCADE"),
           primary_key=True),
    Column("pn", Integer, primary_key=True),
    Column("last_read_at", BIGINT),
    Column("last_received_at", BIGINT),
    Column("last_frozen_day", Text),
)


def _frozen(name, period):
    return Table(
        name, metadata,
        Column("terminal_id", BIGINT, ForeignKey("terminals.id", ondelete="CASCADE"),
               primary_key=True),
        Column("pn", Integer, primary_key=True),
        Column("item", Text, primary_key=True),
        Column(period, Text, primary_key=True),
        Column("value", BIGINT, nullable=False),
        Column("scale", SmallInteger, nullable=False),
        Column("read_at", BIGINT),                      # the terminal's time of reading, if sent
        Column("received_at", BIGINT, nullable=False),
        sqlite_with_rowid=False,
    )


daily_frozen = _frozen("daily_frozen", "day")           # AFN0D daily frozen values (F161 ...)
monthly_frozen = _frozen("monthly_frozen", "month")     # AFN0D monthly frozen values (F177 ...)

events = Table(                                         # AFN0E records (ERC)
    "events", metadata,
    _id(),
    _terminal_ref(),
    Column("erc", Integer, nullable=False),
    Column("important", SmallInteger, nullable=False),  # 1 read with F1, 0 with F2
    Column("occurred_at", BIGINT),
    Column("pn", Integer),
    Column("data", LargeBinary, nullable=False),        # the record's bytes after ERC and Le
    Column("detail", Text, nullable=False, server_default=""),
    Column("source_pointer", Integer),
    Column("source_key", Text, nullable=False),         # identity at the source
    Column("received_at", BIGINT, nullable=False),
    UniqueConstraint("terminal_id", "source_key"),
    sqlite_autoincrement=True,
)
Index("events_when", events.c.occurred_at)

commands = Table(                                       # remote control and other actions
    "commands", metadata,
    _id(),
    _terminal_ref(nullable=True, ondelete="SET NULL"),
    Column("terminal_label", Text, nullable=False),     # kept when the terminal is removed
    Column("pn", Integer),
    Column("meter_address", Text),
    Column("kind", Text, nullable=False),               # 'trip', 'close', 'time-sync', ...
    Column("operator", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("parameters", Text, nullable=False, server_default="{}"),
    Column("state", Text, nullable=False),
    Column("created_at", BIGINT, nullable=False),
    Column("updated_at", BIGINT, nullable=False),
    Column("finished_at", BIGINT),
    # business-core: revision 0002_business; the station user who gave the command (users.id)
    Column("user_id", BIGINT),
    # revision 0005: the front end executing it (front_ends.id), how often its request went
    # out, and the relay event it is followed from (command_runner.py)
    Column("front_end_id", BIGINT),
    Column("sends", Integer, nullable=False, server_default="0"),
    Column("relay_baseline", BIGINT),
    sqlite_autoincrement=True,
)
Index("commands_terminal", commands.c.terminal_id, commands.c.created_at)

command_steps = Table(                                  # the audit trail: append-only
    "command_steps", metadata,
    _id(),
    Column("command_id", BIGINT, ForeignKey("commands.id"), nullable=False),
    Column("at", BIGINT, nullable=False),
    Column("step", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    sqlite_autoincrement=True,
)
Index("command_steps_command", command_steps.c.command_id, command_steps.c.id)

sessions = Table(                                       # one per login
    "sessions", metadata,
    _id(),
    _terminal_ref(),
    Column("peer", Text, nullable=False, server_default=""),
    Column("started_at", BIGINT, nullable=False),
    Column("last_heartbeat_at", BIGINT),
    Column("heartbeats", Integer, nullable=False, server_default="0"),
    Column("ended_at", BIGINT),
    Column("end_reason", Text),
    Column("front_end_id", BIGINT),       # the serve process holding it (revision 0005)
    Column("probe_asked_at", BIGINT),     # another front end asks: does it still answer?
    Column("probe_answer", Text),         # 'alive' or 'silent' (front_ends.py)
    sqlite_autoincrement=True,
)
Index("sessions_terminal", sessions.c.terminal_id, sessions.c.started_at)
Index("sessions_front_end", sessions.c.front_end_id, sessions.c.ended_at)

front_ends = Table(                                     # `conc station serve` processes
    "front_ends", metadata,                             # (front_ends.py, revision 0005)
    _id(),
    Column("host", Text, nullable=False, server_default=""),
    Column("pid", Integer, nullable=False),
    Column("listen", Text, nullable=False, server_default=""),
    Column("started_at", BIGINT, nullable=False),
    Column("heartbeat_at", BIGINT, nullable=False),
    Column("stopped_at", BIGINT),
    Column("stop_reason", Text),
    sqlite_autoincrement=True,
)

denied_logins = Table(                                  # refused logins
    "denied_logins", metadata,
    _id(),
    Column("at", BIGINT, nullable=False),
    Column("peer", Text, nullable=False, server_default=""),
    Column("area_code", Text, nullable=False),
    Column("address", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    sqlite_autoincrement=True,
)
