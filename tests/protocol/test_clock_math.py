import datetime

import pytest
from hypothesis import given, strategies as st

from protocol import clock_math
from protocol.errors import ProtocolError

EPOCH = datetime.datetime(2000, 1, 1)


@given(st.datetimes(min_value=datetime.datetime(2000, 1, 1),
                    max_value=datetime.datetime(2099, 12, 31, 23, 59, 59)))
def test_agrees_with_the_standard_library(moment):
    moment = moment.replace(microsecond=0)
    seconds = int((moment - EPOCH).total_seconds())
    assert clock_math.to_seconds(*moment.timetuple()[:6]) == seconds
    assert clock_math.from_seconds(seconds) == moment.timetuple()[:6] + (moment.isoweekday(),)


@pytest.mark.parametrize("fields", [(2026, 2, 29), (2026, 13, 1), (1999, 12, 31),
                                    (2026, 1, 1, 24), (2026, 4, 31)])
def test_invalid_dates_are_protocol_errors(fields):
    with pytest.raises(ProtocolError, match="invalid date"):
        clock_math.to_seconds(*fields)


def test_text_and_day_start():
    s = clock_math.to_seconds(2026, 11, 25, 13, 5, 7)
    assert clock_math.text(s) == "2026-11-25 13:05:07"
    assert clock_math.text(clock_math.day_start(s)) == "2026-11-25 00:00:00"
