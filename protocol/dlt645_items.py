"""The DL/T 645 data-item catalogue (what a DI means) and exact value decode / encode.

The catalogue is one tuple of rows - data, not code, and no object per item, so it costs a few
KB on the board. A row is

    (di, name, unit, fmt, signed, count, di97, fmt97, history)

  di       DL/T 645-2007 identifier DI3 DI2 DI1 DI0 as an int (0x00010000); sent DI0 first
  name     snake_case name usable on the command line ("energy_fwd_total")
  unit     "kWh", "V", "A", "kW", "Hz", "yuan", or "" for none
  fmt      the standard's format of ONE element: digits "X" (or "N") with an optional ".":
           "XXXXXX.XX" is 4 bytes, 2 decimals; date/time fields "YYMMDDWW", "hhmmss",
           "YYMMDDhhmm"; "NNNNNNNNNNNN" a 12-digit number kept as text (addresses);
           "bits16" a 2-byte binary bit field (status words), least significant byte first
  signed   1 when the top bit of the most significant byte is the sign
  count    elements in the standard block (0001FF00 = total + 4 tariffs is 5); a meter with
           fewer tariffs sends fewer elements and one with more sends more: decode takes any
           whole number of elements, so nothing a meter sends is lost
  di97     the DL/T 645-1997 identifier for the same quantity (0x9010), or None
  fmt97    the 1997 format when it differs from fmt (1997 voltage is "XXX"), else None
  history  for items where DI0 selects the n-th previous record (05060001 = last daily
           freeze, 05060002 = the one before ...): the largest n; 0 otherwise

Values stay exact: a numeric element decodes to an int in units of 10**-decimals (000006.78
kWh -> 678 with 2 decimals); nothing goes through a float. A block decodes to a tuple, a date or
time to a tuple of ints (year with its century: 2024), an address to its 12-digit text, and an
element of all EE bytes ("no data") to None.

Public API:
    ITEMS                                   the table above
    lookup(di) -> row or None               2007 DI, including history DIs (05060003)
    lookup_1997(di97) -> row or None
    find(key) -> (di, row)                  key: DI int, 8 hex digits, name, or
                                            "name:N" for the N-th previous record;
                                            raises ProtocolError for an unknown name
    find_1997(key) -> (di97, row)           key: 1997 DI int, 4 hex digits, or a name that
                                            has a 1997 equivalent
    decode(row, payload, version=2007) -> value
    encode(row, value, version=2007) -> bytes
    decimals(row, version=2007), element_size(row, version=2007), item_size(row, version)
    value_text(row, value, version=2007) -> "6.78" / "2024-05-01" / "12:30:00" ...
    scaled_text(value, decimals) -> "6.78" (exact fixed-point text of a scaled int)
    history_di(row, n) -> DI of the n-th previous record
"""
from protocol import bcd
from protocol.bcd import is_decimal
from protocol.errors import ProtocolError

DI = 0
NAME = 1
UNIT = 2
FMT = 3
SIGNED = 4
COUNT = 5
DI97 = 6
FMT97 = 7
HISTORY = 8

_E = "XXXXXX.XX"    # energy, kWh

