"""Q/GDW 1376.1 data unit identifiers: DA names measuring points (Pn), DT information classes
(Fn), each as two bytes of a bit and a group; one DA/DT pair may name several of each, the
cross product of its points and classes (in Pn-major order when expanded).

Shared by the frame codec (protocol/gw376.py) and the unit codec (protocol/gw376_units.py).
"""
from protocol.compat import const
from protocol.errors import ProtocolError

PN_ALL = const(0xFFFF)                 # DA = FF 00: every valid measuring point (not p0)


def da_bytes(pn):
    """Measuring point -> (DA1, DA2) for a single point."""
    if pn == 0:
        return 0, 0
    if pn == PN_ALL:
        return 0xFF, 0
    if not 1 <= pn <= 2040:
        raise ProtocolError("measuring point p%d is outside 0..2040" % pn)
    return 1 << ((pn - 1) & 7), (pn - 1) // 8 + 1


def dt_bytes(fn):
    """Information class -> (DT1, DT2) for a single Fn."""
    if not 1 <= fn <= 248:
        raise ProtocolError("F%d is outside F1..F248" % fn)
    return 1 << ((fn - 1) & 7), (fn - 1) // 8


def expand_da(da1, da2, offset=None):
    """DA bytes -> list of measuring points (several bits = several points)."""
    if da2 == 0:
        if da1 == 0:
            return [0]
        if da1 == 0xFF:
            return [PN_ALL]
        raise ProtocolError("DA %02X 00 names no measuring point" % da1, offset)
    if da1 == 0:
        raise ProtocolError("DA 00 %02X names no measuring point" % da2, offset)
    base = (da2 - 1) * 8 + 1
    return [base + bit for bit in range(8) if da1 & (1 << bit)]


def expand_dt(dt1, dt2, offset=None):
    """DT bytes -> list of Fn."""
    if dt1 == 0 or dt2 > 30:
        raise ProtocolError("DT %02X %02X names no information class" % (dt1, dt2), offset)
    base = dt2 * 8 + 1
    return [base + bit for bit in range(8) if dt1 & (1 << bit)]


def _point_group(pn):
    if pn == 0 or pn == PN_ALL:
        return -pn - 1              # p0 and "all points" never share a DA with other points
    return (pn - 1) // 8


def group_units(items):
    """Split [(pn, fn, data)] into DA/DT blocks: [(pns, fns, [data...])].

    Consecutive items sharing one DA group and one DT group are merged when they are exactly
    the Pn-major cross product of their points and classes, as a parser would expand them.
    """
    blocks = []
    i = 0
    count = len(items)
    while i < count:
        pg, fg = _point_group(items[i][0]), (items[i][1] - 1) // 8
        run_end = i + 1
        while (run_end < count and run_end - i < 64 and
               _point_group(items[run_end][0]) == pg and (items[run_end][1] - 1) // 8 == fg):
            run_end += 1
        taken = 1
        for k in range(run_end - i, 1, -1):
            if _is_cross_product(items, i, i + k):
                taken = k
                break
        pns, fns = [], []
        for j in range(i, i + taken):
            if items[j][0] not in pns:
                pns.append(items[j][0])
            if items[j][1] not in fns:
                fns.append(items[j][1])
        blocks.append((pns, fns, [items[j][2] for j in range(i, i + taken)]))
        i += taken
    return blocks


def _is_cross_product(items, start, end):
    pns, fns = [], []
    for j in range(start, end):
        if items[j][0] not in pns:
            pns.append(items[j][0])
        if items[j][1] not in fns:
            fns.append(items[j][1])
    if len(pns) * len(fns) != end - start:
        return False
    pns.sort()
    fns.sort()
    j = start
    for pn in pns:
        for fn in fns:
            if items[j][0] != pn or items[j][1] != fn:
                return False
            j += 1
    return True


def append_dadt(out, pns, fns):
    da1 = da2 = 0
    for pn in pns:
        one1, one2 = da_bytes(pn)
        da1 |= one1
        da2 = one2
    dt1 = dt2 = 0
    for fn in fns:
        one1, one2 = dt_bytes(fn)
        dt1 |= one1
        dt2 = one2
    out.append(da1)
    out.append(da2)
    out.append(dt1)
    out.append(dt2)
