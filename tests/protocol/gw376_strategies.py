"""Hypothesis strategies for 1376.1 values, data units and whole frames (CPython tests only).

Unit strategies are derived from the codec tables in protocol.gw376_units, so a unit added to
the table is round-trip tested without writing a new strategy (custom codecs are listed here).
"""
from hypothesis import strategies as st

from protocol import gw376, gw376_fields
from protocol import gw376_unit_archive as archive
from protocol import gw376_unit_events as events
from protocol import gw376_unit_forward as forward
from protocol import gw376_unit_ids as ids
from protocol import gw376_units as units

_SIGNED_MAX = {5: 7999, 9: 799999, 25: 799999}
_UNSIGNED_MAX = {7: 9999, 11: 10**8 - 1, 13: 10**8 - 1, 14: 10**10 - 1}

years = st.integers(2000, 2099)
bcd99 = st.integers(0, 99)


def format_value(fmt):
    """A value of data format `fmt` (sometimes None = no data)."""
    if fmt in _SIGNED_MAX:
        value = st.integers(-_SIGNED_MAX[fmt], _SIGNED_MAX[fmt])
    elif fmt in _UNSIGNED_MAX:
        value = st.integers(0, _UNSIGNED_MAX[fmt])
    elif fmt == 1:
        value = st.tuples(years, st.integers(0, 19), bcd99, bcd99, bcd99, bcd99,
                          st.integers(0, 7))
    elif fmt == 2:
        value = st.tuples(st.integers(-999, 999), st.integers(-3, 4))
    elif fmt == 15:
        value = st.tuples(years, bcd99, bcd99, bcd99, bcd99)
    elif fmt == 20:
        value = st.tuples(years, bcd99, bcd99)
    elif fmt == 21:
        value = st.tuples(years, bcd99)
    else:
        raise AssertionError("no strategy for format %d" % fmt)
    return st.one_of(st.none(), value)


def _plain(kind):
    if isinstance(kind, int):
        return format_value(kind)
    if isinstance(kind, tuple):
        if kind[0] == "a":
            return st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_ ", max_size=kind[1])
        return st.binary(min_size=kind[1], max_size=kind[1])
    if kind == "ip":
        return st.tuples(*[st.integers(0, 255)] * 4).map(lambda p: "%d.%d.%d.%d" % p)
    if kind == "addr":
        return st.binary(min_size=6, max_size=6).map(lambda b: b.hex())
    return st.integers(0, (1 << (8 * {"u8": 1, "u16": 2, "u24": 3}[kind])) - 1)


def fields_value(fields):
    """A dict for a layout (text, or a (name, type[, count]) field table)."""
    parts = {}
    for field in gw376_fields.layout(fields):
        kind = field[1]
        if isinstance(kind, tuple) and kind[0] == "bits":
            for name, _shift, width, bias in kind[2]:
                if isinstance(bias, tuple):
                    parts[name] = st.sampled_from(bias)
                else:
                    parts[name] = st.integers(bias, bias + (1 << width) - 1)
            continue
        if len(field) > 2:
            parts[field[0]] = st.lists(_plain(kind), min_size=field[2], max_size=field[2])
        else:
            parts[field[0]] = _plain(kind)
    return st.fixed_dictionaries(parts)


@st.composite
def energy_value(draw, td_format, blocks):
    tariffs = draw(st.integers(0, 14))
    value = {"read_time": draw(format_value(15)), "tariffs": tariffs}
    if td_format:
        value["td"] = draw(format_value(td_format))
    for name, fmt in gw376_fields.layout(blocks):
        value[name] = draw(st.lists(format_value(fmt), min_size=tariffs + 1,
                                    max_size=tariffs + 1))
    return value


point = st.one_of(st.just(0), st.integers(1, 2040), st.just(gw376.PN_ALL))
fn_number = st.integers(1, 248)

# ERC3's changed units: a PN_ALL identifier is a single unit like any other.
_erc_record = st.one_of(
    *[fields_value(fields).map(lambda v, erc=erc: dict(v, erc=erc))
      for erc, fields in sorted(events.ERC_FIELDS.items())],
    st.fixed_dictionaries({"erc": st.just(3), "time": format_value(15),
                           "master": st.integers(0, 255),
                           "units": st.lists(st.tuples(point, fn_number), max_size=8)}),
    st.fixed_dictionaries({"erc": st.sampled_from([4, 9, 35, 64]),
                           "raw": st.binary(max_size=30)}),
)


@st.composite
def events_value(draw):
    records = draw(st.lists(_erc_record, max_size=6))
    pm = draw(st.integers(0, 255))
    return {"ec_important": draw(st.integers(0, 255)), "ec_normal": draw(st.integers(0, 255)),
            "pm": pm, "pn": (pm + len(records)) & 0xFF, "records": records}


