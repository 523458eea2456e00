"""terminals.allowed_networks: the source networks a terminal may log in from (issue 15).

A space-separated list of CIDR networks (`10.8.0.0/16 2001:db8::/32`); empty: any source, as
before. A 1376.1 login carries no secret, so the network a terminal's connection comes from
(its carrier's APN) is what the station can check.
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_terminal_networks"
down_revision = "0002_business"
branch_labels = None
depends_on = None

DESCRIPTION = "terminals.allowed_networks: CIDR networks a terminal may log in from"


def upgrade():
    op.add_column("terminals", sa.Column("allowed_networks", sa.Text(), nullable=False,
                                         server_default=""))


def downgrade():
    with op.batch_alter_table("terminals") as batch:
        batch.drop_column("allowed_networks")
