"""Tariffs (with validity dates and versions) and which tariff each customer is on.

    add_tariff(conn, "R1", "Residential TOU", "tou", "2026-01-01", now,
               prices={1: 13000, 2: 11000, 3: 6000, 4: 3000},          # price_e4 per register
               tiers=[(0, 0), (180, 500), (280, 3000)],                 # (above kWh, surcharge)
               fixed_monthly_fen=500)
    assign(conn, "C00012", "R1", "2026-11-01", now, user)
    tariff = tariff_on(conn, customer_id, "2026-11-01")                 # -> Tariff or None

A tariff code has versions: adding a code again from a later date ends the version before it
there, so a price change takes effect on its date for every customer on that code. A customer
has one tariff code at a time; assigning another ends the current assignment that day (the
history is kept).
"""
import collections

from sqlalchemy import and_, insert, or_, select, update

from host_tools.business.customers import check_day, customer
from host_tools.business.errors import BusinessError, NotFound
from host_tools.business.tables import (REGISTERS, TARIFF_KINDS, customer_tariffs, tariff_prices,
                                        tariff_tiers, tariffs)

Tariff = collections.namedtuple(
    "Tariff", "id code name kind flat_price_e4 prices tiers fixed_monthly_fen valid_from valid_to")
# prices: {register 1..4: price_e4} for 'tou'; tiers: [(above_kwh, surcharge_e4)] ascending


def add_tariff(conn, code, name, kind, valid_from, now, flat_price_e4=None, prices=None,
               tiers=(), fixed_monthly_fen=0):
    """Create a tariff version from `valid_from`; returns its id (see the module docstring)."""
    code = (code or "").strip()
    valid_from = check_day(valid_from, "valid-from date")
    if not code or not (name or "").strip():
        raise BusinessError("a tariff needs a code and a name")
    if kind not in TARIFF_KINDS:
        raise BusinessError("bad tariff kind %r: one of %s" % (kind, ", ".join(TARIFF_KINDS)))
    prices = dict(prices or {})
    if kind == "flat":
        if flat_price_e4 is None or prices:
            raise BusinessError("a flat tariff has one price (--price) and no register prices")
        _check_price(flat_price_e4)
    else:
        if flat_price_e4 is not None or set(prices) != set(REGISTERS):
            raise BusinessError("a time-of-use tariff has a price for each register: sharp, "
                                "peak, flat and valley")
        for price in prices.values():
            _check_price(price)
    tiers = sorted(tiers)
    if tiers and (tiers[0][0] != 0 or len({a for a, _ in tiers}) != len(tiers)
                  or any(s < 0 for _, s in tiers)):
        raise BusinessError("tiers start at 0 kWh, each at a different threshold, with a "
                            "surcharge >= 0 (e.g. 0:0,180:0.05,280:0.30)")
    if fixed_monthly_fen < 0:
        raise BusinessError("the fixed monthly charge cannot be negative")
    versions = conn.execute(select(tariffs.c.id, tariffs.c.valid_from).where(
        tariffs.c.code == code).order_by(tariffs.c.valid_from)).all()
    if any(v.valid_from >= valid_from for v in versions):
        raise BusinessError("tariff %s already has a version from %s or later: a new version "
                            "starts after the latest" % (code, versions[-1].valid_from))
    if versions:
        conn.execute(update(tariffs).where(tariffs.c.id == versions[-1].id)
                     .values(valid_to=valid_from))
    tariff_id = conn.execute(insert(tariffs).values(
        code=code, name=name.strip(), kind=kind, flat_price_e4=flat_price_e4,
        fixed_monthly_fen=fixed_monthly_fen, valid_from=valid_from, created_at=now)
    ).inserted_primary_key[0]
    if prices:
        conn.execute(insert(tariff_prices), [
            {"tariff_id": tariff_id, "register": r, "price_e4": p} for r, p in prices.items()])
    if tiers:
        conn.execute(insert(tariff_tiers), [
            {"tariff_id": tariff_id, "tier": i, "above_kwh": above, "surcharge_e4": surcharge}
            for i, (above, surcharge) in enumerate(tiers, 1)])
    return tariff_id


def _check_price(price_e4):
    if not isinstance(price_e4, int) or price_e4 < 0:
        raise BusinessError("a price is >= 0 yuan/kWh with at most 4 decimals")


