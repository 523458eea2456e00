"""The DL/T 645 data-item catalogue: every row is consistent, values round-trip exactly."""
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from protocol import dlt645, dlt645_items as items
from protocol.errors import ProtocolError

# Every DI in /work/shared/design/PROTOCOLS.md's table must be in the catalogue.
PROTOCOLS_MD_DIS = [0x00000000, 0x00010000, 0x0001FF00, 0x00020000, 0x02010100, 0x02010200,
                    0x02010300, 0x020101FF, 0x02020100, 0x02020200, 0x02020300, 0x02030000,
                    0x02060000, 0x04000101, 0x04000102, 0x04000401, 0x04000501, 0x04000502,
                    0x04000503, 0x04000504, 0x04000505, 0x04000506, 0x04000507, 0x040005FF,
                    0x05060001, 0x05060101]
# 1997 identifiers named in PROTOCOLS.md and the 2007 item they correspond to
EQUIVALENTS_1997 = {0x9010: 0x00010000, 0x901F: 0x0001FF00, 0xB611: 0x02010100,
                    0xB621: 0x02020100, 0xB630: 0x02030000, 0xC010: 0x04000101,
                    0xC011: 0x04000102, 0xC032: 0x04000401}


@pytest.mark.parametrize("di", PROTOCOLS_MD_DIS, ids=lambda di: "%08X" % di)
def test_documented_di_is_catalogued(di):
    row = items.lookup(di)
    assert row is not None and row[items.DI] == di


def test_documented_sizes_and_formats():
    def size(di):
        return items.item_size(items.lookup(di))
    assert [size(di) for di in (0x00010000, 0x0001FF00, 0x02010100, 0x020101FF, 0x02020100,
                                0x02030000, 0x02060000, 0x04000101, 0x04000102, 0x04000401,
                                0x04000501, 0x040005FF, 0x05060001, 0x05060101)] == \
        [4, 20, 2, 6, 3, 3, 2, 4, 3, 6, 2, 14, 5, 20]
    assert items.lookup(0x02020100)[items.SIGNED] and items.lookup(0x02030000)[items.SIGNED]
    assert not items.lookup(0x00010000)[items.SIGNED]
    assert items.decimals(items.lookup(0x02020100)) == 3
    assert items.decimals(items.lookup(0x02030000)) == 4


@pytest.mark.parametrize("di97, di", sorted(EQUIVALENTS_1997.items()))
def test_1997_equivalents(di97, di):
    assert items.lookup_1997(di97) is items.lookup(di)


def test_rows_are_unique_and_well_formed():
    names = [row[items.NAME] for row in items.ITEMS]
    assert len(set(names)) == len(names)
    dis = [row[items.DI] for row in items.ITEMS]
    assert len(set(dis)) == len(dis)
    di97s = [row[items.DI97] for row in items.ITEMS if row[items.DI97] is not None]
    assert len(set(di97s)) == len(di97s)
    for row in items.ITEMS:
        assert len(row) == 9 and row[items.NAME].replace("_", "").isalnum()
        assert row[items.NAME] == row[items.NAME].lower()
        assert row[items.COUNT] >= 1 and items.element_size(row) >= 1
        assert items.find(row[items.NAME]) == (row[items.DI], row)
        assert items.lookup(row[items.DI]) is row


def test_vector_reply_decodes_to_exact_energy():
    # read_00010000_rsp from /work/shared/vectors/dlt645_examples.tsv: 000006.78 kWh
    frame = dlt645.parse_frame(bytes.fromhex("6861100130121568910833333433ab3933334916"))
    row = items.lookup(frame.di)
    value = items.decode(row, frame.payload)
    assert (row[items.NAME], value, items.decimals(row), row[items.UNIT]) == (
        "energy_fwd_total", 678, 2, "kWh")
    assert items.value_text(row, value) == "6.78"


def test_history_items_follow_di0():
    di, row = items.find("freeze_daily_energy_fwd:3")
    assert di == 0x05060103 and row[items.NAME] == "freeze_daily_energy_fwd"
    assert items.lookup(0x0506003E)[items.NAME] == "freeze_daily_time"
    assert items.lookup(0x0506003F) is None          # only 62 records are kept
    assert items.lookup(0x05060000) is None
    assert items.find("settled_energy_fwd_block:12")[0] == 0x0001FF0C
    assert items.lookup(0x0001FF00)[items.NAME] == "energy_fwd_block"
    with pytest.raises(ProtocolError):
        items.find("freeze_daily_time:63")
    with pytest.raises(ProtocolError):
        items.find("energy_fwd_total:2")


