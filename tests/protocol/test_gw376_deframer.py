"""protocol.gw376_deframer: frames out of a stream in any chunking, through noise."""
from hypothesis import given, settings, strategies as st

import gw376_checks
import gw376_strategies as strat
from protocol import gw376, gw376_deframer
from protocol.gw376_deframer import Deframer, buffer_size
from step_budget import StepBudget

CAPTURED = [gw376_checks.unhex(gw376_checks.vectors.CAPTURED[n])
            for n in gw376_checks.all_vector_names()]
noise = st.binary(max_size=20).map(lambda b: b.replace(b"\x68", b"\x00"))


def feed_in_chunks(deframer, stream, sizes):
    out = []
    pos = 0
    index = 0
    while pos < len(stream):
        size = sizes[index % len(sizes)] if sizes else len(stream)
        index += 1
        out += deframer.frames(stream[pos:pos + size])
        pos += size
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(noise, st.one_of(st.sampled_from(CAPTURED),
                                             strat.frames().map(gw376.build))),
                min_size=1, max_size=6),
       st.lists(st.integers(1, 64), min_size=1, max_size=10))
def test_any_chunking_through_noise(pieces, sizes):
    stream = b"".join(n + f for n, f in pieces)
    assert feed_in_chunks(Deframer(), stream, sizes) == [f for _, f in pieces]


def test_false_starts_are_rescanned():
    good = CAPTURED[0]
    stray = bytes.fromhex("68 68 32 00 33 00 68")      # lengths differ
    bad_cs = bytearray(good)
    bad_cs[-2] ^= 0xFF                                  # whole frame, wrong checksum
    wrong_id = bytes.fromhex("68 31 00 31 00 68")        # protocol id 1
    stream = stray + bytes(bad_cs) + wrong_id + good + b"\x68" + good
    deframer = Deframer()
    assert deframer.frames(stream) == [good, good]
    assert deframer.discarded == len(stray) + len(bad_cs) + len(wrong_id) + 1


def test_frame_hidden_inside_a_false_start_is_found():
    # A stray header that claims 12 bytes of user data swallows the start of a real frame;
    # when its checksum fails, the bytes already held are scanned again.
    good = CAPTURED[0]
    stream = bytes.fromhex("68 32 00 32 00 68 01 02") + good
    assert Deframer().frames(stream) == [good]


def test_byte_at_a_time_and_in_place_api():
    deframer = Deframer()
    seen = []
    stream = b"\xfe\xfe" + b"".join(CAPTURED)
    for i in range(len(stream)):
        pos = 0
        one = stream[i:i + 1]
        while True:
            pos = deframer.feed(one, pos)
            if not deframer.frame_length:
                break
            seen.append(bytes(deframer.buffer[:deframer.frame_length]))
    assert seen == CAPTURED
    assert deframer.frames_out == len(CAPTURED)
    assert deframer.discarded == 2


def test_oversized_length_is_refused_by_a_small_deframer():
    big = gw376.build(gw376.Frame(0x10, [(0, 1, {"port": 2, "control": 0x6B,
                                                 "frame_timeout": 5, "frame_timeout_in_s": True,
                                                 "byte_timeout_10ms": 10,
                                                 "data": bytes(300)})]))
    small = Deframer(max_user_data=255)               # dedicated radio channels
    assert len(small.buffer) == buffer_size(255) == 263 + 65
    assert small.frames(big + CAPTURED[0]) == [CAPTURED[0]]
    assert Deframer().frames(big) == [big]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(1, 50), min_size=1, max_size=5))
def test_random_streams_never_crash_and_stay_bounded(stream, sizes):
    deframer = Deframer(max_user_data=300)
    for frame in feed_in_chunks(deframer, stream, sizes):
        gw376.check_header(frame)
    assert deframer.fill <= len(deframer.buffer) == buffer_size(300)


# -- hostile input: work linear in the bytes received (issue 15)

# Each `68 FE FF FE FF 68` is a plausible header (L = FFFE: protocol id 2, 16383 bytes of user
# data) that can only be refuted 16391 bytes later by its checksum; the stream is full of them.
HOSTILE = bytes.fromhex("68 FE FF FE FF 68") * 7000                   # 42 KB
# Enough bytes without a 68 to refute every start still pending at the end of HOSTILE.
REFUTE = bytes(16391)


def test_hostile_starts_cost_linear_work():
    good = CAPTURED[0]
    stream = HOSTILE + good + REFUTE
    deframer = Deframer()
    with StepBudget(gw376_deframer, limit=10 * len(stream)) as steps:
        frames = deframer.frames(stream)
    assert frames == [good]                       # the real frame behind the attack is found
    assert steps.count <= 10 * len(stream)
    assert deframer.bad_frames == len(HOSTILE) // 6          # every start judged, once
    assert deframer.discarded == len(HOSTILE) + len(REFUTE)


def test_hostile_starts_in_small_chunks_cost_linear_work():
    # Chunks of 64 bytes as a TCP stream may deliver them: the per-call cost stays bounded too.
    stream = HOSTILE[:12000] + CAPTURED[0] + REFUTE
    deframer = Deframer()
    moved = []
    compact = deframer._compact

    def counting_compact():
        moved.append(deframer.fill - deframer.head)
        compact()

    deframer._compact = counting_compact
    with StepBudget(gw376_deframer, limit=10 * len(stream)):
        frames = feed_in_chunks(deframer, stream, [64])
    assert frames == [CAPTURED[0]]
    assert sum(moved) <= 5 * len(stream)          # held bytes moved only now and then


def test_counters_tell_garbage_from_bad_frames():
    good = CAPTURED[0]
    bad_cs = bytearray(good)
    bad_cs[-2] ^= 0xFF
    no_end = bytearray(good)
    no_end[-1] = 0x00
    deframer = Deframer()
    assert deframer.frames(b"\x01\x02\x03" + bytes(bad_cs) + bytes(no_end) + good) == [good]
    assert deframer.bad_frames == 2
    assert deframer.frames_out == 1
    assert deframer.discarded == 3 + 2 * len(good)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(CAPTURED),
                          st.sampled_from([bytes.fromhex("68 FE FF FE FF 68"),
                                           bytes.fromhex("68 32 00 32 00 68"),
                                           b"\x68", b"\x16", b"\x00\x68"]),
                          st.binary(max_size=8)), max_size=30),
       st.lists(st.integers(1, 64), min_size=1, max_size=10))
def test_same_frames_as_a_rescan_from_every_start(pieces, sizes):
    # The reference: try every 68 in order, exactly as the rule says, by brute force.
    stream = b"".join(pieces)
    assert feed_in_chunks(Deframer(max_user_data=300), stream, sizes) == \
        reference_frames(stream, 300)


def reference_frames(stream, max_user_data):
    found = []
    at = 0
    while True:
        at = stream.find(b"\x68", at)
        if at < 0 or len(stream) - at < 6:
            return found
        length = stream[at + 1] | stream[at + 2] << 8
        plausible = (stream[at + 5] == 0x68 and stream[at + 3:at + 5] == stream[at + 1:at + 3]
                     and length & 3 == 2 and 8 <= length >> 2 <= max_user_data)
        stop = at + (length >> 2) + 8
        if plausible and stop > len(stream):
            return found                          # held: waits for more bytes
        if plausible and sum(stream[at + 6:stop - 2]) & 0xFF == stream[stop - 2] \
                and stream[stop - 1] == 0x16:
            found.append(stream[at:stop])
            at = stop
        else:
            at += 1
