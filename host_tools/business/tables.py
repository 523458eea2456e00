"""The business tables as SQLAlchemy Core objects, for queries (the migration that creates them is
host_tools/station/migrations/versions/0002_business.py).

Conventions, shared with the collection tables of revision 0001:
- `*_at` columns are Unix seconds UTC; `*_day` / `valid_from` / `valid_to` are calendar labels
  `YYYY-MM-DD` in the station's time zone; a period is `YYYY-MM`. `valid_to` is exclusive, None
  means open-ended.
- Money is integer fen (`*_fen`). A unit price is integer 0.0001 yuan per kWh (`price_e4`), an
  energy quantity is integer 0.0001 kWh (`kwh_e4`, the resolution of format 14 frozen values),
  so nothing is ever a float.
- Rows of the ledger, the audit log and the arrears transitions are never updated or deleted.
- Columns that point at the collection tables (terminals, measuring points, commands) carry their
  foreign keys in the migration only: those tables are not described here.
"""
from sqlalchemy import (BigInteger, Boolean, Column, ForeignKey, Index, Integer, MetaData, String,
                        Table, Text, UniqueConstraint)

metadata = MetaData()


def _id():
    return Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                  autoincrement=True)


ROLES = ("viewer", "clerk", "cashier", "dispatcher", "admin")

users = Table(
    "users", metadata, _id(),
    Column("name", String(64), nullable=False, unique=True),     # login name
    Column("full_name", Text, nullable=False, server_default=""),
    Column("role", String(16), nullable=False),                  # one of ROLES
    Column("password_hash", Text, nullable=False),               # argon2id, never shown
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", BigInteger),                          # lock-out after failures
    Column("created_at", BigInteger, nullable=False),
    Column("password_changed_at", BigInteger),
)

audit_log = Table(
    "audit_log", metadata, _id(),
    Column("at", BigInteger, nullable=False, index=True),
    Column("user_id", BigInteger, ForeignKey("users.id")),       # None: the system itself
    Column("action", String(64), nullable=False),                # e.g. 'payment.record'
    Column("subject", Text, nullable=False, server_default=""),  # e.g. 'customer:C00012'
    Column("detail", Text, nullable=False, server_default="{}"), # JSON
)

settings = Table(                           # utility name on statements, due days, thresholds
    "business_settings", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),                       # JSON
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", BigInteger, ForeignKey("users.id")),
)

areas = Table(                              # transformer areas (tai qu)
    "areas", metadata, _id(),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("supply_terminal_id", BigInteger),                    # the area's supply meter:
    Column("supply_pn", Integer),                                # a terminal + measuring point
    Column("supply_multiplier", Integer, nullable=False, server_default="1"),
    Column("created_at", BigInteger, nullable=False),
)

customers = Table(
    "customers", metadata, _id(),
    Column("number", String(32), nullable=False, unique=True),   # the customer number
    Column("name", Text, nullable=False),
    Column("address", Text, nullable=False, server_default=""),
    Column("phone", Text, nullable=False, server_default=""),
    Column("account", Text, nullable=False, server_default=""),  # bank account / pay reference
    Column("area_id", BigInteger, ForeignKey("areas.id")),
    Column("created_at", BigInteger, nullable=False),
    Column("closed_at", BigInteger),
)

service_points = Table(                     # a customer measured by one meter for a while
    "service_points", metadata, _id(),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False, index=True),
    Column("terminal_id", BigInteger, nullable=False),
    Column("pn", Integer, nullable=False),
    Column("multiplier", Integer, nullable=False, server_default="1"),   # CT ratio x PT ratio
    Column("valid_from", String(10), nullable=False),
    Column("valid_to", String(10)),
)

TARIFF_KINDS = ("flat", "tou")
# DL/T 645 tariff registers 1..4
REGISTERS = {1: "sharp", 2: "peak", 3: "flat", 4: "valley"}

tariffs = Table(
    "tariffs", metadata, _id(),
    Column("code", String(32), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", String(8), nullable=False),                   # 'flat' or 'tou'
    Column("flat_price_e4", Integer),                            # kind 'flat'
    Column("fixed_monthly_fen", BigInteger, nullable=False, server_default="0"),
    Column("valid_from", String(10), nullable=False),
    Column("valid_to", String(10)),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("code", "valid_from"),
)

tariff_prices = Table(                      # kind 'tou': one price per register
    "tariff_prices", metadata,
    Column("tariff_id", BigInteger, ForeignKey("tariffs.id"), primary_key=True),
    Column("register", Integer, primary_key=True),               # 1..4 (REGISTERS)
    Column("price_e4", Integer, nullable=False),
)

tariff_tiers = Table(                       # monthly blocks on total consumption
    "tariff_tiers", metadata,
    Column("tariff_id", BigInteger, ForeignKey("tariffs.id"), primary_key=True),
    Column("tier", Integer, primary_key=True),                   # 1, 2, 3 ...
    # The tier holds the kWh above `above_kwh` up to the next tier's: 0 / 180 / 280 makes the
    # blocks 0-180, 181-280 and >280 kWh.
    Column("above_kwh", Integer, nullable=False),
    Column("surcharge_e4", Integer, nullable=False),             # added to the energy price
)

customer_tariffs = Table(                   # one tariff at a time, history kept
    "customer_tariffs", metadata, _id(),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False, index=True),
    Column("tariff_id", BigInteger, ForeignKey("tariffs.id"), nullable=False),
    Column("valid_from", String(10), nullable=False),
    Column("valid_to", String(10)),
    Column("assigned_at", BigInteger, nullable=False),
    Column("assigned_by", BigInteger, ForeignKey("users.id")),
)

