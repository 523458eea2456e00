import pytest

from protocol import pw, settings
from protocol.errors import ProtocolError


def test_defaults_are_all_valid():
    loaded, problems = settings.load(settings.defaults())
    assert problems == []
    assert loaded == settings.defaults()


def test_typo_in_key_names_known_keys():
    with pytest.raises(ProtocolError, match="unknown setting 'master.prot'.*master.port"):
        settings.parse("master.prot", "7000")


@pytest.mark.parametrize("key,text,message", [
    ("master.port", "70000", "1..65535"),
    ("master.port", "seven", "whole number"),
    ("terminal.address", "0", "1..65535"),
    ("master.apn", "x" * 17, "0..16 characters"),
    ("master.host", "10.0.0.1;rm", "not an IP address"),
    ("plan.frozen_at", "25:00", "00:05..23:59"),
    ("plan.time_sync_at", "03:00", "away from the hour"),
    ("plan.time_sync_at", "00:10", "away from the hour"),
    ("plan.realtime_items", "energy_fwd_total,bad-name", "not an item name"),
])
def test_bad_values_say_what_is_allowed(key, text, message):
    with pytest.raises(ProtocolError, match=message):
        settings.parse(key, text)


def test_parse_normalises():
    assert settings.parse("plan.frozen_at", "00:05") == 5
    assert settings.parse("comm.heartbeat_min", "15") == 15
    assert settings.show("plan.time_sync_at", 197) == "03:17"


def test_secret_is_never_shown():
    assert settings.show("comm.password", "123456") == "(set)"
    assert "123456" not in settings.show("comm.password", "123456")


def test_corrupt_values_fall_back_to_defaults_and_are_reported():
    loaded, problems = settings.load({"master.port": "x", "terminal.area": 1234, "bogus": 1})
    assert loaded["master.port"] == settings.defaults()["master.port"]
    assert loaded["terminal.area"] == 1234
    assert len(problems) == 2


def test_not_a_table():
    loaded, problems = settings.load([1, 2])
    assert loaded == settings.defaults() and problems


def test_default_plan_items_are_catalogue_names():
    from protocol import dlt645_items
    names = {row[1] for row in dlt645_items.ITEMS}
    for name in settings.defaults()["plan.realtime_items"].split(","):
        assert name in names, name


@pytest.mark.parametrize("text,stored", [
    ("", ""), ("00", "00" * 16), ("00112233", "00112233" + "00" * 12),
    ("00 11 22 33", "00112233" + "00" * 12), ("AABB", "aabb" + "00" * 14),
    ("0123456789abcdef" * 2, "0123456789abcdef" * 2),
])
def test_pw_is_hex_in_wire_order_as_the_station_takes_it(text, stored):
    from host_tools.station.terminal_registry import normalise_password
    assert settings.check("comm.password", text) == stored
    if text:        # the station stores the very same 16 bytes for the same text
        assert normalise_password(text) == stored


@pytest.mark.parametrize("text,message", [
    ("secret", "hex digits"), ("001", "even number"), ("00" * 17, "2 to 32 hex digits")])
def test_pw_that_is_not_whole_hex_bytes_is_refused(text, message):
    with pytest.raises(ProtocolError, match=message):
        settings.parse("comm.password", text)


def test_an_old_text_pw_keeps_its_bytes_once_converted():
    raw = {"comm.password": "00112233", "master.port": 7000}
    assert pw.upgrade(raw) == ["comm.password"]
    assert raw["comm.password"] == b"00112233".hex() + "00" * 8      # 30 30 31 31 ..
    assert pw.upgrade(raw) == []                                 # once
    loaded, problems = settings.load({"comm.password": "secret"})
    assert loaded["comm.password"] == b"secret".hex() + "00" * 10 and problems == []