ITEMS = (
    # Energy (DI3 = 00). DI1 = 00 total, 01..04 tariff 1..4, FF the block total + tariffs.
    (0x00000000, "energy_combined_total", "kWh", _E, 1, 1, None, None, 0),
    (0x0000FF00, "energy_combined_block", "kWh", _E, 1, 5, None, None, 0),
    (0x00010000, "energy_fwd_total", "kWh", _E, 0, 1, 0x9010, None, 0),
    (0x00010100, "energy_fwd_t1", "kWh", _E, 0, 1, 0x9011, None, 0),
    (0x00010200, "energy_fwd_t2", "kWh", _E, 0, 1, 0x9012, None, 0),
    (0x00010300, "energy_fwd_t3", "kWh", _E, 0, 1, 0x9013, None, 0),
    (0x00010400, "energy_fwd_t4", "kWh", _E, 0, 1, 0x9014, None, 0),
    (0x0001FF00, "energy_fwd_block", "kWh", _E, 0, 5, 0x901F, None, 0),
    (0x0001FF01, "settled_energy_fwd_block", "kWh", _E, 0, 5, None, None, 12),
    (0x00020000, "energy_rev_total", "kWh", _E, 0, 1, 0x9020, None, 0),
    (0x00020100, "energy_rev_t1", "kWh", _E, 0, 1, 0x9021, None, 0),
    (0x00020200, "energy_rev_t2", "kWh", _E, 0, 1, 0x9022, None, 0),
    (0x00020300, "energy_rev_t3", "kWh", _E, 0, 1, 0x9023, None, 0),
    (0x00020400, "energy_rev_t4", "kWh", _E, 0, 1, 0x9024, None, 0),
    (0x0002FF00, "energy_rev_block", "kWh", _E, 0, 5, 0x902F, None, 0),
    # Instantaneous values (DI3 = 02)
    (0x02010100, "voltage_a", "V", "XXX.X", 0, 1, 0xB611, "XXX", 0),
    (0x02010200, "voltage_b", "V", "XXX.X", 0, 1, 0xB612, "XXX", 0),
    (0x02010300, "voltage_c", "V", "XXX.X", 0, 1, 0xB613, "XXX", 0),
    (0x020101FF, "voltage_block", "V", "XXX.X", 0, 3, 0xB61F, "XXX", 0),
    (0x02020100, "current_a", "A", "XXX.XXX", 1, 1, 0xB621, "XX.XX", 0),
    (0x02020200, "current_b", "A", "XXX.XXX", 1, 1, 0xB622, "XX.XX", 0),
    (0x02020300, "current_c", "A", "XXX.XXX", 1, 1, 0xB623, "XX.XX", 0),
    (0x020201FF, "current_block", "A", "XXX.XXX", 1, 3, 0xB62F, "XX.XX", 0),
    (0x02030000, "power_active_total", "kW", "XX.XXXX", 1, 1, 0xB630, None, 0),
    (0x02030100, "power_active_a", "kW", "XX.XXXX", 1, 1, 0xB631, None, 0),
    (0x02030200, "power_active_b", "kW", "XX.XXXX", 1, 1, 0xB632, None, 0),
    (0x02030300, "power_active_c", "kW", "XX.XXXX", 1, 1, 0xB633, None, 0),
    (0x0203FF00, "power_active_block", "kW", "XX.XXXX", 1, 4, None, None, 0),
    (0x02060000, "power_factor_total", "", "X.XXX", 1, 1, 0xB650, None, 0),
    (0x02060100, "power_factor_a", "", "X.XXX", 1, 1, 0xB651, None, 0),
    (0x02060200, "power_factor_b", "", "X.XXX", 1, 1, 0xB652, None, 0),
    (0x02060300, "power_factor_c", "", "X.XXX", 1, 1, 0xB653, None, 0),
    (0x0206FF00, "power_factor_block", "", "X.XXX", 1, 4, 0xB65F, None, 0),
    (0x02800002, "frequency", "Hz", "XX.XX", 0, 1, None, None, 0),
    (0x00900200, "balance_remaining", "yuan", "XXXXXX.XX", 0, 1, None, None, 0),
    # Parameters (DI3 = 04)
    (0x04000101, "date", "", "YYMMDDWW", 0, 1, 0xC010, None, 0),
    (0x04000102, "time", "", "hhmmss", 0, 1, 0xC011, None, 0),
    (0x04000401, "address", "", "NNNNNNNNNNNN", 0, 1, 0xC032, None, 0),
    (0x04000402, "meter_number", "", "NNNNNNNNNNNN", 0, 1, None, None, 0),
    (0x04000501, "status_word_1", "", "bits16", 0, 1, None, None, 0),
    (0x04000502, "status_word_2", "", "bits16", 0, 1, None, None, 0),
    (0x04000503, "status_word_3", "", "bits16", 0, 1, None, None, 0),
    (0x04000504, "status_word_4", "", "bits16", 0, 1, None, None, 0),
    (0x04000505, "status_word_5", "", "bits16", 0, 1, None, None, 0),
    (0x04000506, "status_word_6", "", "bits16", 0, 1, None, None, 0),
    (0x04000507, "status_word_7", "", "bits16", 0, 1, None, None, 0),
    (0x040005FF, "status_words", "", "bits16", 0, 7, None, None, 0),
    # Frozen data (DI3 = 05); DI0 = n-th previous freeze, 1..62
    (0x05060001, "freeze_daily_time", "", "YYMMDDhhmm", 0, 1, None, None, 62),
    (0x05060101, "freeze_daily_energy_fwd", "kWh", _E, 0, 5, None, None, 62),
    (0x05060201, "freeze_daily_energy_rev", "kWh", _E, 0, 5, None, None, 62),
)