def test_find_accepts_di_int_hex_and_rejects_unknown_names():
    assert items.find(0x00010000)[1][items.NAME] == "energy_fwd_total"
    assert items.find("0001ff00")[0] == 0x0001FF00
    assert items.find("12345678") == (0x12345678, None)
    with pytest.raises(ProtocolError):
        items.find("energy_sideways")


def test_decode_examples():
    row = items.lookup(0x02020100)
    assert items.decode(row, bytes.fromhex("345682")) == -25634          # -25.634 A
    assert items.value_text(row, -25634) == "-25.634"
    assert items.decode(items.lookup(0x04000101), bytes.fromhex("03010524")) == (2024, 5, 1, 3)
    assert items.decode(items.lookup(0x04000102), bytes.fromhex("563412")) == (12, 34, 56)
    assert items.decode(items.lookup(0x04000401), bytes.fromhex("611001301215")) == \
        "151230011061"
    assert items.decode(items.lookup(0x04000503), bytes.fromhex("1000")) & \
        items.STATUS3_RELAY_OPEN
    assert items.decode(items.lookup(0x05060001), bytes.fromhex("0500010524")) == \
        (2024, 5, 1, 0, 5)
    # a meter with 2 tariffs answers 3 of the 5 block elements; EE..EE means "no data"
    block = items.decode(items.lookup(0x0001FF00), bytes.fromhex("78060000" "00010000" "eeeeeeee"))
    assert block == (678, 100, None)
    assert items.value_text(items.lookup(0x0001FF00), block) == "6.78 1.00 no data"


def test_block_from_a_meter_with_more_tariffs_keeps_every_element():
    row = items.lookup(0x0001FF00)
    value = tuple(range(100, 109))                    # total + 8 tariffs
    assert items.decode(row, items.encode(row, value)) == value


def test_find_1997():
    assert items.find_1997("energy_fwd_total") == (0x9010, items.lookup(0x00010000))
    assert items.find_1997("B621")[1][items.NAME] == "current_a"
    assert items.find_1997(0x1234) == (0x1234, None)
    with pytest.raises(ProtocolError):
        items.find_1997("freeze_daily_time")


def test_1997_formats_differ_where_the_standard_differs():
    volts = items.lookup_1997(0xB611)
    assert items.decode(volts, bytes.fromhex("2002"), 1997) == 220 and \
        items.decimals(volts, 1997) == 0
    amps = items.lookup_1997(0xB621)
    assert items.element_size(amps, 1997) == 2 and items.decimals(amps, 1997) == 2


@pytest.mark.parametrize("di, payload", [
    (0x00010000, "780600"),           # short
    (0x00010000, "7806000000"),       # long
    (0x0001FF00, "7806000000"),       # partial block element
    (0x0001FF00, ""),
    (0x00010000, "7A060000"),         # not BCD
    (0x04000101, "031A0524"),         # date field not BCD
    (0x02010100, "12"),               # voltage is 2 bytes
])
def test_bad_payloads(di, payload):
    with pytest.raises(ProtocolError) as err:
        items.decode(items.lookup(di), bytes.fromhex(payload))
    assert err.value.offset is not None


def _element(row, version):
    fmt = row[items.FMT97] if version == 1997 and row[items.FMT97] else row[items.FMT]
    if fmt == "bits16":
        return st.integers(0, 0xFFFF)
    if fmt == "NNNNNNNNNNNN":
        return st.text("0123456789", min_size=12, max_size=12)
    if fmt[0] in "XN":
        digits = len(fmt.replace(".", ""))
        top = 10 ** digits - 1
        if row[items.SIGNED]:
            top = min(top, 8 * 10 ** (items.element_size(row, version) * 2 - 1) - 1)
            return st.integers(-top, top)
        return st.integers(0, top)
    fields = []
    for i in range(0, len(fmt), 2):
        field = fmt[i:i + 2]
        fields.append(st.integers(2000, 2099) if field == "YY" else st.integers(0, 99))
    return st.tuples(*fields)


def _value(row, version):
    element = st.one_of(_element(row, version), st.none())
    if row[items.COUNT] == 1:
        return element
    return st.lists(element, min_size=1, max_size=row[items.COUNT]).map(tuple)


