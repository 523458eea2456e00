"""gw376_describe: a parsed 1376.1 frame as named, JSON-ready fields (what `conc decode` prints)."""
import json

import pytest
from hypothesis import given, settings

import gw376_checks
import gw376_strategies as strat
from protocol import gw376
from protocol.gw376_describe import describe, value_text


def described(name):
    return describe(gw376.parse(gw376_checks.unhex(gw376_checks.vectors.CAPTURED[name])))


def test_heartbeat():
    out = described("heartBeat")
    assert out["control"] == "C9" and out["direction"] == "up"
    assert out["function_name"] == "link test"
    assert (out["area"], out["terminal"], out["master"]) == ("0171", 2082, 0)
    assert out["afn"] == "02" and out["seq"] == 9 and out["con"] is True
    assert out["units"] == [{"pn": 0, "fn": 3, "name": "heartbeat", "known": True,
                             "data": None}]


def test_energy_reply_values_are_exact_text():
    out = described("rafn12f129")
    data = out["units"][0]["data"]
    assert data["read_time"] == "2018-08-28 16:18"
    assert data["forward_active"] == ["0.0100", None, None, None, None]
    assert out["tp"] == {"pfc": 2, "sent": "28 16:19:39", "delay_min": 0}


def test_power_reply_units():
    data = described("rafn12f25")["units"][0]["data"]
    assert data["voltage"] == ["242.7", None, None]
    assert data["power_factor"] == ["100.0", "100.0", None, None]
    assert data["current"] == ["0.000", None, None]


def test_unknown_unit_and_non_standard_notes():
    out = described("rafn12f168")
    assert out["units"][0]["known"] is False
    assert out["units"][0]["data"] == {"raw": "2316280818eeeeeeeeeeee55"}
    out = described("nonStandardConfirm")
    assert out["trailing"] == "000000000000" and out["notes"]


def test_events_named():
    report = gw376.Frame(0x0E, [(0, 1, {"ec_important": 1, "ec_normal": 0, "pm": 0, "pn": 1,
                                        "records": [{"erc": 31, "time": (2024, 3, 1, 11, 0),
                                                     "pn": 7, "start": 1,
                                                     "last_read_time": (2024, 3, 1, 10, 45),
                                                     "forward_active": 1234567,
                                                     "forward_reactive": None}]})],
                         gw376.UP, 1, acd=1, ec=(1, 0))
    out = describe(gw376.parse(gw376.build(report)))
    record = out["units"][0]["data"]["records"][0]
    assert record["name"] == "RS-485 reading failure"
    assert record["forward_active"] == "123.4567"
    assert record["time"] == "2024-03-01 11:00"
    assert out["ec"] == {"important": 1, "normal": 0}


def test_value_text():
    assert value_text(14, 1234567890) == "123456.7890"
    assert value_text(1, (2024, 3, 1, 12, 0, 5, 5)) == "2024-03-01 12:00:05 w5"
    assert value_text(14, None) is None


@pytest.mark.parametrize("name", gw376_checks.all_vector_names())
def test_every_vector_is_json(name):
    json.dumps(described(name))


@settings(max_examples=150, deadline=None)
@given(strat.frames())
def test_any_frame_is_json(frame):
    json.dumps(describe(gw376.parse(gw376.build(frame))))
