"""Areas (transformer areas), customers and their service points (which meter measures whom).

    area_id = add_area(conn, "TQ01", "North yard", now, supply=(terminal_id, pn))
    customer_id = add_customer(conn, "C00012", "Wang Fang", now, area="TQ01", address=...)
    attach_meter(conn, "C00012", terminal_id, pn, "2026-11-01", now, multiplier=1)

A service point links a customer to a measuring point (terminal + pn) from `valid_from`
(inclusive) to `valid_to` (exclusive, None = still in service), with its CT x PT multiplier.
Attaching a new meter ends the customer's current service point on that day, so a meter swap
mid-period is billed from both meters. A meter serves one customer at a time.
"""
import collections
import csv
import datetime

from sqlalchemy import and_, func, insert, or_, select, update

from host_tools.business.errors import BusinessError, NotFound
from host_tools.business.tables import areas, customers, service_points
from host_tools.station.records import terminal_label
from host_tools.station.tables import measuring_points, terminals

Customer = collections.namedtuple(
    "Customer", "id number name address phone account area_id area_code created_at closed_at")
ServicePoint = collections.namedtuple(
    "ServicePoint", "id customer_id terminal_id pn multiplier valid_from valid_to meter")
# meter: how people name it, its address from the archive or TERMINAL:PN (4101-1:3)
Area = collections.namedtuple(
    "Area", "id code name supply_terminal_id supply_pn supply_multiplier customers")

IMPORT_COLUMNS = ("number", "name", "address", "phone", "account", "area")


def check_day(text, what="date"):
    """A calendar label YYYY-MM-DD (checked to be a real date)."""
    try:
        return datetime.date.fromisoformat(str(text).strip()).isoformat()
    except ValueError:
        raise BusinessError("bad %s %r: YYYY-MM-DD such as 2026-11-01" % (what, text)) from None


def add_area(conn, code, name, now, supply=None, supply_multiplier=1):
    """Create a transformer area; `supply` = (terminal_id, pn) of the meter at its entry."""
    code = (code or "").strip()
    if not code or not (name or "").strip():
        raise BusinessError("an area needs a code and a name")
    if conn.execute(select(areas.c.id).where(areas.c.code == code)).first():
        raise BusinessError("area %s exists already" % code)
    if supply_multiplier < 1:
        raise BusinessError("the supply multiplier is a whole number >= 1")
    terminal_id, pn = supply or (None, None)
    return conn.execute(insert(areas).values(
        code=code, name=name.strip(), supply_terminal_id=terminal_id, supply_pn=pn,
        supply_multiplier=supply_multiplier, created_at=now)).inserted_primary_key[0]


def area_id(conn, code):
    found = conn.execute(select(areas.c.id).where(areas.c.code == code)).scalar()
    if found is None:
        raise NotFound("no area %r: see `conc station areas list`" % code)
    return found


def list_areas(conn):
    counts = (select(customers.c.area_id, func.count().label("n"))
              .group_by(customers.c.area_id).subquery())
    rows = conn.execute(select(areas, func.coalesce(counts.c.n, 0))
                        .outerjoin(counts, counts.c.area_id == areas.c.id)
                        .order_by(areas.c.code)).all()
    return [Area(r.id, r.code, r.name, r.supply_terminal_id, r.supply_pn, r.supply_multiplier,
                 r[-1]) for r in rows]


def add_customer(conn, number, name, now, area=None, address="", phone="", account=""):
    """Create a customer (number unique); `area` is an area code or None. Returns its id."""
    number = (number or "").strip()
    if not number or not (name or "").strip():
        raise BusinessError("a customer needs a number and a name")
    if conn.execute(select(customers.c.id).where(customers.c.number == number)).first():
        raise BusinessError("customer %s exists already" % number)
    return conn.execute(insert(customers).values(
        number=number, name=name.strip(), address=address or "", phone=phone or "",
        account=account or "", area_id=area_id(conn, area) if area else None,
        created_at=now)).inserted_primary_key[0]


def import_customers(conn, lines, now):
    """Add the customers of a CSV text (header: number,name[,address,phone,account,area]).
    All or nothing: the first bad row raises BusinessError naming its line, and the caller's
    transaction rolls back. Returns the number added."""
    reader = csv.DictReader(lines)
    missing = {"number", "name"} - set(reader.fieldnames or ())
    if missing:
        raise BusinessError("the CSV header needs the columns number,name (optional: %s)"
                            % ",".join(IMPORT_COLUMNS[2:]))
    added = 0
    for row in reader:
        try:
            add_customer(conn, row.get("number"), row.get("name"), now,
                         area=(row.get("area") or "").strip() or None,
                         address=row.get("address") or "", phone=row.get("phone") or "",
                         account=row.get("account") or "")
        except BusinessError as exc:
            raise BusinessError("line %d: %s" % (reader.line_num, exc)) from None
        added += 1
    return added


