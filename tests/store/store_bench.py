# The store's figures, measured under MicroPython; run by tests/bench/bench_store.py, which
# re-emits each "@@METRIC name value unit" line. Usage: micropython store_bench.py [trials]
import gc
import sys
import time

from store_support import Rng, Torture, payload_for

from firmware import log_records
from firmware.hal.norflash import NorFlash, PowerCut
from firmware.ringlog import EVENT, MAX_PAYLOAD, RingLog

ITEMS = list(range(15))


def metric(name, value, unit):
    print("@@METRIC %s %s %s" % (name, value, unit))


def typical_batch(i, values):
    # forward energy total + 4 tariffs (0.01 kWh), reverse total, U a/b/c (0.1 V),
    # I a/b/c (0.001 A), P total (0.0001 kW), power factor (0.001), demand (0.0001 kW)
    values[0] = 12345678 + 11 * i
    values[1] = 3012345 + 3 * i
    values[2] = 4023456 + 4 * i
    values[3] = 2987654 + 2 * i
    values[4] = 2321223 + 2 * i
    values[5] = 1523
    values[6] = 2201 + i % 7
    values[7] = 2198 - i % 5
    values[8] = 2205 + i % 3
    values[9] = 5123 + i % 11
    values[10] = 4980 - i % 13
    values[11] = 5301 + i % 17
    values[12] = 11345 + i % 19
    values[13] = 987 - i % 4
    values[14] = 10871 + i % 23


def powercut(cuts):
    """Trials on six flash models until `cuts` power cuts have fired (some trials end before
    their armed cut point; those count as trials, not as cuts). The total is the run's length,
    not a result: the results are the records lost or corrupted, and how many cuts landed in
    each kind of operation (a kind the trials rarely reach is a kind the figure does not
    cover)."""
    # seed, sector size, sectors, program unit, scattered page tears, share of the cuts (/20)
    plan = ((1, 1024, 6, 1, False, 5), (2, 1024, 3, 1, False, 3), (3, 2048, 5, 16, False, 3),
            (4, 4096, 4, 1, False, 3), (5, 1024, 8, 4, False, 2), (6, 1024, 5, 1, True, 4))
    total = trials = lost = corrupt = 0
    by_kind = {}
    for seed, size, count, prog, scatter, share in plan:
        want = cuts * share // 20
        t = Torture(seed, size, count, prog, scatter)
        while sum(t.cuts.values()) < want:
            t.trial()
        total += sum(t.cuts.values())
        trials += t.trials
        lost += t.lost_records
        corrupt += t.corrupt_records
        for kind in t.cuts:
            by_kind[kind] = by_kind.get(kind, 0) + t.cuts[kind]
        for line in t.failures:
            print("# " + line)
    metric("store.powercut_trials", total, "cuts")
    for kind in sorted(by_kind):     # what the cuts interrupted
        metric("store.powercut_in_" + kind, by_kind[kind], "cuts")
    metric("store.powercut_all_trials", trials, "trials")
    metric("store.lost_records", lost, "records")
    metric("store.corrupt_records", corrupt, "records")


