"""terminals.relay_path: how the station switches a terminal's meter relays (issue 18).

'afn05': AFN05 F1/F2 with Pn = the measuring point, as our firmware maps it; 'forward': DL/T 645
0x1C through AFN10 F1 transparent forwarding, for terminals without that mapping. Every terminal
existing before this revision keeps 'afn05', what the station always sent.
Never edit this file: add a revision.
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_relay_path"
down_revision = "0003_terminal_networks"
branch_labels = None
depends_on = None

DESCRIPTION = "terminals.relay_path: AFN05 or AFN10 forwarding for meter relays"


def upgrade():
    op.add_column("terminals", sa.Column("relay_path", sa.Text(), nullable=False,
                                         server_default="afn05"))


def downgrade():
    with op.batch_alter_table("terminals") as batch:
        batch.drop_column("relay_path")
