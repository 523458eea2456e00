"""One naming of data items (issue 17): stored energy registers take their readable names.

The station stored energy registers under the 1376.1 unit and element (`F129.0` the total
forward active energy read in real time, `F161.2` its tariff 2 frozen daily, `F177.0` frozen
monthly) and every other quantity under its catalogue name (`voltage_a`). From this revision
all are readable names (host_tools/station/items.py): the register (`fwd`, `fwd_reactive`,
`rev`, `rev_reactive`, `q1_reactive`..`q4_reactive`, the order of F129..F136) and the element
(`_total`, `_t1`..), so `F129.0` -> `energy_fwd_total`, `F161.2` -> `energy_fwd_t2` in
daily_frozen, `F180.0` -> `energy_rev_reactive_total` in monthly_frozen. The table keeps telling
real time, daily and monthly apart, as it always did. Each table is rewritten by one UPDATE (one
pass over a large table); a row that somebody already stored under the new name at the same key
stays, and the old-named duplicate of it is dropped. No business table holds item names.
Never edit this file: add a revision.
"""
from alembic import op

revision = "0006_item_names"
down_revision = "0005_front_ends"
branch_labels = None
depends_on = None

DESCRIPTION = "stored data items renamed from F129.0 / F161.0 / F177.0 to energy_fwd_total ..."

# F129 + k (real time), F161 + k (daily), F177 + k (monthly) is register k
REGISTERS = ("fwd", "fwd_reactive", "rev", "rev_reactive",
             "q1_reactive", "q2_reactive", "q3_reactive", "q4_reactive")
TABLES = (("readings", "read_at", 129), ("daily_frozen", "day", 161),
          ("monthly_frozen", "month", 177))


def _new_name(item, base):
    """SQL for the new name of an old-named `item` column (SQLite and PostgreSQL alike)."""
    arms = " ".join("WHEN 'F%d.' THEN '%s'" % (base + k, register)
                    for k, register in enumerate(REGISTERS))
    return ("'energy_' || CASE substr(%s, 1, 5) %s END || CASE substr(%s, 6) WHEN '0' "
            "THEN '_total' ELSE '_t' || substr(%s, 6) END" % (item, arms, item, item))


def _is_old(item, base):
    return "substr(%s, 1, 5) IN (%s)" % (
        item, ", ".join("'F%d.'" % (base + k) for k in range(len(REGISTERS))))


def upgrade():
    for table, period, base in TABLES:
        old = "%s.item" % table
        op.execute(
            "DELETE FROM {t} WHERE {is_old} AND EXISTS (SELECT 1 FROM {t} AS renamed WHERE "
            "renamed.terminal_id = {t}.terminal_id AND renamed.pn = {t}.pn AND "
            "renamed.{p} = {t}.{p} AND renamed.item = {new})".format(
                t=table, p=period, is_old=_is_old(old, base), new=_new_name(old, base)))
        op.execute("UPDATE %s SET item = %s WHERE %s"
                   % (table, _new_name("item", base), _is_old("item", base)))


def downgrade():
    for table, _, base in TABLES:
        arms = []
        for k, register in enumerate(REGISTERS):
            name = "energy_%s_" % register
            arms.append("WHEN item = '%stotal' THEN 'F%d.0'" % (name, base + k))
            arms.append("WHEN substr(item, 1, %d) = '%st' THEN 'F%d.' || substr(item, %d)"
                        % (len(name) + 1, name, base + k, len(name) + 2))
        op.execute("UPDATE %s SET item = CASE %s ELSE item END WHERE item LIKE 'energy%%'"
                   % (table, " ".join(arms)))