@pytest.mark.parametrize("row", items.ITEMS, ids=lambda row: row[items.NAME])
@settings(max_examples=40, deadline=None)
@given(data=st.data(), version=st.sampled_from([2007, 1997]))
def test_every_item_round_trips_exactly(row, data, version):
    if version == 1997 and row[items.DI97] is None:
        version = 2007
    value = data.draw(_value(row, version))
    payload = items.encode(row, value, version)
    assert len(payload) <= items.item_size(row, version)
    assert items.decode(row, payload, version) == value
    # the text people read is the exact value: its digits at the catalogue's decimals
    text = items.value_text(row, value, version)
    elements = value if isinstance(value, tuple) and row[items.COUNT] > 1 else (value,)
    if all(e is None or isinstance(e, int) for e in elements):
        shown = text.replace("no data", "-").split(" ")
        assert len(shown) == len(elements), text
        for element, token in zip(elements, shown, strict=True):
            if element is None:
                assert token == "-", text
            elif token.startswith("0x"):                        # a status word
                assert int(token, 16) == element, text
            else:
                assert Decimal(token).scaleb(items.decimals(row, version)) == element, text


@settings(deadline=None, max_examples=300)
@given(st.sampled_from(items.ITEMS), st.binary(max_size=30), st.sampled_from([2007, 1997]))
def test_fuzz_decode_raises_only_protocol_error(row, payload, version):
    try:
        items.decode(row, payload, version)
    except ProtocolError:
        pass


@pytest.mark.parametrize("di, value", [
    (0x00010000, -1), (0x00010000, 10 ** 8), (0x00010000, 1.5), (0x00010000, "6.78"),
    (0x02010100, 10 ** 4), (0x02020100, 8 * 10 ** 5), (0x04000401, "12345"),
    (0x04000501, 0x10000), (0x04000102, (12, 34)), (0x04000102, (12, 34, "56")),
    (0x04000102, (12, 34, 100)), (0x0001FF00, ()), (0x0001FF00, 678),
])
def test_encode_rejects_values_that_do_not_fit(di, value):
    with pytest.raises(ProtocolError):
        items.encode(items.lookup(di), value)


def test_scaled_text_is_exact():
    assert items.scaled_text(678, 2) == "6.78"
    assert items.scaled_text(-5, 3) == "-0.005"
    assert items.scaled_text(99999999, 2) == "999999.99"
    assert items.scaled_text(12, 0) == "12"
    assert items.scaled_text(10 ** 30 + 1, 2) == "10000000000000000000000000000.01"


def test_public_example_2007_voltage_read():
    # Read of A-phase voltage 02010100 and its reply "100.1 V", from the public write-up
    # "DLT645-2007报文解析" (meter 000000000161, request sent behind FE FE FE FE).
    request = dlt645.parse_frame(bytes.fromhex("fefefefe68610100000000681104333434351716"))
    assert (request.address, request.di) == ("000000000161", 0x02010100)
    reply = dlt645.parse_frame(bytes.fromhex("68610100000000689106333434353443" "1016"))
    row = items.lookup(reply.di)
    assert row[items.NAME] == "voltage_a"
    assert items.value_text(row, items.decode(row, reply.payload)) == "100.1"


def test_public_example_1997_voltage_read():
    # DL/T 645-1997 read of B611 (A-phase voltage) and its reply "0100V", from the Heyuan
    # Intelligence ASDU-LS manual, screen 9-17 (manualshive.com/en/manual/heyuan-intelligence/
    # asdu-ls/2128413?page=18). 1997 voltages are whole volts: format XXX in 2 bytes.
    request = dlt645.parse_frame(bytes.fromhex("6803000000000068010244e90316"))
    assert (request.version, request.di, request.address) == (1997, 0xB611, "000000000003")
    assert dlt645.build_read_1997("000000000003", 0xB611) == bytes.fromhex(
        "6803000000000068010244e90316")
    reply = dlt645.parse_frame(bytes.fromhex("6803000000000068810444e93334ec16"))
    row = items.lookup_1997(reply.di)
    assert (reply.control, row[items.NAME]) == (0x81, "voltage_a")
    assert items.decode(row, reply.payload, 1997) == 100


junk = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 9, 10 ** 9), st.text(max_size=14),
                 st.binary(max_size=24), st.floats(),
                 st.lists(st.one_of(st.none(), st.integers(-3000, 3000), st.text(max_size=3)),
                          max_size=8).map(tuple))


@settings(deadline=None, max_examples=400)
@given(st.sampled_from(items.ITEMS), junk, st.sampled_from([2007, 1997]))
def test_junk_values_raise_only_protocol_error(row, value, version):
    for call in (lambda: items.encode(row, value, version),
                 lambda: items.decode(row, value, version),
                 lambda: items.find(value), lambda: items.find_1997(value)):
        try:
            call()
        except ProtocolError:
            pass