# Status word 3 (04000503) bits the concentrator acts on
STATUS3_RELAY_OPEN = 0x0010         # bit 4: relay state, 1 = open (power cut)
STATUS3_RELAY_COMMAND = 0x0040      # bit 6: relay command state, 1 = trip commanded


# ---------------------------------------------------------------------------------------------
# Lookup

def lookup(di):
    """2007 DI -> its row, or None. History DIs (DI0 = n) resolve to their item's row."""
    for row in ITEMS:
        if row[DI] == di:
            return row
    n = di & 0xFF
    for row in ITEMS:
        if row[HISTORY] and (row[DI] ^ di) & 0xFFFFFF00 == 0 and 1 <= n <= row[HISTORY]:
            return row
    return None


def lookup_1997(di97):
    for row in ITEMS:
        if row[DI97] == di97:
            return row
    return None


def history_di(row, n):
    """DI of the n-th previous record of a history item (n = 1 is the latest)."""
    if not row[HISTORY]:
        if n == 1:
            return row[DI]
        raise ProtocolError("%s keeps no history" % row[NAME])
    if not 1 <= n <= row[HISTORY]:
        raise ProtocolError("%s keeps records 1..%d, not %r" % (row[NAME], row[HISTORY], n))
    return (row[DI] & 0xFFFFFF00) | n


def find(key):
    """DI int, hex text ("00010000"), name or "name:N" -> (di, row); row None if unknown DI."""
    if isinstance(key, int):
        return key, lookup(key)
    text = _key_text(key)
    if len(text) == 8 and _is_hex(text):
        di = int(text, 16)
        return di, lookup(di)
    name, _, index = text.partition(":")
    for row in ITEMS:
        if row[NAME] == name:
            if not index:
                return row[DI], row
            if not is_decimal(index):
                raise ProtocolError("record number in %r must be a number" % text)
            return history_di(row, int(index)), row
    raise ProtocolError("unknown data item %r: give a name such as energy_fwd_total or a "
                        "DI of 8 hex digits" % text)


def find_1997(key):
    """1997 DI int, 4 hex digits or a name -> (di97, row); row None for an unknown DI."""
    if isinstance(key, int):
        return key, lookup_1997(key)
    text = _key_text(key)
    if len(text) == 4 and _is_hex(text):
        di97 = int(text, 16)
        return di97, lookup_1997(di97)
    di, row = find(text)
    if row is None or row[DI97] is None or di != row[DI]:
        raise ProtocolError("%s has no DL/T 645-1997 equivalent" % text)
    return row[DI97], row


def _key_text(key):
    if not isinstance(key, str):
        raise ProtocolError("data item must be a name or a DI, not %r" % (key,))
    return key.strip()


def _is_hex(text):
    for ch in text:
        if ch not in "0123456789abcdefABCDEF":
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Formats

def _fmt(row, version):
    if version == 1997 and row[FMT97]:
        return row[FMT97]
    return row[FMT]


def _kind(fmt):
    if fmt == "bits16":
        return "bits"
    if fmt == "NNNNNNNNNNNN":
        return "number_text"
    if fmt[0] in "XN":
        return "number"
    return "datetime"


def decimals(row, version=2007):
    fmt = _fmt(row, version)
    if _kind(fmt) != "number":
        return 0
    dot = fmt.find(".")
    return 0 if dot < 0 else len(fmt) - dot - 1


def element_size(row, version=2007):
    """Bytes of one element."""
    fmt = _fmt(row, version)
    if fmt == "bits16":
        return 2
    digits = len(fmt) - (1 if "." in fmt else 0)
    return (digits + 1) // 2      # 1997 "XXX" fills 2 bytes


def item_size(row, version=2007):
    """Bytes of the whole item (all elements of a block)."""
    return element_size(row, version) * row[COUNT]


