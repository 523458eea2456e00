"""protocol.gw376_deframer: frames out of a stream in any chunking, through noise."""
from hypothesis import given, settings, strategies as st

import gw376_checks
import gw376_strategies as strat
from protocol import gw376
from protocol.gw376_deframer import Deframer

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
    assert len(small.buffer) == 263
    assert small.frames(big + CAPTURED[0]) == [CAPTURED[0]]
    assert Deframer().frames(big) == [big]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(1, 50), min_size=1, max_size=5))
def test_random_streams_never_crash_and_stay_bounded(stream, sizes):
    deframer = Deframer(max_user_data=300)
    for frame in feed_in_chunks(deframer, stream, sizes):
        gw376.check_header(frame)
    assert deframer.fill <= len(deframer.buffer) == 308
