"""The station's business half: users and the audit log, areas, customers, service points,
tariffs, billing periods, statements, ledger, payments, arrears cases, alarms; and
`commands.user_id`, the station user who gave a remote-control command.

The tables are those of host_tools/business/tables.py, written out here (a revision is a fixed
record of what it did: tables.py may grow, this file never changes; a test compares the two).
Foreign keys into the collection tables (terminals, commands) are declared here only.
Never edit this file: add a revision.
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_business"
down_revision = "0001_v1"
branch_labels = None
depends_on = None

DESCRIPTION = "users, customers, tariffs, billing, ledger, payments, arrears, alarms"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id():
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


def _user(name):
    return sa.Column(name, sa.BigInteger(), sa.ForeignKey("users.id"))


def upgrade():
    op.create_table(
        "users", _id(),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("full_name", sa.Text(), nullable=False, server_default=""),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="1"),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.BigInteger()),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("password_changed_at", sa.BigInteger()))
    op.create_table(
        "audit_log", _id(),
        sa.Column("at", sa.BigInteger(), nullable=False, index=True),
        _user("user_id"),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False, server_default=""),
        sa.Column("detail", sa.Text(), nullable=False, server_default="{}"))
    op.create_table(
        "business_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        _user("updated_by"))
    op.create_table(
        "areas", _id(),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("supply_terminal_id", sa.BigInteger(),
                  sa.ForeignKey("terminals.id", ondelete="SET NULL")),
        sa.Column("supply_pn", sa.Integer()),
        sa.Column("supply_multiplier", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.BigInteger(), nullable=False))
    op.create_table(
        "customers", _id(),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False, server_default=""),
        sa.Column("phone", sa.Text(), nullable=False, server_default=""),
        sa.Column("account", sa.Text(), nullable=False, server_default=""),
        sa.Column("area_id", sa.BigInteger(), sa.ForeignKey("areas.id")),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.BigInteger()))
    op.create_table(
        "service_points", _id(),
        sa.Column("customer_id", sa.BigInteger(), sa.ForeignKey("customers.id"), nullable=False,
                  index=True),
        sa.Column("terminal_id", sa.BigInteger(), sa.ForeignKey("terminals.id"), nullable=False),
        sa.Column("pn", sa.Integer(), nullable=False),
        sa.Column("multiplier", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("valid_from", sa.String(10), nullable=False),
        sa.Column("valid_to", sa.String(10)))
    op.create_table(
        "tariffs", _id(),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("flat_price_e4", sa.Integer()),
        sa.Column("fixed_monthly_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("valid_from", sa.String(10), nullable=False),
        sa.Column("valid_to", sa.String(10)),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("code", "valid_from"))
    op.create_table(
        "tariff_prices",
        sa.Column("tariff_id", sa.BigInteger(), sa.ForeignKey("tariffs.id"), primary_key=True),
        sa.Column("register", sa.Integer(), primary_key=True),
        sa.Column("price_e4", sa.Integer(), nullable=False))
    op.create_table(
        "tariff_tiers",
        sa.Column("tariff_id", sa.BigInteger(), sa.ForeignKey("tariffs.id"), primary_key=True),
        sa.Column("tier", sa.Integer(), primary_key=True),
        sa.Column("above_kwh", sa.Integer(), nullable=False),
        sa.Column("surcharge_e4", sa.Integer(), nullable=False))
    op.create_table(
        "customer_tariffs", _id(),
        sa.Column("customer_id", sa.BigInteger(), sa.ForeignKey("customers.id"), nullable=False,
                  index=True),
        sa.Column("tariff_id", sa.BigInteger(), sa.ForeignKey("tariffs.id"), nullable=False),
        sa.Column("valid_from", sa.String(10), nullable=False),
        sa.Column("valid_to", sa.String(10)),
        sa.Column("assigned_at", sa.BigInteger(), nullable=False),
        _user("assigned_by"))
    op.create_table(
        "billing_periods", _id(),
        sa.Column("period", sa.String(7), nullable=False, unique=True),
        sa.Column("reading_day", sa.Integer(), nullable=False),
        sa.Column("start_day", sa.String(10), nullable=False),
        sa.Column("end_day", sa.String(10), nullable=False),
        sa.Column("due_day", sa.String(10), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False))
    statements = op.create_table(
        "statements", _id(),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("customer_id", sa.BigInteger(), sa.ForeignKey("customers.id"), nullable=False,
                  index=True),
        sa.Column("period_id", sa.BigInteger(), sa.ForeignKey("billing_periods.id"),
                  nullable=False, index=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("hold_reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("estimated", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("kwh_e4", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("total_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("opening_balance_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("amount_due_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _user("created_by"),
        sa.Column("issued_at", sa.BigInteger()),
        _user("issued_by"),
        sa.Column("voided_at", sa.BigInteger()),
        _user("voided_by"))
    # One live statement per customer and period: a re-run cannot bill a customer twice.
    op.create_index("statements_live", "statements", ["customer_id", "period_id"], unique=True,
                    sqlite_where=statements.c.state != "void",
                    postgresql_where=statements.c.state != "void")
    op.create_table(
        "statement_lines", _id(),
        sa.Column("statement_id", sa.BigInteger(), sa.ForeignKey("statements.id"),
                  nullable=False, index=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("service_point_id", sa.BigInteger(), sa.ForeignKey("service_points.id")),
        sa.Column("register", sa.Integer()),
        sa.Column("opening_e4", sa.BigInteger()),
        sa.Column("closing_e4", sa.BigInteger()),
        sa.Column("multiplier", sa.Integer()),
        sa.Column("kwh_e4", sa.BigInteger()),
        sa.Column("price_e4", sa.Integer()),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False))
    op.create_table(
        "payments", _id(),
        sa.Column("receipt_no", sa.String(32), nullable=False, unique=True),
        sa.Column("customer_id", sa.BigInteger(), sa.ForeignKey("customers.id"), nullable=False,
                  index=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False, server_default="cash"),
        sa.Column("paid_at", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "ledger", _id(),
        sa.Column("customer_id", sa.BigInteger(), sa.ForeignKey("customers.id"), nullable=False,
                  index=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("statement_id", sa.BigInteger(), sa.ForeignKey("statements.id"), unique=True),
        sa.Column("payment_id", sa.BigInteger(), sa.ForeignKey("payments.id"), unique=True),
        _user("user_id"),
        sa.Column("note", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "arrears_cases", _id(),
        sa.Column("customer_id", sa.BigInteger(), sa.ForeignKey("customers.id"), nullable=False,
                  index=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.BigInteger()),
        sa.Column("trip_command_id", sa.BigInteger(), sa.ForeignKey("commands.id")),
        sa.Column("close_command_id", sa.BigInteger(), sa.ForeignKey("commands.id")))
    op.create_table(
        "arrears_transitions", _id(),
        sa.Column("case_id", sa.BigInteger(), sa.ForeignKey("arrears_cases.id"), nullable=False,
                  index=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        _user("user_id"),
        sa.Column("command_id", sa.BigInteger(), sa.ForeignKey("commands.id")),
        sa.Column("note", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "alarms", _id(),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("condition_key", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False, server_default=""),
        sa.Column("terminal_id", sa.BigInteger(),
                  sa.ForeignKey("terminals.id", ondelete="SET NULL")),
        sa.Column("pn", sa.Integer()),
        sa.Column("customer_id", sa.BigInteger(), sa.ForeignKey("customers.id")),
        sa.Column("area_id", sa.BigInteger(), sa.ForeignKey("areas.id")),
        sa.Column("event_id", sa.BigInteger(), sa.ForeignKey("events.id", ondelete="SET NULL"),
                  unique=True),
        sa.Column("raised_at", sa.BigInteger(), nullable=False, index=True),
        sa.Column("acknowledged_at", sa.BigInteger()),
        _user("acknowledged_by"),
        sa.Column("ack_note", sa.Text(), nullable=False, server_default=""),
        sa.Column("cleared_at", sa.BigInteger()))
    op.create_table(
        "alarm_rules",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default="1"),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        _user("updated_by"))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with a REFERENCES clause in place when its default is NULL;
        # Alembic would copy the whole table to add the constraint.
        op.execute("ALTER TABLE commands ADD COLUMN user_id INTEGER REFERENCES users (id)")
    else:
        op.add_column("commands", sa.Column("user_id", sa.BigInteger(),
                                            sa.ForeignKey("users.id")))


def downgrade():
    op.drop_column("commands", "user_id")
    for name in ("alarm_rules", "alarms", "arrears_transitions", "arrears_cases", "ledger",
                 "payments", "statement_lines", "statements", "billing_periods",
                 "customer_tariffs", "tariff_tiers", "tariff_prices", "tariffs",
                 "service_points", "customers", "areas", "business_settings", "audit_log",
                 "users"):
        op.drop_table(name)
