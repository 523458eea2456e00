"""Each customer's ledger: charges (negative), payments and adjustments; balance = the sum.

Rows are only ever added: a mistake is corrected by an adjustment, never by changing a row, so
the balance at any moment can be recomputed from the rows before it. A negative balance is
money the customer owes.

    balance(conn, "C00012")                     # -> fen
    adjust(conn, "C00012", -1500, "meter test fee", now, user)
"""
import collections

from sqlalchemy import func, insert, select

from host_tools.business import audit
from host_tools.business.customers import customer
from host_tools.business.errors import BusinessError
from host_tools.business.tables import ledger, payments, statements
from host_tools.business.users import require

Entry = collections.namedtuple("Entry", "id at kind amount_fen balance_fen reference note user_id")


def balance(conn, number):
    """The customer's balance in fen (negative: owed)."""
    who = customer(conn, number)
    return int(conn.execute(select(func.coalesce(func.sum(ledger.c.amount_fen), 0))
                            .where(ledger.c.customer_id == who.id)).scalar())


def entries(conn, number):
    """The customer's ledger rows in order, each with the running balance after it."""
    who = customer(conn, number)
    rows = conn.execute(select(ledger, statements.c.number, payments.c.receipt_no)
                        .outerjoin(statements, statements.c.id == ledger.c.statement_id)
                        .outerjoin(payments, payments.c.id == ledger.c.payment_id)
                        .where(ledger.c.customer_id == who.id)
                        .order_by(ledger.c.at, ledger.c.id)).all()
    running, found = 0, []
    for r in rows:
        running += r.amount_fen
        found.append(Entry(r.id, r.at, r.kind, r.amount_fen, running,
                           r.number or r.receipt_no or "", r.note, r.user_id))
    return found


def post(conn, customer_id, kind, amount_fen, now, user, note="", statement_id=None,
         payment_id=None):
    """Append one ledger row (the only way rows get there)."""
    conn.execute(insert(ledger).values(
        customer_id=customer_id, at=now, kind=kind, amount_fen=amount_fen,
        statement_id=statement_id, payment_id=payment_id,
        user_id=None if user is None else user.id, note=note))


def adjust(conn, number, amount_fen, note, now, user):
    """A manual correction: positive credits the customer, negative charges them."""
    require(user, "adjustment.record")
    if not amount_fen:
        raise BusinessError("an adjustment needs a non-zero amount")
    if not (note or "").strip():
        raise BusinessError("say why (--note): an adjustment without a reason cannot be audited")
    who = customer(conn, number)
    post(conn, who.id, "adjustment", amount_fen, now, user, note.strip())
    audit.record(conn, user, "ledger.adjust", "customer:%s" % number, now,
                 amount_fen=amount_fen, note=note.strip())
    from host_tools.business import arrears       # arrears reads the ledger: import late
    arrears.settle(conn, who.id, now, user)