billing_periods = Table(
    "billing_periods", metadata, _id(),
    Column("period", String(7), nullable=False, unique=True),    # 'YYYY-MM'
    Column("reading_day", Integer, nullable=False),              # 1..28
    Column("start_day", String(10), nullable=False),             # frozen values at 00:00 of
    Column("end_day", String(10), nullable=False),               # these two days
    Column("due_day", String(10), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

STATEMENT_STATES = ("draft", "held", "issued", "void")

statements = Table(
    "statements", metadata, _id(),
    Column("number", String(32), nullable=False, unique=True),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False, index=True),
    Column("period_id", BigInteger, ForeignKey("billing_periods.id"), nullable=False, index=True),
    Column("state", String(8), nullable=False),                  # STATEMENT_STATES
    Column("hold_reason", Text, nullable=False, server_default=""),
    Column("estimated", Boolean, nullable=False, server_default="0"),
    Column("kwh_e4", BigInteger, nullable=False, server_default="0"),    # total consumption
    Column("total_fen", BigInteger, nullable=False, server_default="0"),
    Column("opening_balance_fen", BigInteger, nullable=False, server_default="0"),
    Column("amount_due_fen", BigInteger, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", BigInteger, ForeignKey("users.id")),
    Column("issued_at", BigInteger),
    Column("issued_by", BigInteger, ForeignKey("users.id")),
    Column("voided_at", BigInteger),
    Column("voided_by", BigInteger, ForeignKey("users.id")),
)

LINE_KINDS = ("energy", "tier", "fixed", "adjustment")

statement_lines = Table(
    "statement_lines", metadata, _id(),
    Column("statement_id", BigInteger, ForeignKey("statements.id"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("kind", String(12), nullable=False),                  # LINE_KINDS
    Column("description", Text, nullable=False),
    Column("service_point_id", BigInteger, ForeignKey("service_points.id")),
    Column("register", Integer),                                 # 0 total, 1..4 tariff
    Column("opening_e4", BigInteger),                            # register readings, kWh
    Column("closing_e4", BigInteger),
    Column("multiplier", Integer),
    Column("kwh_e4", BigInteger),
    Column("price_e4", Integer),
    Column("amount_fen", BigInteger, nullable=False),
)

LEDGER_KINDS = ("charge", "payment", "adjustment")

ledger = Table(                             # balance = sum(amount_fen); charges are negative
    "ledger", metadata, _id(),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False, index=True),
    Column("at", BigInteger, nullable=False),
    Column("kind", String(12), nullable=False),                  # LEDGER_KINDS
    Column("amount_fen", BigInteger, nullable=False),
    Column("statement_id", BigInteger, ForeignKey("statements.id"), unique=True),
    Column("payment_id", BigInteger, ForeignKey("payments.id"), unique=True),
    Column("user_id", BigInteger, ForeignKey("users.id")),
    Column("note", Text, nullable=False, server_default=""),
)

payments = Table(
    "payments", metadata, _id(),
    Column("receipt_no", String(32), nullable=False, unique=True),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False, index=True),
    Column("amount_fen", BigInteger, nullable=False),
    Column("method", String(16), nullable=False, server_default="cash"),
    Column("paid_at", BigInteger, nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("note", Text, nullable=False, server_default=""),
)

ARREARS_STATES = ("open", "notice_issued", "approved", "trip_sent", "tripped", "paid",
                  "close_sent", "restored", "cancelled")

arrears_cases = Table(
    "arrears_cases", metadata, _id(),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False, index=True),
    Column("state", String(16), nullable=False),                 # ARREARS_STATES
    Column("amount_fen", BigInteger, nullable=False),            # owed when opened
    Column("opened_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("closed_at", BigInteger),
    Column("trip_command_id", BigInteger),                       # commands.id
    Column("close_command_id", BigInteger),
)

arrears_transitions = Table(
    "arrears_transitions", metadata, _id(),
    Column("case_id", BigInteger, ForeignKey("arrears_cases.id"), nullable=False, index=True),
    Column("at", BigInteger, nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id")),       # None: the system (a payment)
    Column("command_id", BigInteger),
    Column("note", Text, nullable=False, server_default=""),
)

SEVERITIES = ("critical", "major", "minor", "info")
ALARM_STATES = ("active", "acknowledged", "cleared")

alarms = Table(
    "alarms", metadata, _id(),
    Column("kind", String(32), nullable=False),                  # 'erc14', 'terminal_offline'...
    Column("severity", String(8), nullable=False),               # SEVERITIES
    Column("state", String(12), nullable=False),                 # ALARM_STATES
    # What the alarm is about, for deduplication: one alarm per open condition.
    Column("condition_key", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("terminal_id", BigInteger),
    Column("pn", Integer),
    Column("customer_id", BigInteger, ForeignKey("customers.id")),
    Column("area_id", BigInteger, ForeignKey("areas.id")),
    Column("event_id", BigInteger, unique=True),                 # events.id, when from an ERC
    Column("raised_at", BigInteger, nullable=False, index=True),
    Column("acknowledged_at", BigInteger),
    Column("acknowledged_by", BigInteger, ForeignKey("users.id")),
    Column("ack_note", Text, nullable=False, server_default=""),
    Column("cleared_at", BigInteger),
)

alarm_rules = Table(                        # station rules and their thresholds (admin-edited)
    "alarm_rules", metadata,
    Column("kind", String(32), primary_key=True),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    Column("severity", String(8), nullable=False),
    Column("parameters", Text, nullable=False, server_default="{}"),  # JSON thresholds
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", BigInteger, ForeignKey("users.id")),
)

# Added by business-core (revision 0002_business creates them too):
# one live statement per customer and period, so a re-run cannot bill a customer twice.
Index("statements_live", statements.c.customer_id, statements.c.period_id, unique=True,
      sqlite_where=statements.c.state != "void", postgresql_where=statements.c.state != "void")
