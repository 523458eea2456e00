import pytest

from protocol import settings
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