def cpu_ticks():
    """CPU time of this process in clock ticks (1/100 s): on a shared machine wall time
    measures the neighbours too. Falls back to wall time in ms where /proc is missing."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().split(")")[-1].split()
        return int(fields[11]) + int(fields[12])     # utime + stime
    except OSError:
        return time.ticks_ms() // 10


def append_vs_raw(batches=60000, chunk=1000):
    """Append `batches` typical reading batches (the ring wraps several times); write the very
    same record sizes raw and in order, erasing as it wraps, on a second simulator of the same
    geometry; compare CPU times. The two alternate chunk by chunk, so a neighbour's load
    falls on both alike (each chunk's tick count is coarse, but unbiased, so the sums are good)."""
    values = [0] * 15
    typical_batch(0, values)
    sizes = bytearray(batches)          # padded record size / 4, known before the timing
    scratch = bytearray(256)
    for i in range(batches):
        values[0] += 11                 # the energy register creeps
        sizes[i] = (16 + log_records.pack_readings(scratch, 0, ITEMS, values) + 3) // 4
    typical_batch(0, values)
    log_values = list(values)
    log = RingLog(NorFlash(block_size=4096, block_count=64), create=True)
    raw = NorFlash(block_size=4096, block_count=64)
    blank = bytes(256)
    bufs = [blank[:4 * k] for k in range(65)]
    block = off = 0
    wrapped = False
    t_log = t_raw = 0
    for first in range(0, batches, chunk):
        gc.collect()
        t0 = cpu_ticks()
        for i in range(first, first + chunk):
            log_values[0] += 11
            log_records.append_readings(log, 1 + i % 32, 1000 + i, ITEMS, log_values)
        t_log += cpu_ticks() - t0
        gc.collect()
        t0 = cpu_ticks()
        for i in range(first, first + chunk):
            values[0] += 11
            k = sizes[i]
            if off + 4 * k > 4096:
                block += 1
                off = 0
                if block == 64:
                    block = 0
                    wrapped = True
                if wrapped:
                    raw.ioctl(6, block)
            raw.writeblocks(block, bufs[k], off)
            off += 4 * k
        t_raw += cpu_ticks() - t0
    metric("store.append_vs_raw", round(t_raw / max(t_log, 1), 3), "ratio")
    metric("store.append_us", round(t_log * 10000 / batches, 1), "us/batch")


def fill_1mb():
    values = [0] * 15
    flash = NorFlash(block_size=4096, block_count=256)
    log = RingLog(flash, create=True)
    log.cursor("uplink")
    log.cursor("usb")
    i = 0
    # wrap once, then stop with the head sector nearly full: the worst case for the head scan
    while log.oldest_seq == 1 or log.stats()["head_offset"] < 4096 - 200:
        typical_batch(i, values)
        log_records.append_readings(log, 1 + i % 32, 1000 + i, ITEMS, values)
        if i % 40 == 0:
            log.advance("uplink", log.next_seq - 20)
        i += 1
    return flash, log


def mount_and_density():
    flash, log = fill_1mb()
    best = None
    for _ in range(5):
        t0 = time.ticks_us()
        mounted = RingLog(flash)
        took = time.ticks_diff(time.ticks_us(), t0)
        best = took if best is None or took < best else best
    assert mounted.next_seq == log.next_seq
    metric("store.mount_ms_1mb", round(best / 1000, 2), "ms")
    held = mounted.next_seq - mounted.oldest_seq
    readings = 0
    for record in mounted.records(rtype=log_records.READINGS):
        readings += len(log_records.unpack_readings(record[4]))
    used = mounted.stats()["sectors_used"] * 4096
    metric("store.bytes_per_reading", round(used / readings, 2), "bytes")
    metric("store.records_held_1mb", held, "records")


def wear(wraps=60, blocks=8, block_size=4096):
    """Erase counts per block after an uneven workload that runs a fixed amount of data through
    the log (`wraps` times the partition), whatever the wear turns out to be: mixed record sizes
    (typical reading batches, short events, the longest records), both cursors moving at
    different paces, a power cut every few hundred operations followed by a mount that repairs
    the torn state, and an explicit format halfway. A ring that favoured some blocks (a format
    or a repair that always restarts at block 0, a rollover that erases twice) shows as max-min
    and max/mean erase counts above the even ring's 1 and 1.0."""
    rng = Rng(11)
    values = [0] * 15
    flash = NorFlash(block_size=block_size, block_count=blocks, seed=11)
    log = RingLog(flash, create=True)
    log.cursor("uplink")
    log.cursor("usb")
    budget = wraps * blocks * block_size       # bytes programmed: the data through the log
    ops = cuts = 0
    formatted = False
    i = 0
    while flash.bytes_programmed < budget:
        if not formatted and flash.bytes_programmed >= budget // 2:
            log.format()
            log.cursor("uplink")
            log.cursor("usb")
            formatted = True
        if ops % 400 == 399:
            flash.cut_after(rng.below(300))            # somewhere in the next operations
        try:
            roll = rng.below(100)
            i += 1
            if roll < 70:
                typical_batch(i, values)
                log_records.append_readings(log, 1 + i % 32, 1000 + i, ITEMS, values)
            elif roll < 90:
                log.append(EVENT, 1 + i % 32, 1000 + i, payload_for(i, 8 + rng.below(24)))
            else:
                log.append(EVENT, 1 + i % 32, 1000 + i, payload_for(i, MAX_PAYLOAD))
            if i % 16 == 0:
                log.advance("uplink", log.next_seq)
            if i % 500 == 0:
                log.advance("usb", log.next_seq - 100)
        except PowerCut:
            cuts += 1
            flash.power_on()
            log = RingLog(flash)                       # the mount repairs what the cut tore
        ops += 1
    counts = list(flash.erase_counts)
    mean = sum(counts) / len(counts)
    metric("store.erase_spread", max(counts) - min(counts), "erases")
    metric("store.erase_max_vs_mean", round(max(counts) / mean, 3), "ratio")
    metric("store.erase_mean", round(mean, 1), "erases")
    metric("store.erase_workload_cuts", cuts, "cuts")


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    only = sys.argv[2] if len(sys.argv) > 2 else None
    if only in (None, "append"):
        append_vs_raw()
    if only in (None, "mount"):
        mount_and_density()
    if only in (None, "wear"):
        wear()
    if only in (None, "powercut"):
        powercut(trials)


if __name__ == "__main__":
    main()
