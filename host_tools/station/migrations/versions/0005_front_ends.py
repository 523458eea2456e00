"""front_ends: several `conc station serve` processes on one PostgreSQL database (issue 15).

A `front_ends` row per serve process, with a heartbeat; `sessions.front_end_id` is the process
holding the session (so the terminal), `probe_asked_at`/`probe_answer` another front end's
question whether that session still answers (a login of its terminal from another address); `commands.front_end_id` the process executing the
command, `commands.sends` how many times its AFN05 (or AFN10) went out, `commands.relay_baseline`
the terminal's latest relay event before the first send (a send repeated after a lost answer
follows the relay from the same point). Rows existing before this revision belong to no front
end: sessions left open by the last run are ended at the next start, as before.
Never edit this file: add a revision.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_front_ends"
down_revision = "0004_relay_path"
branch_labels = None
depends_on = None

DESCRIPTION = "front_ends registry; sessions and commands owned by a front end"

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "front_ends",
        sa.Column("id", BIGINT, sa.Identity(), primary_key=True),
        sa.Column("host", sa.Text(), nullable=False, server_default=""),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("listen", sa.Text(), nullable=False, server_default=""),
        sa.Column("started_at", BIGINT, nullable=False),
        sa.Column("heartbeat_at", BIGINT, nullable=False),
        sa.Column("stopped_at", BIGINT),
        sa.Column("stop_reason", sa.Text()),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("front_end_id", BIGINT))
        batch.add_column(sa.Column("probe_asked_at", BIGINT))
        batch.add_column(sa.Column("probe_answer", sa.Text()))
    op.create_index("sessions_front_end", "sessions", ["front_end_id", "ended_at"])
    with op.batch_alter_table("commands") as batch:
        batch.add_column(sa.Column("front_end_id", BIGINT))
        batch.add_column(sa.Column("sends", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("relay_baseline", BIGINT))


def downgrade():
    with op.batch_alter_table("commands") as batch:
        batch.drop_column("relay_baseline")
        batch.drop_column("sends")
        batch.drop_column("front_end_id")
    op.drop_index("sessions_front_end", "sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("probe_answer")
        batch.drop_column("probe_asked_at")
        batch.drop_column("front_end_id")
    op.drop_table("front_ends")
