# The NOR-flash simulator keeps the rules of real NOR flash, under MicroPython.
import os

from mp_support import eq, raises

from firmware.hal.norflash import NorFlash, PowerCut, ProgramError


def test_fresh_flash_reads_erased_and_reports_geometry():
    f = NorFlash(block_size=1024, block_count=4)
    eq(f.ioctl(4, 0), 4, "block count")
    eq(f.ioctl(5, 0), 1024, "block size")
    buf = bytearray(16)
    f.readblocks(3, buf, 1000)
    eq(bytes(buf), b"\xff" * 16, "erased")


def test_programming_clears_bits_and_reads_back():
    f = NorFlash(block_size=1024, block_count=2)
    f.writeblocks(1, b"\xf0\x0f\x55", 10)
    f.writeblocks(1, b"\x30", 10)          # clearing more bits of a programmed byte is fine
    buf = bytearray(3)
    f.readblocks(1, buf, 10)
    eq(bytes(buf), b"\x30\x0f\x55", "programmed")
    eq(f.bytes_programmed, 4, "bytes programmed")


def test_writing_a_one_over_a_zero_is_a_caller_bug():
    f = NorFlash(block_size=1024, block_count=2)
    f.writeblocks(0, b"\x00", 5)
    err = raises(ProgramError, f.writeblocks, 0, b"\x01", 5)
    assert "address 5" in str(err), str(err)


def test_erase_sets_ff_and_counts_per_block():
    f = NorFlash(block_size=1024, block_count=3)
    f.writeblocks(1, b"\x00" * 8, 0)
    eq(f.ioctl(6, 1), 0, "erase result")
    f.ioctl(6, 1)
    buf = bytearray(8)
    f.readblocks(1, buf, 0)
    eq(bytes(buf), b"\xff" * 8, "erased")
    eq(list(f.erase_counts), [0, 2, 0], "erase counts")
    raises(ValueError, f.ioctl, 6, 3)


def test_simple_protocol_write_erases_whole_blocks_first():
    f = NorFlash(block_size=1024, block_count=2)
    f.writeblocks(0, b"\x00" * 4, 0)
    f.writeblocks(0, b"\x5a" * 1024)
    buf = bytearray(4)
    f.readblocks(0, buf, 0)
    eq(bytes(buf), b"\x5a" * 4, "rewritten")
    raises(ProgramError, f.writeblocks, 0, b"\x00" * 10)


def test_program_granularity_is_enforced():
    f = NorFlash(block_size=1024, block_count=2, prog_size=8)
    f.writeblocks(0, b"\x00" * 16, 8)
    raises(ProgramError, f.writeblocks, 0, b"\x00" * 8, 4)
    raises(ProgramError, f.writeblocks, 0, b"\x00" * 4, 32)


def test_out_of_range_access_is_refused():
    f = NorFlash(block_size=1024, block_count=2)
    raises(ValueError, f.readblocks, 1, bytearray(8), 1020)
    raises(ValueError, f.writeblocks, 2, b"\x00", 0)


def test_power_cut_leaves_the_byte_in_flight_partly_programmed():
    partial = 0
    for seed in range(1, 40):
        f = NorFlash(block_size=1024, block_count=2, seed=seed)
        f.cut_after(3)
        raises(PowerCut, f.writeblocks, 0, b"\x00" * 6, 0)
        eq(f.last_cut, "program", "cut kind")
        raises(PowerCut, f.readblocks, 0, bytearray(1), 0)    # dark until power returns
        f.power_on()
        buf = bytearray(6)
        f.readblocks(0, buf, 0)
        eq(bytes(buf[:3]), b"\x00" * 3, "bytes before the cut")
        eq(bytes(buf[4:]), b"\xff\xff", "bytes after the cut")
        if buf[3] not in (0x00, 0xFF):
            partial += 1
    assert partial > 20, "the byte in flight should usually be half-programmed (%d)" % partial


def test_interrupted_erase_leaves_random_bits():
    f = NorFlash(block_size=1024, block_count=2, seed=7)
    f.writeblocks(1, b"\x00" * 1024, 0)
    f.cut_at_erase(0)
    raises(PowerCut, f.ioctl, 6, 1)
    eq(f.last_cut, "erase", "cut kind")
    f.power_on()
    buf = bytearray(1024)
    f.readblocks(1, buf, 0)
    ones = 0
    for b in buf:
        while b:
            ones += b & 1
            b >>= 1
    assert 1024 < ones < 7 * 1024, "some, not all, bits back to 1: %d" % ones


def test_cut_counts_erases_as_steps_and_can_wait_for_erases():
    f = NorFlash(block_size=1024, block_count=3)
    f.cut_after(1)
    f.ioctl(6, 0)                                  # step 1 completes
    raises(PowerCut, f.writeblocks, 0, b"\x00", 0)
    f.power_on()
    f.cut_after(2, after_erases=1)
    f.writeblocks(0, b"\x00" * 100, 10)            # not counted: waiting for an erase
    f.ioctl(6, 2)
    f.writeblocks(2, b"\x00\x00", 0)
    raises(PowerCut, f.writeblocks, 2, b"\x00", 2)


def test_file_backed_image_persists_and_starts_erased():
    path = "/tmp/norflash_mp_test_%d.img" % id(object())
    try:
        f = NorFlash(block_size=1024, block_count=4, path=path)
        buf = bytearray(4)
        f.readblocks(3, buf, 1020)
        eq(bytes(buf), b"\xff" * 4, "new image reads erased")
        f.writeblocks(2, b"\x12\x34", 7)
        raises(ProgramError, f.writeblocks, 2, b"\xff", 7)
        f.close()
        g = NorFlash(block_size=1024, block_count=4, path=path)
        g.readblocks(2, buf, 6)
        eq(bytes(buf), b"\xff\x12\x34\xff", "persisted")
        g.ioctl(6, 2)
        g.readblocks(2, buf, 6)
        eq(bytes(buf), b"\xff" * 4, "erased in the file")
        g.close()
        raises(ValueError, NorFlash, 1024, 2, 1, path)    # image larger than configured
    finally:
        os.remove(path)


def test_scattered_cut_tears_every_byte_still_due():
    f = NorFlash(block_size=1024, block_count=2, seed=3, scatter=True)
    f.cut_after(2)
    raises(PowerCut, f.writeblocks, 0, b"\x00" * 64, 0)
    f.power_on()
    buf = bytearray(64)
    f.readblocks(0, buf, 0)
    eq(bytes(buf[:2]), b"\x00\x00", "done before the cut")
    torn = [b for b in buf[2:] if b not in (0x00, 0xFF)]
    assert len(torn) > 40, "most bytes after the cut half-programmed: %r" % bytes(buf)