def load_tariffs(conn, where=None):
    """{tariff id: Tariff} for the tariff rows matching `where` (all when None)."""
    query = select(tariffs)
    if where is not None:
        query = query.where(where)
    found = {r.id: r for r in conn.execute(query)}
    if not found:
        return {}
    prices, tiers = collections.defaultdict(dict), collections.defaultdict(list)
    for r in conn.execute(select(tariff_prices).where(tariff_prices.c.tariff_id.in_(found))):
        prices[r.tariff_id][r.register] = r.price_e4
    for r in conn.execute(select(tariff_tiers).where(tariff_tiers.c.tariff_id.in_(found))
                          .order_by(tariff_tiers.c.tier)):
        tiers[r.tariff_id].append((r.above_kwh, r.surcharge_e4))
    return {i: Tariff(i, r.code, r.name, r.kind, r.flat_price_e4, prices[i], tiers[i],
                      r.fixed_monthly_fen, r.valid_from, r.valid_to) for i, r in found.items()}


def list_tariffs(conn):
    return sorted(load_tariffs(conn).values(), key=lambda t: (t.code, t.valid_from))


def version_on(conn, code, day):
    """The version of tariff `code` in force on `day`, or NotFound."""
    row = conn.execute(select(tariffs.c.id).where(tariffs.c.code == code, _in_force(tariffs, day))
                       ).scalar()
    if row is None:
        if conn.execute(select(tariffs.c.id).where(tariffs.c.code == code)).first() is None:
            raise NotFound("no tariff %r: see `conc station tariffs list`" % code)
        raise NotFound("tariff %s is not in force on %s" % (code, day))
    return load_tariffs(conn, tariffs.c.id == row)[row]


def _in_force(table, day):
    return and_(table.c.valid_from <= day, or_(table.c.valid_to.is_(None), table.c.valid_to > day))


def assign(conn, number, code, valid_from, now, user=None):
    """Put customer `number` on tariff `code` from `valid_from`; the assignment in force then
    ends that day. Returns the new assignment's id."""
    valid_from = check_day(valid_from, "valid-from date")
    who = customer(conn, number)
    version = version_on(conn, code, valid_from)
    current = conn.execute(select(customer_tariffs).where(
        customer_tariffs.c.customer_id == who.id, _in_force(customer_tariffs, valid_from))).all()
    for row in current:
        if row.valid_from == valid_from:
            raise BusinessError("customer %s already has a tariff from %s" % (number, valid_from))
        conn.execute(update(customer_tariffs).where(customer_tariffs.c.id == row.id)
                     .values(valid_to=valid_from))
    later = conn.execute(select(customer_tariffs.c.valid_from).where(
        customer_tariffs.c.customer_id == who.id, customer_tariffs.c.valid_from > valid_from)
        .order_by(customer_tariffs.c.valid_from)).scalar()
    return conn.execute(insert(customer_tariffs).values(
        customer_id=who.id, tariff_id=version.id, valid_from=valid_from, valid_to=later,
        assigned_at=now, assigned_by=None if user is None else user.id)).inserted_primary_key[0]


def history(conn, number):
    """[(valid_from, valid_to, tariff code, tariff name)] of a customer, oldest first."""
    who = customer(conn, number)
    rows = conn.execute(select(customer_tariffs.c.valid_from, customer_tariffs.c.valid_to,
                               tariffs.c.code, tariffs.c.name)
                        .join(tariffs, tariffs.c.id == customer_tariffs.c.tariff_id)
                        .where(customer_tariffs.c.customer_id == who.id)
                        .order_by(customer_tariffs.c.valid_from)).all()
    return [tuple(r) for r in rows]


def tariff_codes_on(conn, day, customer_ids=None):
    """{customer id: tariff code} of the assignments in force on `day`."""
    query = (select(customer_tariffs.c.customer_id, tariffs.c.code)
             .join(tariffs, tariffs.c.id == customer_tariffs.c.tariff_id)
             .where(_in_force(customer_tariffs, day)))
    if customer_ids is not None:
        query = query.where(customer_tariffs.c.customer_id.in_(customer_ids))
    return dict(conn.execute(query).all())


def versions_on(conn, day):
    """{tariff code: Tariff} of every code's version in force on `day`."""
    return {t.code: t for t in load_tariffs(conn, _in_force(tariffs, day)).values()}
