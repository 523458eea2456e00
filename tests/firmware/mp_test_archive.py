# The meter archive on the board: slots on the filesystem, the bus index in RAM.
import os
import gc
from mp_support import raises, eq
from protocol.errors import ProtocolError
from firmware.archive import Archive

PATH = "/tmp/conc_mp_test_archive.dat"


def fresh():
    for name in (PATH, PATH + ".tmp"):
        try:
            os.remove(name)
        except OSError:
            pass
    return Archive(PATH)


def test_add_get_and_index_survive_reload():
    a = fresh()
    a.apply({1: {"address": "151230011061", "bus": 1},
             7: {"address": "000000123456", "bus": 2, "protocol": "dlt645-1997"},
             9: {"address": 5, "bus": 2, "protocol": "modbus", "map": "sdm630"}})
    b = Archive(PATH)
    eq(list(b.points()), [1, 7, 9], "points")
    eq(list(b.points(2)), [7, 9], "bus 2")
    m = b.get(7)
    eq(m["address"], "000000123456", "address")
    eq((m["baud"], m["parity"]), (1200, "E"), "1997 default line")
    eq(b.get(9)["address"], 5, "modbus unit")
    eq(b.get(9)["map"], "sdm630", "map")
    eq(b.get(1)["baud"], 2400, "2007 default baud")
    eq(b.get(2), None, "empty slot")


def test_the_protocol_code_is_read_from_the_raw_slot_without_the_entry_codec():
    import sys
    a = fresh()
    a.apply({1: {"address": "151230011061", "bus": 1},
             7: {"address": "000000123456", "bus": 2, "protocol": "dlt645-1997"},
             9: {"address": 5, "bus": 2, "protocol": "modbus", "map": "sdm630"}})
    sys.modules.pop("protocol.meter_record", None)
    eq([a.protocol_code(p) for p in (1, 7, 9, 2, 0, 5000)], [30, 1, 200, 0, 0, 0])
    eq("protocol.meter_record" in sys.modules, False)


def test_remove_and_replace():
    a = fresh()
    a.apply({3: {"address": "1", "bus": 1}, 4: {"address": "2", "bus": 1}})
    a.apply({3: None, 4: {"address": "3", "bus": 1, "baud": 9600}})
    eq(list(a.points()), [4], "after remove")
    eq(a.get(4)["baud"], 9600, "replaced")
    a.apply({4: None})
    eq(len(a), 0, "all removed")


def test_duplicate_address_on_a_bus_is_refused_and_nothing_written():
    a = fresh()
    a.apply({1: {"address": "42", "bus": 1}})
    err = raises(ProtocolError, a.apply, {2: {"address": "42", "bus": 1},
                                          3: {"address": "43", "bus": 1}})
    assert "same bus and address as point 1" in err.reason, err.reason
    eq(list(a.points()), [1], "unchanged")
    a.apply({2: {"address": "42", "bus": 2}})   # same address on another bus is fine


def test_bad_entries_name_the_field():
    a = fresh()
    assert "address" in raises(ProtocolError, a.apply, {1: {"address": "12ab"}}).reason
    assert "baud" in raises(ProtocolError, a.apply, {1: {"address": "1", "baud": 1234}}).reason
    assert "point" in raises(ProtocolError, a.apply, {2041: {"address": "1"}}).reason
    assert "protocol" in raises(ProtocolError, a.apply,
                                {1: {"address": "1", "protocol": "iec"}}).reason


def test_2040_points_index_costs_about_two_kilobytes():
    a = fresh()
    for first in range(1, 2041, 64):    # as `conc meters import` sends them: in batches
        a.apply(dict((p, {"address": str(p), "bus": 1 + p % 2})
                     for p in range(first, min(first + 64, 2041))))
        gc.collect()
    gc.collect()
    before = gc.mem_alloc()
    b = Archive(PATH)
    gc.collect()
    used = gc.mem_alloc() - before
    eq(len(b), 2040, "count")
    assert used < 2600, used
    eq(b.get(2040)["address"], "000000002040", "last point")


def test_the_index_holds_points_up_to_the_highest_in_use_and_never_shrinks():
    # RAM follows the meters configured: 256 points cost 257 bytes, not the 2 KB of 2040
    a = fresh()
    a.apply(dict((p, {"address": str(p), "bus": 1}) for p in range(1, 257)))
    eq(len(Archive(PATH).bus_of), 257, "sized to point 256")
    a.apply({600: {"address": "600", "bus": 2}})
    eq((len(a.bus_of), a.bus(600), list(a.points(2))), (601, 2, [600]), "grown to point 600")
    a.apply({600: None})
    # a poller sized its state to the highest point at boot: that point stays indexable
    eq((len(a.bus_of), a.bus(600), a.bus(601), a.bus(0)), (601, 0, 0, 0), "not shrunk")
    eq(a.read_slot(5000, bytearray(40)), False, "beyond the index")
    eq(len(fresh().bus_of), 1, "no archive file")
