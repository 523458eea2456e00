"""The billing office's settings (business_settings rows, JSON values) and their defaults."""
import json

from sqlalchemy import insert, select, update

from host_tools.business.tables import settings

DEFAULTS = {
    "reading_day": 1,              # day of the month whose 00:00 frozen values close a period
    "due_days": 15,                # a statement is due this many days after the period's end
    "arrears_threshold_fen": 0,    # a case opens when the balance is below minus this
    "utility_name": "",            # the header of printed statements
    "utility_address": "",         # business-output: the footer of statements and receipts
    "utility_phone": "",           # business-output: the service hotline printed on them
}


def get(conn, key):
    value = conn.execute(select(settings.c.value).where(settings.c.key == key)).scalar()
    return DEFAULTS[key] if value is None else json.loads(value)


def put(conn, key, value, now, user=None):
    if key not in DEFAULTS:
        raise KeyError("unknown setting %r: one of %s" % (key, ", ".join(DEFAULTS)))
    values = {"value": json.dumps(value), "updated_at": now,
              "updated_by": None if user is None else user.id}
    if conn.execute(update(settings).where(settings.c.key == key).values(**values)).rowcount == 0:
        conn.execute(insert(settings).values(key=key, **values))
