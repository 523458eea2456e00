from mp_support import raises, eq
from protocol import settings
from protocol.errors import ProtocolError


def test_load_on_board_falls_back():
    loaded, problems = settings.load({"master.port": 99999, "plan.frozen_at": 10})
    eq(loaded["master.port"], 7000, "default port")
    eq(loaded["plan.frozen_at"], 10, "frozen_at")
    eq(len(problems), 1, "problems")


def test_parse_on_board():
    eq(settings.parse("plan.time_sync_at", "03:17"), 197, "hh:mm")
    raises(ProtocolError, settings.parse, "master.port", "x")