def decode(row, payload, version=2007):
    """Reply payload (after the DI) -> value. A block holds any whole number of elements
    (a meter with 2 tariffs sends 3 of the usual 5, one with 8 sends 9), never a partial one."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ProtocolError("%s payload must be bytes, not %r" % (row[NAME], payload))
    size = element_size(row, version)
    got = len(payload)
    if row[COUNT] == 1:
        if got != size:
            raise ProtocolError("%s is %d bytes, got %d" % (row[NAME], size, got), 0)
        return _decode_one(row, payload, 0, size, version)
    if got == 0 or got % size:
        raise ProtocolError("%s is a block of %d-byte elements, got %d bytes" % (
            row[NAME], size, got), 0)
    return tuple(_decode_one(row, payload, i, size, version) for i in range(0, got, size))


def _decode_one(row, buf, start, size, version):
    if bcd.is_no_data(buf, start, size):
        return None
    fmt = _fmt(row, version)
    kind = _kind(fmt)
    if kind == "number":
        return bcd.decode(buf, start, size, bool(row[SIGNED]))
    if kind == "bits":
        return buf[start] | (buf[start + 1] << 8)
    if kind == "number_text":
        return "%012d" % bcd.decode(buf, start, size)
    fields = []
    for i in range(size):                           # most significant (first letter) first
        pos = start + size - 1 - i
        value = bcd.byte_value(buf[pos], pos)
        fields.append(2000 + value if fmt[2 * i] == "Y" else value)
    return tuple(fields)


def encode(row, value, version=2007):
    """value (as decode returns it) -> payload bytes."""
    if row[COUNT] == 1:
        return _encode_one(row, value, version)
    if not isinstance(value, (tuple, list)) or not value:
        raise ProtocolError("%s takes a tuple of values (usually %d)" % (row[NAME],
                                                                        row[COUNT]))
    return b"".join(_encode_one(row, element, version) for element in value)


def _encode_one(row, value, version):
    size = element_size(row, version)
    if value is None:
        return b"\xee" * size
    fmt = _fmt(row, version)
    kind = _kind(fmt)
    if kind == "number":
        if not isinstance(value, int):
            raise ProtocolError("%s takes a scaled integer, not %r" % (row[NAME], value))
        digits = len(fmt) - (1 if "." in fmt else 0)
        if not -(10 ** digits) < value < 10 ** digits:
            raise ProtocolError("%d does not fit %s (%s)" % (value, row[NAME], fmt))
        return bcd.encode(value, size, bool(row[SIGNED]))
    if kind == "bits":
        if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            raise ProtocolError("%s takes 0..0xFFFF, not %r" % (row[NAME], value))
        return bytes((value & 0xFF, value >> 8))
    if kind == "number_text":
        if not isinstance(value, str) or len(value) != 12 or not is_decimal(value):
            raise ProtocolError("%s takes 12 digits, not %r" % (row[NAME], value))
        return bcd.encode(int(value), size)
    if not isinstance(value, (tuple, list)) or len(value) != size:
        raise ProtocolError("%s takes %d fields (%s), not %r" % (row[NAME], size, fmt, value))
    out = bytearray(size)
    for i in range(size):
        field = value[i]
        if not isinstance(field, int):
            raise ProtocolError("%s field %s must be an integer"
                                % (row[NAME], fmt[2 * i:2 * i + 2]))
        if fmt[2 * i] == "Y" and field >= 2000:
            field -= 2000
        out[size - 1 - i] = bcd.bcd_byte(field)
    return bytes(out)


def scaled_text(value, places):
    """Exact fixed-point text: scaled_text(678, 2) -> "6.78", scaled_text(-5, 3) -> "-0.005"."""
    if places <= 0:
        return "%d" % value
    sign = "-" if value < 0 else ""
    magnitude = -value if value < 0 else value
    scale = 10 ** places
    fraction = "%d" % (magnitude % scale)
    return "%s%d.%s%s" % (sign, magnitude // scale, "0" * (places - len(fraction)), fraction)


def value_text(row, value, version=2007):
    """Readable, exact text of a decoded value (no unit)."""
    if isinstance(value, tuple) and row[COUNT] > 1:
        return " ".join(_one_text(row, element, version) for element in value)
    return _one_text(row, value, version)


def _one_text(row, value, version):
    if value is None:
        return "no data"
    fmt = _fmt(row, version)
    kind = _kind(fmt)
    if kind == "number":
        return scaled_text(value, decimals(row, version))
    if kind == "bits":
        return "0x%04X" % value
    if kind == "number_text":
        return value
    parts = []
    for i in range(len(value)):
        field = fmt[2 * i:2 * i + 2]
        if field == "YY":
            parts.append("%04d" % value[i])
        else:
            parts.append("%02d" % value[i])
    if fmt == "YYMMDDWW":
        return "%s-%s-%s weekday %s" % (parts[0], parts[1], parts[2], value[3])
    if fmt == "hhmmss":
        return ":".join(parts)
    if fmt.startswith("YYMMDD"):
        return "%s-%s-%s %s" % (parts[0], parts[1], parts[2], ":".join(parts[3:]))
    return " ".join(parts)
