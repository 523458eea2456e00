"""Times: UTC in the database, the station's zone for what people type and read."""
import datetime
import zoneinfo

import pytest

from host_tools.station.errors import InvalidValue
from host_tools.station.times import (check_day, check_month, from_epoch, parse_time,
                                      station_zone, to_epoch)

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
UTC_2026_11_24 = 1795478400


@pytest.mark.parametrize("text,expected", [
    ("2026-11-24", UTC_2026_11_24 - 8 * 3600),
    ("2026-11-24T08:00", UTC_2026_11_24),
    ("2026-11-24 08:00:05", UTC_2026_11_24 + 5),
    ("2026-11-24T00:00Z", UTC_2026_11_24),
    ("2026-11-24T09:00+09:00", UTC_2026_11_24),
])
def test_parse_iso_times_in_the_station_zone(text, expected):
    assert parse_time(text, SHANGHAI) == expected


def test_a_bare_end_date_includes_the_day():
    assert parse_time("2026-11-24", SHANGHAI, end_of_day=True) == UTC_2026_11_24 + 16 * 3600


@pytest.mark.parametrize("text", ["24/11/2026", "2026-11-31", "yesterday", "2026-11-24T25:00"])
def test_bad_times_say_what_to_type(text):
    with pytest.raises(InvalidValue, match="ISO date"):
        parse_time(text, SHANGHAI)


def test_daylight_saving_zones_use_the_rules_of_the_day():
    winter = to_epoch(datetime.datetime(2026, 1, 15, 12, 0), BERLIN)
    summer = to_epoch(datetime.datetime(2026, 7, 15, 12, 0), BERLIN)
    assert from_epoch(winter, datetime.timezone.utc).hour == 11
    assert from_epoch(summer, datetime.timezone.utc).hour == 10
    assert from_epoch(summer, BERLIN).isoformat() == "2026-07-15T12:00:00+02:00"


def test_codec_tuples_and_labels():
    assert to_epoch((2026, 11, 24, 8, 0), SHANGHAI) == UTC_2026_11_24              # format 15
    assert to_epoch((2026, 11, 24, 8, 0, 30, 2), SHANGHAI) == UTC_2026_11_24 + 30  # format 01
    assert check_day((2026, 11, 24)) == check_day(datetime.date(2026, 11, 24)) == "2026-11-24"
    assert check_month((2026, 2)) == check_month(datetime.date(2026, 2, 9)) == "2026-02"
    for bad in ("2026-2-1", (2026, 2, 29), "20261124"):
        with pytest.raises(InvalidValue):
            check_day(bad)
    with pytest.raises(InvalidValue):
        check_month((2026, 0))


def test_zone_from_the_environment(monkeypatch):
    monkeypatch.setenv("CONC_STATION_TZ", "Asia/Shanghai")
    assert station_zone() == SHANGHAI
    with pytest.raises(InvalidValue, match="IANA"):
        station_zone("Mars/Olympus")
    monkeypatch.delenv("CONC_STATION_TZ")
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert station_zone() == BERLIN
