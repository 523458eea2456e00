# The ring log's behaviour as the poller and the uplink use it, under MicroPython.
import micropython

from mp_support import eq, raises

from firmware import log_records
from firmware.hal.norflash import NorFlash
from firmware.ringlog import (ERC_RECORDS_LOST, EVENT, MARKER, MAX_PAYLOAD, PAYLOAD, READINGS,
                              RingLog, StoreError)

ITEMS = list(range(15))


def batch(i):
    # a typical 15-item batch: energy registers creep, voltages and currents wander
    return [12345678 + 3 * i, 3012345 + i, 4023456 + i, 2987654 + i, 2321223, 0,
            2201 + i % 7, 2198 - i % 5, 2205, 5123 + i % 11, 4980, 5301, 11345 + i % 13, 987,
            None if i % 9 == 0 else -250]


def new_log(blocks=6, size=1024, **kw):
    flash = NorFlash(block_size=size, block_count=blocks)
    return flash, RingLog(flash, create=True, **kw)


def test_mount_refuses_a_partition_without_a_log_unless_asked_to_create():
    flash = NorFlash(block_size=1024, block_count=4)
    err = raises(StoreError, RingLog, flash)
    assert "format" in str(err)
    log = RingLog(flash, create=True)
    eq((log.oldest_seq, log.next_seq), (1, 1), "empty log")


def test_mount_refuses_too_small_geometry():
    raises(StoreError, RingLog, NorFlash(block_size=512, block_count=8), 1, True)
    raises(StoreError, RingLog, NorFlash(block_size=1024, block_count=2), 1, True)


def test_appended_records_read_back_after_remount():
    flash, log = new_log()
    seqs = []
    for i in range(30):
        seqs.append(log_records.append_readings(log, 7 + i % 3, 1000 + 60 * i, ITEMS, batch(i)))
    ev = log_records.append_event(log, 8, 5000, 31, b"\x01\x02")
    mk = log_records.append_marker(log, 5001, log_records.MARK_BOOT, b"v1")
    eq(seqs, list(range(1, 31)), "sequence numbers are dense from 1")
    log2 = RingLog(flash)
    eq(log2.next_seq, mk + 1, "next sequence after remount")
    got = list(log2.records())
    eq(len(got), 32, "records")
    seq, rtype, point, ts, payload = got[4]
    eq((seq, rtype, point, ts), (5, READINGS, 8, 1240), "header fields")
    eq(log_records.unpack_readings(payload), [(k, v) for k, v in enumerate(batch(4))], "batch")
    eq(log2.read(ev)[1:], (EVENT, 8, 5000, b"\x1f\x01\x02"), "event")
    eq(log_records.unpack_event(log2.read(ev)[4]), (31, b"\x01\x02"), "event decode")
    eq(log_records.unpack_marker(log2.read(mk)[4]), (log_records.MARK_BOOT, b"v1"), "marker")
    eq(log2.read(9999), None, "unknown seq")


def test_iterate_by_type_point_time_and_from_a_sequence():
    flash, log = new_log(blocks=8)
    for i in range(60):
        log_records.append_readings(log, i % 4, 100 * i, ITEMS, batch(i))
        if i % 10 == 0:
            log_records.append_event(log, i % 4, 100 * i, 13)
    eq([r[0] for r in log.records(rtype=EVENT)], [2 + 11 * k for k in range(6)], "events")
    eq(len(list(log.records(point=2))), 15 + 3, "readings and events of point 2")
    eq(len(list(log.records(rtype=READINGS, point=0))), 15, "point 0 readings")
    in_window = [r[3] for r in log.records(rtype=READINGS, since=1000, until=2000)]
    eq(in_window, list(range(1000, 2000, 100)), "time window")
    eq([r[0] for r in log.records(50)][:3], [50, 51, 52], "from a sequence")
    eq(list(log.records(log.next_seq)), [], "nothing past the newest")


def test_ring_reclaims_oldest_sectors_and_keeps_records_dense():
    flash, log = new_log()
    for i in range(400):
        log_records.append_readings(log, 1, i, ITEMS, batch(i))
    assert log.oldest_seq > 1, "the ring wrapped"
    seqs = [r[0] for r in log.records()]
    eq(seqs, list(range(log.oldest_seq, log.next_seq)), "dense")
    assert len(seqs) > 4 * 1024 // 90, "at least n-1 sectors of records kept: %d" % len(seqs)


def test_cursors_advance_only_when_told_and_persist():
    flash, log = new_log()
    eq(log.cursor("uplink"), 1, "new cursor starts at the oldest record")
    for i in range(20):
        log_records.append_readings(log, 1, i, ITEMS, batch(i))
    eq(log.backlog("uplink"), 20, "backlog")
    eq(log.advance("uplink", 11), 11, "advanced")
    eq(log.advance("uplink", 5), 11, "never backwards")
    raises(ValueError, log.advance, "uplink", 22)   # past the newest record
    log.cursor("usb")
    log2 = RingLog(flash)
    eq(sorted(log2.cursor_names()), ["uplink", "usb"], "cursors after remount")
    eq(log2.cursor("uplink"), 11, "position after remount")
    eq(log2.backlog("uplink"), 10, "backlog after remount")
    eq(log2.backlog("usb"), 20, "usb backlog")
    log2.drop_cursor("usb")
    eq(RingLog(flash).cursor_names(), ["uplink"], "dropped")
    raises(ValueError, log2.cursor, "a-name-too-long")


