"""DL/T 645 frame codec: captured vectors, every builder against its parser, error contract."""
import pytest

from protocol import dlt645
from protocol.errors import ProtocolError

ADDR = "151230011061"
# From /work/shared/vectors/dlt645_examples.tsv (public field captures, checksums verified).
READ_REQ = bytes.fromhex("68611001301215681104333334337b16")
READ_RSP = bytes.fromhex("6861100130121568910833333433ab3933334916")
RELAY_TRIP_REQ = bytes.fromhex("68611001301215681c10356a3935343333334d333333336345cc2c16")
RELAY_ACK_RSP = bytes.fromhex("68611001301215689c003516")


def test_vector_read_request_fields():
    frame = dlt645.parse_frame(READ_REQ)
    assert (frame.address, frame.control, frame.di, frame.payload) == (ADDR, 0x11, 0x00010000,
                                                                       b"")
    assert not frame.from_meter and frame.version == 2007
    assert dlt645.build_read(ADDR, 0x00010000) == READ_REQ


def test_vector_read_reply_fields():
    frame = dlt645.parse_frame(READ_RSP)
    assert frame.from_meter and not frame.abnormal and not frame.more
    assert frame.di == 0x00010000
    assert frame.payload == bytes.fromhex("78060000")      # 000006.78 kWh
    assert dlt645.build_read_reply(ADDR, 0x00010000, bytes.fromhex("78060000")) == READ_RSP


def test_vector_relay_trip_fields():
    frame = dlt645.parse_frame(RELAY_TRIP_REQ)
    assert frame.function == dlt645.RELAY
    assert frame.command == dlt645.RELAY_TRIP
    assert frame.password == "02020637"       # level 02, password digits 020637
    assert frame.operator == "00000001"
    assert frame.expiry == (2099, 12, 30, 0, 0, 0)
    assert dlt645.build_relay(ADDR, "trip", (2099, 12, 30, 0, 0, 0), password="02020637",
                              operator="00000001") == RELAY_TRIP_REQ


def test_vector_relay_ack():
    frame = dlt645.parse_frame(RELAY_ACK_RSP)
    assert frame.control == 0x9C and frame.data == b""
    assert dlt645.build_reply(ADDR, dlt645.RELAY) == RELAY_ACK_RSP


def test_address_helpers():
    assert dlt645.address_bytes(ADDR) == bytes.fromhex("611001301215")
    assert dlt645.address_bytes("123456") == bytes.fromhex("563412000000")
    assert dlt645.address_bytes(dlt645.WILDCARD) == b"\xaa" * 6
    assert dlt645.address_text(bytes.fromhex("611001301215")) == ADDR
    for bad in ("12345678901X", "1234567890123", "", 123456, "AB0000000000"):
        with pytest.raises(ProtocolError):
            dlt645.address_bytes(bad)


def test_preamble_is_skipped_and_built():
    framed = dlt645.build_read(ADDR, 0x00010000, preamble=4)
    assert framed == b"\xfe" * 4 + READ_REQ
    assert dlt645.parse_frame(framed).di == 0x00010000


@pytest.mark.parametrize("mutate, offset", [
    (lambda b: b.__setitem__(14, b[14] ^ 1), 14),      # checksum
    (lambda b: b.__setitem__(15, 0x17), 15),            # end byte
    (lambda b: b.__setitem__(7, 0x67), 7),              # second 68
    (lambda b: b.__setitem__(0, 0x69), 0),              # first 68
])
def test_damaged_frame_reports_offset(mutate, offset):
    raw = bytearray(READ_REQ)
    mutate(raw)
    with pytest.raises(ProtocolError) as err:
        dlt645.parse_frame(raw)
    assert err.value.offset == offset
