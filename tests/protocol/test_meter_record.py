import pytest
from hypothesis import given, strategies as st

from protocol import meter_record
from protocol.errors import ProtocolError

entries = st.one_of(
    st.fixed_dictionaries({
        "point": st.integers(1, 2040),
        "protocol": st.sampled_from(["dlt645", "dlt645-1997"]),
        "address": st.from_regex(r"\A[0-9]{12}\Z"),
        "bus": st.integers(1, 31),
        "baud": st.sampled_from(meter_record.BAUDS),
        "parity": st.sampled_from("NEO"),
        "password": st.from_regex(r"\A[0-9a-f]{8}\Z"),
        "tariffs": st.integers(0, 14),
        "collector": st.one_of(st.just(""), st.from_regex(r"\A[0-9]{12}\Z")),
    }),
    st.fixed_dictionaries({
        "point": st.integers(1, 2040),
        "protocol": st.just("modbus"),
        "address": st.integers(1, 247),
        "map": st.sampled_from(["sdm120", "sdm630"]),
    }),
)


@given(entries)
def test_slot_round_trip(entry):
    valid = meter_record.validate(entry)
    slot = bytearray(meter_record.SLOT_SIZE)
    meter_record.pack(valid, slot)
    assert meter_record.unpack(slot, valid["point"]) == valid


def test_defaults_follow_the_protocol():
    assert meter_record.validate({"point": 1, "address": "1"})["baud"] == 2400
    m = meter_record.validate({"point": 1, "address": "1", "protocol": "modbus"})
    assert (m["baud"], m["parity"], m["map"]) == (9600, "N", "sdm120")
    assert meter_record.validate({"point": 1, "address": "123"})["address"] == "000000000123"


def test_address_on_flash_is_as_on_the_wire():
    slot = bytearray(meter_record.SLOT_SIZE)
    meter_record.pack(meter_record.validate({"point": 1, "address": "151230011061"}), slot)
    assert slot[6:12] == bytes.fromhex("611001301215")  # dlt645_examples.tsv address


@pytest.mark.parametrize("entry,message", [
    ({"address": "1"}, "point is required"),
    ({"point": 1, "address": "1234567890123"}, "1..12 decimal digits"),
    ({"point": 1, "address": 0, "protocol": "modbus"}, "1..247"),
    ({"point": 1, "address": "1", "password": "xyz"}, "8 hex digits"),
    ({"point": 1, "address": "1", "bus": 0}, "bus must be"),
    ({"point": 1, "address": "1", "protocol": "cjt188"}, "protocol must be"),
])
def test_bad_entries(entry, message):
    with pytest.raises(ProtocolError, match=message):
        meter_record.validate(entry)
