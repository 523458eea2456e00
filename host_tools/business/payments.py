"""Payments at the till: a receipt number, a ledger row, and the arrears they clear.

    receipt = pay(conn, "C00012", 12050, now, cashier)        # 120.50 yuan -> 'R00000042'

A payment that brings the balance back to zero or above settles the customer's arrears case,
which queues the close of a tripped meter automatically (arrears.settle).
"""
import collections

from sqlalchemy import func, insert, select

from host_tools.business import arrears, audit, ledger
from host_tools.business.customers import customer
from host_tools.business.errors import BusinessError
from host_tools.business.tables import payments
from host_tools.business.users import require

METHODS = ("cash", "card", "bank", "wechat", "alipay")
Payment = collections.namedtuple("Payment", "id receipt_no customer_number amount_fen method "
                                 "paid_at balance_fen arrears_state")


def pay(conn, number, amount_fen, now, user, method="cash", note=""):
    """Record a payment of `amount_fen` (> 0) by customer `number`; returns the Payment."""
    require(user, "payment.record")
    if amount_fen <= 0:
        raise BusinessError("a payment is a positive amount (a refund is an adjustment)")
    if method not in METHODS:
        raise BusinessError("bad payment method %r: one of %s" % (method, ", ".join(METHODS)))
    who = customer(conn, number)
    # Receipts are numbered in order; the unique constraint refuses a concurrent duplicate.
    count = conn.execute(select(func.count()).select_from(payments)).scalar()
    receipt = "R%08d" % (count + 1)
    payment_id = conn.execute(insert(payments).values(
        receipt_no=receipt, customer_id=who.id, amount_fen=amount_fen, method=method,
        paid_at=now, user_id=user.id, note=note or "")).inserted_primary_key[0]
    ledger.post(conn, who.id, "payment", amount_fen, now, user, "receipt %s" % receipt,
                payment_id=payment_id)
    audit.record(conn, user, "payment.record", "customer:%s" % number, now, receipt=receipt,
                 amount_fen=amount_fen, method=method)
    state = arrears.settle(conn, who.id, now, user)
    return Payment(payment_id, receipt, number, amount_fen, method, now,
                   ledger.balance(conn, number), state)
