"""Ledger, payments, arrears cases and role checks, on SQLite and PostgreSQL."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from host_tools.business import arrears, billing, ledger, payments, tariffs, users
from host_tools.business import settings as settings_
from host_tools.business.errors import BusinessError
from host_tools.business.users import NotPermitted
from tests.business.conftest import NOW, PASSWORD, rows

DAY = 86400


def staff(world):
    with world.engine.begin() as conn:
        return {role: users.add_user(conn, role, PASSWORD, role, NOW)
                for role in ("viewer", "clerk", "cashier", "dispatcher")}


def billed(world, kwh="200"):
    """C1 on a flat 0.50 tariff, 2026-11 billed and issued: owes 100.00 yuan, due 2026-12-16."""
    world.run(tariffs.add_tariff, "F", "Flat", "flat", "2026-01-01", NOW, flat_price_e4=5000)
    world.meter(1)
    world.frozen(1, "2026-11-01", "0")
    world.frozen(1, "2026-12-01", kwh)
    world.customer("C1", pn=1, tariff="F")
    world.run(billing.run, "2026-11", NOW, world.admin)
    world.run(billing.issue, "2026-11", NOW, world.admin)


def finish(world, command_id, state):
    """What `conc station serve` does when the relay confirms (or not)."""
    with world.engine.begin() as conn:
        conn.execute(text("UPDATE commands SET state = :s, finished_at = :t WHERE id = :i"),
                     {"s": state, "t": NOW + 60, "i": command_id})


def test_payment_gets_a_receipt_and_a_ledger_row(world):
    people = staff(world)
    billed(world)
    paid = world.run(payments.pay, "C1", 4050, NOW + DAY, people["cashier"])
    again = world.run(payments.pay, "C1", 1000, NOW + DAY, people["cashier"], method="wechat")
    assert (paid.receipt_no, again.receipt_no) == ("R00000001", "R00000002")
    assert (paid.balance_fen, again.balance_fen) == (-5950, -4950)
    entries = world.run(ledger.entries, "C1")
    assert [(e.kind, e.amount_fen, e.balance_fen, e.reference) for e in entries] == [
        ("charge", -10000, -10000, "2026-11-000001"), ("payment", 4050, -5950, "R00000001"),
        ("payment", 1000, -4950, "R00000002")]
    assert rows(world.engine, "SELECT count(*) FROM audit_log WHERE action = 'payment.record' "
                "AND user_id = :u", u=people["cashier"].id)[0][0] == 2


@pytest.mark.parametrize("amount", [0, -100])
def test_payment_must_be_positive(world, amount):
    billed(world)
    with pytest.raises(BusinessError):
        world.run(payments.pay, "C1", amount, NOW, world.admin)
    assert world.run(ledger.balance, "C1") == -10000


def test_roles_a_viewer_cannot_pay_bill_adjust_or_trip(world):
    people = staff(world)
    billed(world)
    viewer, cashier = people["viewer"], people["cashier"]
    for action in (lambda c: payments.pay(c, "C1", 100, NOW, viewer),
                   lambda c: ledger.adjust(c, "C1", 100, "goodwill", NOW, viewer),
                   lambda c: billing.run(c, "2026-12", NOW, viewer),
                   lambda c: billing.void(c, "2026-11-000001", NOW, viewer, "x")):
        with pytest.raises(NotPermitted), world.engine.begin() as conn:
            action(conn)
    case_id = world.run(arrears.open_cases, "2026-12-20", NOW)[0]
    world.run(arrears.notice, case_id, NOW, people["clerk"])
    with pytest.raises(NotPermitted):
        world.run(arrears.approve, case_id, NOW, cashier)     # a cashier takes money only
    world.run(arrears.approve, case_id, NOW, people["dispatcher"])
    with pytest.raises(NotPermitted):
        world.run(arrears.trip, case_id, "2026-12-20", NOW, viewer)
    with pytest.raises(NotPermitted):
        world.run(arrears.trip, case_id, "2026-12-20", NOW, people["clerk"])
    assert world.run(ledger.balance, "C1") == -10000
    assert rows(world.engine, "SELECT count(*) FROM commands")[0][0] == 0


ops = st.lists(st.tuples(st.sampled_from(["pay", "adjust"]),
                         st.integers(min_value=-10 ** 7, max_value=10 ** 7)), max_size=12)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops)
def test_balance_is_always_the_sum_of_the_rows(world, ops):
    if not rows(world.engine, "SELECT count(*) FROM customers")[0][0]:
        billed(world)
    before = world.run(ledger.entries, "C1")
    for kind, amount in ops:
        try:
            with world.engine.begin() as conn:
                if kind == "pay":
                    payments.pay(conn, "C1", amount, NOW, world.admin)
                else:
                    ledger.adjust(conn, "C1", amount, "correction", NOW, world.admin)
        except BusinessError:
            assert amount <= 0 if kind == "pay" else amount == 0
    with world.engine.connect() as conn:
        after = ledger.entries(conn, "C1")
        total = conn.execute(text("SELECT sum(amount_fen) FROM ledger WHERE customer_id = "
                                  "(SELECT id FROM customers WHERE number = 'C1')")).scalar()
        assert ledger.balance(conn, "C1") == total == after[-1].balance_fen
    assert after[:len(before)] == before                 # earlier rows never change
    assert len(after) == len(before) + sum(1 for k, a in ops if a > 0 or (k == "adjust" and a))


def test_case_opens_only_past_the_due_day_and_below_the_threshold(world):
    billed(world)                                         # due 2026-12-16
    assert world.run(arrears.open_cases, "2026-12-16", NOW) == []
    world.run(settings_.put, "arrears_threshold_fen", 10000, NOW)
    assert world.run(arrears.open_cases, "2026-12-17", NOW) == []      # -100.00 is not below
    world.run(settings_.put, "arrears_threshold_fen", 9999, NOW)
    opened = world.run(arrears.open_cases, "2026-12-17", NOW)
    assert len(opened) == 1
    assert world.run(arrears.open_cases, "2026-12-18", NOW) == []      # one active case
    found = world.run(arrears.case, opened[0])
    assert (found.state, found.amount_fen, found.customer_number) == ("open", 10000, "C1")


def test_a_statement_not_yet_due_is_not_arrears(world):
    billed(world)                                         # 2026-11: 100.00, due 2026-12-16
    with world.engine.begin() as conn:
        payments.pay(conn, "C1", 10000, NOW, world.admin)     # paid on time
    world.frozen(1, "2027-01-01", "400")                  # 2026-12: 100.00, due 2027-01-16
    world.run(billing.run, "2026-12", NOW, world.admin)
    world.run(billing.issue, "2026-12", NOW, world.admin)
    assert world.run(ledger.balance, "C1") == -10000
    # the November statement is past due but paid; December's is owed but not due yet
    assert world.run(arrears.open_cases, "2027-01-02", NOW) == []
    assert world.run(arrears.open_cases, "2027-01-16", NOW) == []
    opened = world.run(arrears.open_cases, "2027-01-17", NOW)
    assert world.run(arrears.case, opened[0]).amount_fen == 10000


def test_arrears_state_machine_with_payment_queuing_the_close(world):
    people = staff(world)
    billed(world)
    case_id = world.run(arrears.open_cases, "2026-12-20", NOW)[0]
    with pytest.raises(BusinessError, match="is open; this step needs it notice_issued"):
        world.run(arrears.approve, case_id, NOW, people["dispatcher"])
    world.run(arrears.notice, case_id, NOW + 1, people["clerk"])
    world.run(arrears.approve, case_id, NOW + 2, people["dispatcher"])
    trip_id = world.run(arrears.trip, case_id, "2026-12-20", NOW + 3, people["dispatcher"])
    command = rows(world.engine, "SELECT kind, pn, operator, user_id, state FROM commands")
    assert command == [("trip", 1, "dispatcher", people["dispatcher"].id, "pending")]
    finish(world, trip_id, "confirmed")
    assert world.run(arrears.follow, NOW + 4) == [case_id]
    assert world.run(arrears.case, case_id).state == "tripped"
    # A part payment changes nothing; the rest clears the arrears and queues the close.
    assert world.run(payments.pay, "C1", 5000, NOW + 5, people["cashier"]).arrears_state == \
        "tripped"
    assert world.run(payments.pay, "C1", 5000, NOW + 6, people["cashier"]).arrears_state == \
        "close_sent"
    closing = rows(world.engine, "SELECT kind, pn, user_id FROM commands WHERE id <> :t",
                   t=trip_id)
    assert closing == [("close", 1, people["dispatcher"].id)]
    found = world.run(arrears.case, case_id)
    finish(world, found.close_command_id, "confirmed")
    world.run(arrears.follow, NOW + 7)
    found = world.run(arrears.case, case_id)
    assert found.state == "restored" and found.closed_at == NOW + 7
    steps = [(t.from_state, t.to_state, t.user_id) for t in world.run(arrears.transitions, case_id)]
    assert steps == [
        (None, "open", None),
        ("open", "notice_issued", people["clerk"].id),
        ("notice_issued", "approved", people["dispatcher"].id),
        ("approved", "trip_sent", people["dispatcher"].id),
        ("trip_sent", "tripped", None),
        ("tripped", "paid", people["cashier"].id),
        ("paid", "close_sent", people["dispatcher"].id),
        ("close_sent", "restored", None)]


def test_unconfirmed_trip_goes_back_for_a_person_to_retry(world):
    people = staff(world)
    billed(world)
    case_id = world.run(arrears.open_cases, "2026-12-20", NOW)[0]
    world.run(arrears.notice, case_id, NOW, people["clerk"])
    world.run(arrears.approve, case_id, NOW, people["dispatcher"])
    trip_id = world.run(arrears.trip, case_id, "2026-12-20", NOW, people["dispatcher"])
    finish(world, trip_id, "timeout")
    world.run(arrears.follow, NOW)
    assert world.run(arrears.case, case_id).state == "approved"
    assert world.run(arrears.follow, NOW) == []           # nothing sent again by itself


def test_paid_before_the_trip_ends_the_case_without_a_command(world):
    people = staff(world)
    billed(world)
    case_id = world.run(arrears.open_cases, "2026-12-20", NOW)[0]
    world.run(arrears.notice, case_id, NOW, people["clerk"])
    world.run(payments.pay, "C1", 10000, NOW, people["cashier"])
    found = world.run(arrears.case, case_id)
    assert found.state == "paid" and found.closed_at == NOW
    assert rows(world.engine, "SELECT count(*) FROM commands")[0][0] == 0
