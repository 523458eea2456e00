"""dlt645_describe: a parsed frame as named, JSON-ready fields (what `conc decode` prints)."""
import json

from hypothesis import given, settings, strategies as st

from protocol import dlt645
from protocol.dlt645_describe import describe
from protocol.errors import ProtocolError

ADDR = "151230011061"


def parsed(hex_text):
    return dlt645.parse_frame(bytes.fromhex(hex_text))


def test_vector_read_request():
    # read_00010000_req, /work/shared/vectors/dlt645_examples.tsv
    out = describe(parsed("68611001301215681104333334337b16"))
    assert out == {"protocol": "dlt645-2007", "address": ADDR, "control": "11",
                   "direction": "to_meter", "function": "11", "function_name": "read",
                   "abnormal": False, "more": False, "data": "00000100", "di": "00010000",
                   "item": "energy_fwd_total", "unit": "kWh"}


def test_vector_read_reply_value_is_exact():
    # read_00010000_rsp, /work/shared/vectors/dlt645_examples.tsv: 000006.78 kWh
    out = describe(parsed("6861100130121568910833333433ab3933334916"))
    assert (out["value"], out["raw_value"], out["decimals"], out["unit"]) == ("6.78", 678, 2,
                                                                              "kWh")
    assert out["direction"] == "from_meter" and "payload" not in out


def test_vector_relay_trip():
    # relay_trip_req, /work/shared/vectors/dlt645_examples.tsv
    out = describe(parsed("68611001301215681c10356a3935343333334d333333336345cc2c16"))
    assert (out["function_name"], out["command"], out["command_name"], out["expiry"],
            out["password"], out["operator"]) == ("relay", "1A", "trip", "2099-12-30 00:00:00",
                                                  "02020637", "00000001")


def test_abnormal_reply_names_its_errors():
    out = describe(dlt645.parse_frame(dlt645.build_error_reply(ADDR, dlt645.READ, 0x06)))
    assert out["abnormal"] and out["error"] == 6 and out["errors"] == ["no_data",
                                                                       "unauthorized"]


def test_payload_that_does_not_fit_the_catalogue_is_shown_raw():
    out = describe(dlt645.parse_frame(dlt645.build_read_reply(ADDR, 0x00010000, b"\x01\x02")))
    assert out["value_error"] and out["payload"] == "0102" and "value" not in out


def test_1997_block_and_unknown_di():
    out = describe(dlt645.parse_frame(dlt645.build_read_reply_1997(ADDR, 0x901F,
                                                                   b"\x78\x06\x00\x00" * 2)))
    assert out["protocol"] == "dlt645-1997" and out["di"] == "901F"
    assert out["raw_value"] == [678, 678] and out["value"] == "6.78 6.78"
    unknown = describe(dlt645.parse_frame(dlt645.build_read_reply(ADDR, 0x12345678, b"\x01")))
    assert "item" not in unknown and unknown["payload"] == "01"


@settings(deadline=None, max_examples=200)
@given(st.text("0123456789", min_size=12, max_size=12), st.integers(0, 255),
       st.binary(max_size=30))
def test_any_valid_frame_describes_to_json(address, control, data):
    try:
        frame = dlt645.parse_frame(dlt645.build_frame(address, control, data))
    except ProtocolError:
        return
    json.dumps(describe(frame))