def _customer(row):
    return Customer(row.id, row.number, row.name, row.address, row.phone, row.account,
                    row.area_id, row.code, row.created_at, row.closed_at)


def _customer_query():
    return select(customers, areas.c.code).outerjoin(areas, areas.c.id == customers.c.area_id)


def customer(conn, number):
    """The Customer with this number, or NotFound."""
    row = conn.execute(_customer_query().where(customers.c.number == number)).first()
    if row is None:
        raise NotFound("no customer %r: see `conc station customers list`" % number)
    return _customer(row)


def list_customers(conn, area=None, search=None, limit=None, offset=0):
    query = _customer_query().order_by(customers.c.number)
    if area:
        query = query.where(customers.c.area_id == area_id(conn, area))
    if search:
        like = "%%%s%%" % search
        query = query.where(or_(customers.c.number.like(like), customers.c.name.like(like)))
    if limit:
        query = query.limit(limit).offset(offset)
    return [_customer(r) for r in conn.execute(query)]


def attach_meter(conn, number, terminal_id, pn, valid_from, now, multiplier=1):
    """Measure customer `number` with meter (terminal_id, pn) from `valid_from` on.

    The customer's service point in force that day ends there (a meter swap); the meter must
    not serve another customer then. Returns the new service point's id."""
    valid_from = check_day(valid_from, "valid-from date")
    if int(multiplier) < 1:
        raise BusinessError("the multiplier (CT ratio x PT ratio) is a whole number >= 1")
    who = customer(conn, number)
    busy = conn.execute(select(service_points.c.customer_id).where(
        service_points.c.terminal_id == terminal_id, service_points.c.pn == pn,
        service_points.c.customer_id != who.id, _in_force(valid_from))).first()
    if busy:
        raise BusinessError("meter %d:%d serves another customer on %s: detach it there first"
                            % (terminal_id, pn, valid_from))
    current = conn.execute(select(service_points).where(
        service_points.c.customer_id == who.id, _in_force(valid_from))).all()
    for point in current:
        if point.valid_from == valid_from:
            raise BusinessError("customer %s already has a meter from %s" % (number, valid_from))
        conn.execute(update(service_points).where(service_points.c.id == point.id)
                     .values(valid_to=valid_from))
    later = conn.execute(select(service_points.c.valid_from).where(
        service_points.c.customer_id == who.id, service_points.c.valid_from > valid_from)
        .order_by(service_points.c.valid_from)).scalar()
    return conn.execute(insert(service_points).values(
        customer_id=who.id, terminal_id=terminal_id, pn=pn, multiplier=int(multiplier),
        valid_from=valid_from, valid_to=later)).inserted_primary_key[0]


def detach_meter(conn, number, valid_to):
    """End the customer's service point in force on `valid_to` (exclusive) there."""
    valid_to = check_day(valid_to, "end date")
    who = customer(conn, number)
    done = conn.execute(update(service_points).where(
        service_points.c.customer_id == who.id, service_points.c.valid_from < valid_to,
        _in_force(valid_to)).values(valid_to=valid_to))
    if done.rowcount == 0:
        raise BusinessError("customer %s has no meter in service on %s" % (number, valid_to))


def _in_force(day):
    return and_(service_points.c.valid_from <= day,
                or_(service_points.c.valid_to.is_(None), service_points.c.valid_to > day))


def service_points_of(conn, number):
    who = customer(conn, number)
    rows = conn.execute(
        select(service_points, terminals.c.area_code, terminals.c.address,
               measuring_points.c.meter_address)
        .outerjoin(terminals, terminals.c.id == service_points.c.terminal_id)
        .outerjoin(measuring_points, and_(
            measuring_points.c.terminal_id == service_points.c.terminal_id,
            measuring_points.c.pn == service_points.c.pn))
        .where(service_points.c.customer_id == who.id)
        .order_by(service_points.c.valid_from)).all()
    return [ServicePoint(r.id, r.customer_id, r.terminal_id, r.pn, r.multiplier, r.valid_from,
                         r.valid_to, meter_name(r.meter_address, r.area_code, r.address, r.pn))
            for r in rows]


def meter_name(meter_address, area_code, address, pn):
    """A meter as people write it: its address, else TERMINAL:PN."""
    if meter_address:
        return meter_address
    return "%s:%d" % (terminal_label(area_code, address), pn)
