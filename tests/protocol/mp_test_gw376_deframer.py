# The 1376.1 deframer under the real MicroPython: any chunking, and no heap allocation in
# steady state (proved with micropython.heap_lock(): any allocation raises MemoryError).
import gc
import micropython

from mp_support import eq
import gw376_checks
from protocol import gw376
from protocol.gw376_deframer import Deframer

NAMES = gw376_checks.all_vector_names()


def _stream():
    parts = []
    for name in NAMES:
        parts.append(b"\xfe\x00\x68\x68\x32")          # noise with false starts
        parts.append(gw376_checks.unhex(gw376_checks.vectors.CAPTURED[name]))
    return b"".join(parts)


def _pump(deframer, chunk, lengths):
    # Count frames and sum their lengths without allocating: the frame is read in place.
    pos = 0
    count = 0
    while True:
        pos = deframer.feed(chunk, pos)
        if not deframer.frame_length:
            return count
        lengths[0] += deframer.frame_length
        count += 1


def test_chunked_feed_finds_every_frame():
    stream = _stream()
    deframer = Deframer(max_user_data=2048)
    for size in (1, 2, 7, 64, 1000):
        deframer.reset()
        found = []
        for start in range(0, len(stream), size):
            found.extend(deframer.frames(stream[start:start + size]))
        eq(len(found), len(NAMES), "frames at chunk size %d" % size)
        for index in range(len(NAMES)):
            gw376.parse(found[index])


def test_steady_state_allocates_nothing():
    stream = _stream()
    # chunks prepared before the lock; the deframer's buffer sized for the largest frame
    chunks = [stream[i:i + 37] for i in range(0, len(stream), 37)]
    deframer = Deframer(max_user_data=2048)
    lengths = [0]
    total = 0
    for chunk in chunks:                  # warm-up pass (first use of every code path)
        total += _pump(deframer, chunk, lengths)
    eq(total, len(NAMES), "warm-up frames")
    gc.collect()
    micropython.heap_lock()
    try:
        total = 0
        for _ in range(5):
            for chunk in chunks:
                total += _pump(deframer, chunk, lengths)
    finally:
        micropython.heap_unlock()
    eq(total, 5 * len(NAMES), "frames under heap lock")


def test_board_deframer_takes_its_longest_frame():
    # 2048 bytes of user data (all zero: checksum 0), L = 2048 << 2 | 2 = 0x2002
    longest = b"\x68\x02\x20\x02\x20\x68" + bytes(2048) + b"\x00\x16"
    deframer = Deframer(max_user_data=2048)
    found = deframer.frames(b"\x00\x68" + longest + longest)
    eq(len(found), 2, "frames")
    eq(found[0] == longest and found[1] == longest, True, "the longest frames, whole")


def _hostile_stream():
    # Overlapping plausible headers, each refuted only 2048 bytes later by its checksum, then
    # a real frame and the bytes that refute the starts still pending before it.
    start = b"\x68\xe2\x1f\xe2\x1f\x68"          # L = 1FE2: protocol 2, 2040 bytes
    good = gw376_checks.unhex(gw376_checks.vectors.CAPTURED[NAMES[0]])
    return start * 1000 + good + bytes(2048), good


def test_hostile_starts_then_a_real_frame():
    stream, good = _hostile_stream()
    deframer = Deframer(max_user_data=2048)
    found = []
    for start in range(0, len(stream), 61):
        found.extend(deframer.frames(stream[start:start + 61]))
    eq(found, [good], "frames behind the attack")
    eq(deframer.bad_frames, 1000, "starts refuted by their checksum")


def test_hostile_starts_allocate_nothing():
    stream, good = _hostile_stream()
    chunks = [stream[i:i + 61] for i in range(0, len(stream), 61)]
    deframer = Deframer(max_user_data=2048)
    lengths = [0]
    total = 0
    for chunk in chunks:                  # warm-up pass: compaction and delivery paths used
        total += _pump(deframer, chunk, lengths)
    eq(total, 1, "warm-up frames")
    gc.collect()
    micropython.heap_lock()
    try:
        total = 0
        for chunk in chunks:
            total += _pump(deframer, chunk, lengths)
    finally:
        micropython.heap_unlock()
    eq(total, 1, "frames under heap lock")