def test_cursor_positions_survive_sector_rollovers():
    flash, log = new_log()
    log.cursor("uplink")
    for i in range(200):
        log_records.append_readings(log, 1, i, ITEMS, batch(i))
        if i % 3 == 0:
            log.advance("uplink", log.next_seq - 1)
    pos = log.cursor("uplink")
    eq(RingLog(flash).cursor("uplink"), pos, "position")
    eq(log.lost("uplink"), 0, "nothing lost")


def test_reclaiming_unconfirmed_records_is_counted_and_recorded_as_an_event():
    flash, log = new_log()
    log.cursor("uplink")
    log.cursor("usb")
    for i in range(300):
        log_records.append_readings(log, 1, i, ITEMS, batch(i))
        log.advance("usb", log.next_seq)
    oldest = log.oldest_seq
    eq(log.cursor("uplink"), oldest, "cursor moved to the oldest record kept")
    eq(log.lost("uplink"), oldest - 1, "every reclaimed unconfirmed record counted")
    eq(log.lost("usb"), 0, "a cursor that kept up lost nothing")
    events = [r for r in log.records(rtype=EVENT)]
    assert events, "loss events"
    erc, data = log_records.unpack_event(events[-1][4])
    eq(erc, ERC_RECORDS_LOST, "event code")
    eq(data[:8], b"uplink\x00\x00", "event names the cursor")
    total = data[16] | data[17] << 8 | data[18] << 16 | data[19] << 24
    eq(total, log.lost("uplink"), "event carries the running total")
    log2 = RingLog(flash)
    eq((log2.cursor("uplink"), log2.lost("uplink")), (oldest, oldest - 1), "after remount")
    raises(ValueError, log_records.append_event, log, 0, 0, ERC_RECORDS_LOST, b"x")


def test_bad_records_are_refused_and_nothing_is_written():
    flash, log = new_log()
    raises(ValueError, log.append, 0, 1, 1, b"x")
    raises(ValueError, log.append, 0x40, 1, 1, b"x")
    raises(ValueError, log.append, MARKER, 1, 1, b"x" * (MAX_PAYLOAD + 1))
    raises(ValueError, log.append, MARKER, 70000, 1, b"x")
    raises(ValueError, log.append, MARKER, 1, -1, b"x")
    raises(ValueError, log_records.append_readings, log, 1, 1, list(range(80)), [10 ** 9] * 80)
    eq(log.next_seq, 1, "nothing appended")
    eq(len(log.stage), 256, "stage keeps its size")
    eq(log.append(MARKER, 1, 1, b"x" * MAX_PAYLOAD), 1, "largest record fits")


def test_append_allocates_nothing_with_a_reused_buffer():
    flash, log = new_log(blocks=6)
    log.cursor("uplink")
    values = batch(0)
    payload = bytes(30)
    for i in range(60):           # fill the ring: every later sector opening reclaims one
        log_records.append_readings(log, 1, i, ITEMS, values)
    log.append(MARKER, 0, 60, payload)    # the first record of a length makes its view once
    log.advance("uplink", log.next_seq)
    start = log.next_seq
    oldest = log.oldest_seq
    micropython.heap_lock()
    try:
        for i in range(30):       # several sector rollovers; they reclaim confirmed records
            values[0] = 12345678 + i * 977
            values[9] = 5000 + i
            log_records.append_readings(log, 1 + i % 3, 1000 + i, ITEMS, values)
            log.append(MARKER, 0, 1000 + i, payload)
    finally:
        micropython.heap_unlock()
    eq(log.next_seq, start + 60, "all appended")
    assert log.oldest_seq > oldest + 20, "the locked run reclaimed sectors"
    eq(log.lost("uplink"), 0, "nothing unconfirmed was reclaimed")
    last = log.read(log.next_seq - 2)
    eq(log_records.unpack_readings(last[4])[0], (0, 12345678 + 29 * 977), "last batch intact")


def test_format_wipes_records_and_cursors_but_keeps_sequence_numbers_unique():
    flash, log = new_log()
    log.cursor("uplink")
    log_records.append_marker(log, 1, log_records.MARK_BOOT)
    log_records.append_marker(log, 2, log_records.MARK_BOOT)
    log.format()
    eq((log.oldest_seq, log.next_seq, log.cursor_names()), (3, 3, []), "empty")
    log2 = RingLog(flash)
    eq((log2.next_seq, list(log2.records())), (3, []), "empty after remount")
    eq(log_records.append_marker(log2, 3, log_records.MARK_FORMAT), 3, "numbering carries on")


