"""protocol.gw376_upload: the F241 identity unit as the station decodes it (CPython)."""
import pytest

from protocol import gw376
from protocol.errors import ProtocolError
from protocol.gw376_upload import decode, upload_identity
from protocol.readings_payload import unpack_readings


def upload(afn, raw, units=()):
    frame = gw376.Frame(afn, list(units) + [(0, 241, raw)], direction=gw376.UP, area=4101,
                        terminal=1, con=True)
    return gw376.parse(gw376.build(frame))


def test_records_and_their_sequences_come_back():
    body = bytes([5, 0, 0, 0, 2,
                  1, 3, 0, 1, 2, 3, 4, 2, 0x02, 0x84,
                  3, 0, 0, 9, 0, 0, 0, 1, 7])
    ident = upload_identity(upload(0x0D, body))
    assert ident["first"] == 5 and ident["count"] == 2
    assert ident["records"] == [(5, 1, 3, 0x04030201, b"\x02\x84"), (6, 3, 0, 9, b"\x07")]
    assert unpack_readings(b"\x02\x84\x01\x03") == [(1, 66), (1, None)]


def test_an_event_frame_carries_the_identity_without_record_bytes():
    event = {"ec_important": 1, "ec_normal": 0, "pm": 0, "pn": 1,
             "records": [{"erc": 14, "raw": bytes(10)}]}
    frame = upload(0x0E, bytes([9, 0, 0, 0, 1]), [(0, 1, event)])
    assert frame.units[0][2]["records"][0]["erc"] == 14
    assert upload_identity(frame) == {"first": 9, "count": 1, "records": []}


@pytest.mark.parametrize("afn,raw", [(0x0D, b"\x01\x00"), (0x0D, bytes([1, 0, 0, 0, 1, 1])),
                                     (0x0D, bytes([1, 0, 0, 0, 0, 9])),
                                     (0x0E, bytes([1, 0, 0, 0, 1, 0]))])
def test_malformed_identities_are_protocol_errors(afn, raw):
    with pytest.raises(ProtocolError):
        decode(afn, raw)


def test_a_frame_without_the_unit_has_no_identity():
    heartbeat = gw376.parse(gw376.build(gw376.link_frame(3, 4101, 1, 0)))
    assert upload_identity(heartbeat) is None
