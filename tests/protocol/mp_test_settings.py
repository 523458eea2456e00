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


def test_report_settings_are_checked_alike_with_and_without_the_schema():
    # a station's report set (AFN04 F65..F68, F241) is checked by protocol.report_tasks alone
    from protocol.report_tasks import REPORT_KEYS, check_report
    task = [1, 1, 0, 15, 0, 1, 1, [[0xFFFF, 129], [1, 25]]]
    cases = [("report.compact", 0), ("report.compact", 1), ("report.compact", 2),
             ("report.compact", True), ("report.compact", "1"), ("report.compact", -1),
             ("report.tasks", [task]), ("report.tasks", [task[:7]]),
             ("report.tasks", [task] * 65), ("report.tasks", "x")]
    for key, value in cases:
        eq(key in REPORT_KEYS, True, key)
        try:
            want = ("ok", settings.check(key, value))
        except ProtocolError as exc:
            want = ("denied", exc.reason)
        try:
            got = ("ok", check_report(key, value))
        except ProtocolError as exc:
            got = ("denied", exc.reason)
        eq(got, want, "%s = %r" % (key, value))
