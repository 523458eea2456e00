# Captured Q/GDW 1376.1 frames and what they must decode to; shared by the CPython tests
# (test_gw376_*.py) and the MicroPython ones (mp_test_gw376*.py), so it uses only the subset.
#
# Source: /work/shared/vectors/gw376_captured.tsv, itself taken from the public repository
# liangminhua/qgdw376.1.ksy, folder packet-sample (q = master request, r = terminal reply).
# Every frame comes from one terminal: area 0171, terminal address 2082 (wire 71 01 22 08).

CAPTURED = {
    "heartBeat": "683200320068c97101220800027900000400e416",
    "login": "683200320068c97101220800027800000100e016",
    "loginOut": "683200320068c97101220800027100000200da16",
    # Non-standard: an AFN00 F1 confirm followed by 6 zero bytes that form no data unit.
    "nonStandardConfirm": "684a004a0068107101220800006800000100000000000000"
                          "1516",
    "qafn12f129": "684a004a00684b71012208020ce2010101100239191628007c16",
    "qafn12f167": "684a004a00684b71012208020ce301014014035921162800e916",
    "qafn12f168": "684a004a00684b71012208020ce401018014040624162800db16",
    "qafn12f25": "684a004a00684b71012208020ceb010101030b13491628008b16",
    "qafn12f33": "684a004a00684b71012208020cec010101040c09501628008b16",
    "qafn12f34": "684a004a00684b71012208020ced010102040d2251162800a816",
    "qafn13f1": "6856005600684b71012208020de501010100270818050534162800a116",
    "qafn13f17": "6852005200684b71012208020de9010101020718094843162800d516",
    "qafn13f18": "6852005200684b71012208020dea0101020207180a4045162800d216",
    "qafn13f2": "6856005600684b71012208020de601010200270818065240162800fd16",
    "rafn12f129": "68c600c600688871012208020ca2010101101816280818040001000000"
                  "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee0239191628008c16",
    "rafn12f167": "6802010201688871012208020ca3010140142016280818"
                  "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee0000c8161000d516"
                  "eeeeeeeeeeeeee035921162800eb16",
    "rafn12f168": "687a007a00688871012208020ca4010180142316280818eeeeeeeeeeee55"
                  "040624162800" "4216",
    "rafn12f25": "6856015601688871012208020cab010101034716280818000000000000"
                 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee00100010eeeeeeee2724eeeeeeee000000"
                 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee0b13491628004a16",
    "rafn12f33": "68b601b601688871012208020cac010101044816280818040001000000" + "ee" * 80 +
                 "0c09501628009316",
    # Non-standard padding: the reverse active total is 00 EE EE EE EE (partly EE = no data).
    "rafn12f34": "68b601b601688871012208020cad0101020449162808180400" + "ee" * 84 +
                 "0d22511628006816",
    "rafn13f1": "68c201c201688871012208020de5010101002708185923270818040001000000" +
                "ee" * 80 + "0505341628000616",
    "rafn13f17": "68be01be01688871012208020de90101010207185923310718040001000000" +
                 "ee" * 80 + "0948431628004316",
    "rafn13f2": "68c201c201688871012208020de60101020027081859232708180400" + "ee" * 84 +
                "0652401628001916",
    # Non-standard: DT 03 00 (F1 + F2 by the standard) followed by an F3 body: per-unit
    # confirm of AFN02 F1 (a login). Another terminal: area 4404, address 1633.
    "separateConfirm": "684a004a0068000444610600006a000003000200000100001f16",
}

# Frames that must rebuild byte for byte from their decoded form. The others differ on
# purpose: partly-EE values re-encode as all EE, and DT 03 00 re-encodes as F3's 04 00.
NOT_BYTE_EXACT = ("rafn12f34", "rafn13f2", "separateConfirm")

_NONE5 = [None, None, None, None, None]