_CUSTOM = {
    ids.decode_confirm_list: st.fixed_dictionaries({
        "afn": st.integers(0, 255),
        "items": st.lists(st.tuples(point, fn_number, st.integers(0, 1)), max_size=10)}),
    archive.decode_archive: st.fixed_dictionaries({
        "meters": st.lists(fields_value(archive.METER_ARCHIVE_ENTRY), max_size=4)}),
    archive.decode_serials: st.fixed_dictionaries({
        "serials": st.lists(st.integers(0, 65535), max_size=20)}),
    events.decode_events: events_value(),
    units._decode_optional_clock: format_value(1),
    ids.decode_report_task: st.tuples(
        fields_value(ids.REPORT_TASK),
        st.lists(st.tuples(point, fn_number), max_size=12)).map(
            lambda t: dict(t[0], units=t[1])),
}


def unit_value(afn, fn, direction):
    """A value for the data of (afn, fn, direction), from its codec's table entry."""
    codec = units.codec(afn, fn, direction)
    kind = codec[0]
    if kind == units.EMPTY:
        return st.none()
    if kind == units.FIELDS:
        return fields_value(codec[1])
    if kind == units.FORMAT:
        return format_value(codec[1])
    if kind == units.ENERGY:
        return energy_value(codec[1], codec[2])
    if kind == units.CURVE:
        return st.integers(0, 6).flatmap(lambda n: st.fixed_dictionaries({
            "start": format_value(15), "density": st.integers(0, 255), "points": st.just(n),
            "values": st.lists(format_value(codec[1]), min_size=n, max_size=n)}))
    if codec[1] in _CUSTOM:
        return _CUSTOM[codec[1]]
    # transparent forwarding: its own fields plus the forwarded bytes
    if direction == 0:
        base = fields_value(forward.FORWARD_DOWN)
    else:
        base = st.fixed_dictionaries({"port": st.integers(0, 255)})
    return st.tuples(base, st.binary(max_size=40)).map(lambda t: dict(t[0], data=t[1]))


KNOWN = units.known_units()
AFNS = sorted(set(afn for afn, _fn, _d in KNOWN))


_FNS = {}


def _fns_of(afn, direction):
    """(Fns with a codec, Fns without) for this AFN and direction."""
    if (afn, direction) not in _FNS:
        known = [fn for fn in range(1, 249) if units.is_known(afn, fn, direction)]
        _FNS[(afn, direction)] = (known, [fn for fn in range(1, 249) if fn not in known])
    return _FNS[(afn, direction)]


@st.composite
def unit_list(draw, afn, direction):
    """A list of (pn, fn, data) for a frame of this AFN and direction."""
    fns, unknown_fns = _fns_of(afn, direction)
    found = []
    if fns:
        # AFN02 clocks and AFN00 F3 lists take the rest of the region: one unit per frame,
        # which is also how the field sends them.
        count = 1 if afn in (gw376.AFN_LINK, gw376.AFN_CONFIRM) else draw(st.integers(1, 5))
        for _ in range(count):
            fn = draw(st.sampled_from(fns))
            found.append((draw(point), fn, draw(unit_value(afn, fn, direction))))
    if not fns or draw(st.booleans()):
        # An Fn without a codec can only come last: it keeps the rest of the data region.
        if unknown_fns and (afn not in (gw376.AFN_LINK, gw376.AFN_CONFIRM) or not found):
            fn = draw(st.sampled_from(unknown_fns))
            found.append((draw(point), fn, units.Unknown(draw(st.binary(max_size=30)))))
    return found


@st.composite
def frames(draw):
    direction = draw(st.integers(0, 1))
    afn = draw(st.one_of(st.sampled_from(AFNS), st.integers(0, 255)))
    acd = draw(st.integers(0, 1)) if direction == gw376.UP else 0
    return gw376.Frame(
        afn, draw(unit_list(afn, direction)), direction, draw(st.integers(0, 1)),
        draw(st.integers(0, 15)), draw(st.integers(0, 9999)), draw(st.integers(0, 65535)),
        draw(st.booleans()), draw(st.integers(0, 127)), draw(st.integers(0, 15)),
        draw(st.booleans()), draw(st.booleans()), draw(st.booleans()),
        fcb=draw(st.integers(0, 1)) if direction == gw376.DOWN else 0,
        fcv=draw(st.integers(0, 1)), acd=acd,
        pw=draw(st.binary(min_size=16, max_size=16)) if gw376.needs_pw(afn, direction) else None,
        ec=draw(st.tuples(st.integers(0, 255), st.integers(0, 255))) if acd else None,
        tp=draw(st.one_of(st.none(), st.tuples(st.integers(0, 255), bcd99, bcd99, bcd99, bcd99,
                                               st.integers(0, 255)))))