def test_a_partition_holding_something_else_is_not_taken_for_a_log():
    flash = NorFlash(block_size=1024, block_count=4, seed=5)
    junk = bytearray(1024)
    for i in range(1024):
        junk[i] = (i * 37 + 11) & 0xFF
    for s in range(4):
        flash.writeblocks(s, junk, 0)
    raises(StoreError, RingLog, flash)
    log = RingLog(flash, create=True)
    eq(log.next_seq, 1, "formatted when asked")


def test_a_log_of_another_format_version_is_refused():
    import binascii
    flash = NorFlash(block_size=1024, block_count=4)
    header = bytearray(b"RLOG\x02\x00\x0a\x02" + bytes(12))
    header[8] = 1
    crc = binascii.crc32(header)
    header += bytes([crc & 0xFF, (crc >> 8) & 0xFF, (crc >> 16) & 0xFF, crc >> 24])
    flash.writeblocks(0, header, 0)
    err = raises(StoreError, RingLog, flash, None, True)
    assert "version" in str(err), str(err)


def test_program_granularity_is_respected():
    flash = NorFlash(block_size=2048, block_count=4, prog_size=16)
    log = RingLog(flash, prog_size=16, create=True)
    log.cursor("uplink")
    for i in range(100):
        log_records.append_readings(log, 1, i, ITEMS, batch(i))
        log.advance("uplink", log.next_seq - 1)
    log2 = RingLog(flash, prog_size=16)
    eq(log2.cursor("uplink"), log.next_seq - 1, "cursor")
    eq([r[0] for r in log2.records()], list(range(log2.oldest_seq, log2.next_seq)), "dense")


def test_stage_payload_offset_is_the_record_header_size():
    eq(PAYLOAD, 16, "payload offset")


def test_a_reader_can_hold_its_place_while_appends_reclaim_sectors():
    flash, log = new_log()
    for i in range(150):
        log_records.append_readings(log, 1, i, ITEMS, batch(i))
    seen = []
    reader = log.records()
    for record in reader:
        seen.append(record[0])
        # the poller appends between two steps of the uplink's walk; the ring wraps under it
        for j in range(4):
            log_records.append_readings(log, 2, 1000 + j, ITEMS, batch(j))
        if len(seen) == 60:
            break
    oldest_when_done = log.oldest_seq
    assert oldest_when_done > seen[0], "the ring reclaimed sectors during the walk"
    for i in range(1, len(seen)):
        a, b = seen[i - 1], seen[i]
        assert b > a, "increasing: %r" % seen
        # between two seen records, only records the ring reclaimed meanwhile may be missing
        if b != a + 1:
            assert b <= oldest_when_done, "skipped records still held: %d..%d" % (a + 1, b - 1)


def test_a_log_formatted_for_another_geometry_is_refused():
    flash = NorFlash(block_size=1024, block_count=8, prog_size=16)
    log = RingLog(flash, create=True)
    log_records.append_marker(log, 1, log_records.MARK_BOOT)
    err = raises(StoreError, RingLog, flash, 4, True)        # mounted with the wrong unit
    assert "program unit" in str(err), str(err)
    eq(RingLog(flash).next_seq, 2, "the right unit still mounts it")


def test_the_crc_is_the_standard_crc32_of_the_unix_port():
    import binascii
    # the CRC-32/ISO-HDLC check value; docs/ringlog.md relies on binascii.crc32 being it
    eq(binascii.crc32(b"123456789"), 0xCBF43926, "crc32 check value")
    eq(binascii.crc32(b"6789", binascii.crc32(b"12345")), 0xCBF43926, "chained")


def test_latest_finds_the_newest_record_of_a_point_and_type():
    flash, log = new_log()
    for i in range(200):
        log_records.append_readings(log, 1 + i % 5, 10 * i, ITEMS, batch(i))
    log_records.append_event(log, 3, 5000, 13, b"\x01")
    newest = log.latest(READINGS, 2)
    eq((newest[0], newest[2], newest[3]), (197, 2, 1960), "newest reading of point 2")
    eq(log_records.unpack_readings(newest[4])[0], (0, batch(196)[0]), "its values")
    eq(log.latest(EVENT)[3], 5000, "newest event")
    eq(log.latest()[0], log.next_seq - 1, "newest record of all")
    eq(log.latest(READINGS, 99), None, "no such point")


def test_remount_in_place_after_an_interrupted_append_is_a_fresh_mount():
    # conc's stop after a Ctrl-C that landed inside a write: the same object mounts again
    # (no second set of buffers on a full heap), repairs the torn record, and appends after it
    from firmware.hal.norflash import PowerCut
    flash, log = new_log()
    for i in range(5):
        log_records.append_readings(log, 1, 1000 + 60 * i, ITEMS, batch(i))
    flash.cut_after(40)
    raises(PowerCut, log_records.append_readings, log, 1, 1300, ITEMS, batch(5))
    flash.power_on()
    log.remount()
    mk = log_records.append_marker(log, 1400, log_records.MARK_BOOT)
    fresh = RingLog(flash)
    eq([r[:4] for r in log.records()], [r[:4] for r in fresh.records()])
    eq((fresh.next_seq, list(fresh.records())[-1][0]), (mk + 1, mk))
    eq(log_records.unpack_marker(fresh.read(mk)[4])[0], log_records.MARK_BOOT)
