"""The DL/T 645 stream deframer: any chunking, noise, preambles, false starts, bounded buffer."""
import pytest
from hypothesis import given, settings, strategies as st

from protocol import dlt645, dlt645_deframer
from protocol.dlt645_deframer import MAX_FRAME, Deframer
from step_budget import StepBudget

ADDR = "151230011061"
# From /work/shared/vectors/dlt645_examples.tsv
READ_RSP = bytes.fromhex("6861100130121568910833333433ab3933334916")
RELAY_ACK_RSP = bytes.fromhex("68611001301215689c003516")


def drain(deframer):
    out = []
    size = deframer.next_frame()
    while size:
        out.append(deframer.frame())
        assert deframer.frame() == bytes(deframer.buf[deframer.start:deframer.start + size])
        size = deframer.next_frame()
    return out


def feed_all(deframer, stream, cuts):
    """Feed `stream` split at `cuts`; keep feeding what did not fit after draining frames."""
    frames, pos = [], 0
    for end in sorted(set(cuts)) + [len(stream)]:
        chunk = stream[pos:end]
        pos = max(pos, end)
        while chunk:
            taken = deframer.feed(chunk)
            chunk = chunk[taken:]
            frames += drain(deframer)
            assert taken or frames or deframer.buffered() < len(deframer.buf)
    return frames + drain(deframer)


frames_st = st.lists(st.builds(
    lambda address, di, payload, pre: dlt645.build_read_reply(address, di, payload,
                                                              preamble=pre),
    st.text("0123456789", min_size=12, max_size=12), st.integers(0, 0xFFFFFFFF),
    st.binary(max_size=60), st.integers(0, 4)), min_size=1, max_size=6)


@settings(deadline=None, max_examples=150)
@given(frames_st, st.lists(st.integers(0, 2000), max_size=30))
def test_any_chunking_yields_every_frame_in_order(frames, cuts):
    stream = b"".join(frames)
    got = feed_all(Deframer(), stream, cuts)
    assert got == [f.lstrip(b"\xfe") for f in frames]


@settings(deadline=None, max_examples=150)
@given(frames_st, st.lists(st.binary(max_size=30).filter(lambda b: b"\x68" not in b),
                           min_size=7, max_size=7),
       st.lists(st.integers(0, 2000), max_size=20))
def test_noise_without_68_between_frames_is_skipped(frames, noise, cuts):
    stream = b"".join(noise[i] + frames[i] for i in range(len(frames))) + noise[-1]
    deframer = Deframer()
    assert feed_all(deframer, stream, cuts) == [f.lstrip(b"\xfe") for f in frames]
    assert deframer.noise == sum(len(n) - n.count(b"\xfe") for n in noise[:len(frames)]) + \
        len(noise[-1]) - noise[-1].count(b"\xfe")


def test_false_68_and_bad_checksum_resynchronise():
    broken = bytearray(READ_RSP)
    broken[-2] ^= 0xFF                                 # bad checksum
    stream = b"\x68\x68\x00" + bytes(broken) + RELAY_ACK_RSP + b"\x68\x11" + READ_RSP
    deframer = Deframer()
    assert feed_all(deframer, stream, []) == [RELAY_ACK_RSP, READ_RSP]
    assert deframer.rejected >= 3


def test_frame_hidden_after_a_false_start_is_found():
    # A 68 followed by a plausible header whose "frame" would swallow the real one.
    fake = bytes.fromhex("68111111111111") + b"\x68\x91\x20"
    deframer = Deframer()
    got = feed_all(deframer, fake + READ_RSP + bytes(40), [])
    assert got == [READ_RSP]


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=1500), st.lists(st.integers(0, 1500), max_size=30))
def test_random_bytes_never_raise_and_buffer_stays_bounded(stream, cuts):
    deframer = Deframer(capacity=MAX_FRAME)
    for frame in feed_all(deframer, stream, cuts):
        dlt645.parse_frame(frame)                        # whatever it returns is a valid frame
    assert deframer.buffered() <= MAX_FRAME
    assert len(deframer.buf) == MAX_FRAME


@settings(deadline=None, max_examples=100)
@given(frames_st, st.data())
def test_mutated_stream_yields_only_valid_frames(frames, data):
    stream = bytearray(b"".join(frames))
    for _ in range(data.draw(st.integers(0, 6))):
        pos = data.draw(st.integers(0, len(stream) - 1))
        stream[pos] = data.draw(st.integers(0, 255))
    for frame in feed_all(Deframer(), bytes(stream), data.draw(st.lists(st.integers(0, 900)))):
        dlt645.parse_frame(frame)


def test_feed_takes_only_what_fits_and_reset_discards():
    deframer = Deframer(capacity=MAX_FRAME)
    assert deframer.feed(bytes(1000)) == MAX_FRAME
    assert deframer.next_frame() == 0 and deframer.buffered() == 0
    deframer.feed(READ_RSP[:7])
    deframer.reset()
    assert deframer.buffered() == 0
    deframer.feed(READ_RSP)
    assert drain(deframer) == [READ_RSP]


def test_feed_length_argument_uses_a_prefix_of_a_reused_buffer():
    rx = bytearray(64)
    rx[:len(RELAY_ACK_RSP)] = RELAY_ACK_RSP
    deframer = Deframer()
    assert deframer.feed(rx, len(RELAY_ACK_RSP)) == len(RELAY_ACK_RSP)
    assert drain(deframer) == [RELAY_ACK_RSP]


def test_capacity_below_one_frame_is_refused():
    with pytest.raises(ValueError):
        Deframer(capacity=MAX_FRAME - 1)



# -- hostile input: work linear in the bytes received (issue 15)

# A plausible header (broadcast address, L = 200) that only its checksum 212 bytes later refutes,
# repeated so that every 10 bytes start another one.
HOSTILE = bytes.fromhex("68 AA AA AA AA AA AA 68 11 C8") * 4000           # 40 KB


def test_hostile_starts_cost_linear_work():
    stream = HOSTILE + READ_RSP + bytes(MAX_FRAME)
    deframer = Deframer()
    with StepBudget(dlt645_deframer, limit=10 * len(stream)) as steps:
        frames = feed_all(deframer, stream, list(range(0, len(stream), 256)))
    assert frames == [READ_RSP]                    # the real frame behind the attack is found
    assert steps.count <= 10 * len(stream)
    assert deframer.bad_frames == 4000             # each start judged once, by its checksum
    assert deframer.rejected == 8000               # and the 68 in each header
    assert deframer.noise == len(HOSTILE) - 8000 + MAX_FRAME


def test_counters_tell_noise_from_bad_frames():
    broken = bytearray(READ_RSP)
    broken[-2] ^= 0xFF
    deframer = Deframer()
    got = feed_all(deframer, b"\x01\xfe\xfe" + bytes(broken) + RELAY_ACK_RSP, [])
    assert got == [RELAY_ACK_RSP]
    assert deframer.bad_frames == 1
    assert deframer.rejected == 2                  # its two 68s
    assert deframer.noise == 1 + len(broken) - 2   # the preambles are not noise