# name -> {attribute: expected}; "units" is the full decoded list.
EXPECTED = {
    "heartBeat": {"direction": 1, "prm": 1, "function": 9, "afn": 2, "seq": 9, "con": True,
                  "fir": True, "fin": True, "area": 171, "terminal": 2082, "master": 0,
                  "group": False, "tp": None, "units": [(0, 3, None)]},
    "login": {"control": 0xC9, "seq": 8, "units": [(0, 1, None)]},
    "loginOut": {"seq": 1, "units": [(0, 2, None)]},
    "nonStandardConfirm": {"direction": 0, "prm": 0, "fcv": 1, "function": 0, "afn": 0,
                           "seq": 8, "con": False, "units": [(0, 1, None)],
                           "trailing": b"\x00\x00\x00\x00\x00\x00"},
    "qafn12f129": {"direction": 0, "prm": 1, "function": 11, "afn": 0x0C, "master": 1,
                   "seq": 2, "tp": (2, 28, 16, 19, 39, 0), "units": [(1, 129, None)]},
    "qafn12f25": {"units": [(1, 25, None)], "tp": (11, 28, 16, 49, 13, 0)},
    # class 1 data is requested by DA/DT alone: known to carry no data whatever the Fn
    "qafn12f167": {"units": [(1, 167, None)]},
    "qafn12f168": {"units": [(1, 168, None)]},
    "qafn12f33": {"units": [(1, 33, None)]},
    "qafn12f34": {"units": [(1, 34, None)]},
    "qafn13f1": {"afn": 0x0D, "units": [(1, 1, (2018, 8, 27))]},
    "qafn13f2": {"units": [(1, 2, (2018, 8, 27))]},
    "qafn13f17": {"units": [(1, 17, (2018, 7))]},
    "qafn13f18": {"units": [(1, 18, (2018, 7))]},
    "rafn12f129": {"direction": 1, "prm": 0, "function": 8, "acd": 0, "ec": None,
                   "tp": (2, 28, 16, 19, 39, 0),
                   "units": [(1, 129, {"read_time": (2018, 8, 28, 16, 18), "tariffs": 4,
                                       "forward_active": [100, None, None, None, None]})]},
    "rafn12f25": {"units": [(1, 25, {
        "read_time": (2018, 8, 28, 16, 47),
        "active_power": [0, 0, None, None],
        "reactive_power": [None, None, None, None],
        "power_factor": [1000, 1000, None, None],
        "voltage": [2427, None, None],
        "current": [0, None, None],
        "zero_sequence_current": None,
        "apparent_power": [None, None, None, None]})]},
    "rafn12f33": {"units": [(1, 33, {
        "read_time": (2018, 8, 28, 16, 48), "tariffs": 4,
        "forward_active": [100, None, None, None, None], "forward_reactive": _NONE5,
        "q1_reactive": _NONE5, "q4_reactive": _NONE5})]},
    "rafn12f34": {"units": [(1, 34, {
        "read_time": (2018, 8, 28, 16, 49), "tariffs": 4,
        "reverse_active": _NONE5, "reverse_reactive": _NONE5,
        "q2_reactive": _NONE5, "q3_reactive": _NONE5})]},
    "rafn13f1": {"units": [(1, 1, {
        "td": (2018, 8, 27), "read_time": (2018, 8, 27, 23, 59), "tariffs": 4,
        "forward_active": [100, None, None, None, None], "forward_reactive": _NONE5,
        "q1_reactive": _NONE5, "q4_reactive": _NONE5})]},
    "rafn13f2": {"units": [(1, 2, {
        "td": (2018, 8, 27), "read_time": (2018, 8, 27, 23, 59), "tariffs": 4,
        "reverse_active": _NONE5, "reverse_reactive": _NONE5,
        "q2_reactive": _NONE5, "q3_reactive": _NONE5})]},
    "rafn13f17": {"units": [(1, 17, {
        "td": (2018, 7), "read_time": (2018, 7, 31, 23, 59), "tariffs": 4,
        "forward_active": [100, None, None, None, None], "forward_reactive": _NONE5,
        "q1_reactive": _NONE5, "q4_reactive": _NONE5})]},
    "separateConfirm": {"direction": 0, "prm": 0, "function": 0, "afn": 0, "area": 4404,
                        "terminal": 1633, "seq": 10, "trailing": b"",
                        "units": [(0, 3, {"afn": 2, "items": [(0, 1, 0)]})]},
}

# Units this codec does not decode: their bytes are kept, flagged Unknown, never guessed.
UNKNOWN_UNITS = {
    "rafn12f167": (1, 167, "2016280818" + "ee" * 26 + "0000c8161000d516" + "ee" * 7),
    "rafn12f168": (1, 168, "2316280818eeeeeeeeeeee55"),
}

# Frames whose parse notes must name a non-standard construct.
NON_STANDARD = ("nonStandardConfirm", "separateConfirm", "rafn12f34", "rafn13f2")
