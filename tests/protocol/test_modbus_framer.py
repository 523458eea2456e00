"""RtuFramer: frames cut by the 3.5-character silence, with the caller's clock."""
from hypothesis import given, settings, strategies as st

from protocol import modbus

BAUD = 9600
SILENCE = modbus.silence_us(BAUD)          # 4011 us at 9600 baud
REQUEST = modbus.read_request(1, 4, 0, 2)
REPLY = modbus.read_reply(1, 4, [0x4366, 0x8000])


def test_silence_follows_the_spec():
    assert modbus.silence_us(9600) == 4011            # 3.5 x 11 bits / 9600, rounded up
    assert modbus.silence_us(2400) == 16042
    assert modbus.silence_us(19200) == 2006
    assert modbus.silence_us(38400) == 1750           # fixed above 19200 baud
    assert modbus.silence_us(115200) == 1750


def test_a_frame_is_complete_only_after_the_silence():
    framer = modbus.RtuFramer(BAUD)
    framer.feed(REQUEST[:3], 0)
    framer.feed(REQUEST[3:], 1000)
    assert framer.poll(1000 + SILENCE - 1) == 0
    assert framer.wait_us(1000 + SILENCE - 1) == 1
    n = framer.poll(1000 + SILENCE)
    assert bytes(framer.frame[:n]) == REQUEST
    assert framer.poll(10 ** 6) == 0 and framer.wait_us(10 ** 6) == -1


def test_new_bytes_after_a_silence_close_the_previous_frame():
    framer = modbus.RtuFramer(BAUD)
    framer.feed(REQUEST, 0)
    framer.feed(REPLY, 20000)                  # arrival after the gap ends the request
    assert framer.take(20000) == REQUEST
    assert framer.take(20000 + SILENCE) == REPLY


def test_noise_bad_crc_and_overlong_bursts_are_dropped_and_counted():
    framer = modbus.RtuFramer(BAUD)
    t = 0
    for burst in (b"\x00\xff", REQUEST[:-1] + b"\x00", bytes(300), REPLY):
        framer.feed(burst, t)
        t += 50000
    framer.poll(t)
    assert (framer.runts, framer.crc_errors, framer.overruns) == (1, 1, 1)
    assert framer.frames == 1 and bytes(framer.frame[:len(REPLY)]) == REPLY


def test_an_unpolled_frame_is_counted_when_overwritten():
    framer = modbus.RtuFramer(BAUD)
    framer.feed(REQUEST, 0)
    framer.feed(REPLY, 10000)
    framer.feed(REQUEST, 20000)                # REQUEST(0) was never polled
    assert framer.dropped == 1
    assert framer.take(20000) == REPLY


def test_early_mode_hands_out_a_reply_as_soon_as_it_is_whole():
    framer = modbus.RtuFramer(BAUD, early=True)
    exception = modbus.exception_reply(1, 4, 2)
    framer.feed(REPLY + exception[:2], 0)      # a reply and the start of the next frame at once
    assert framer.take(0) == REPLY
    framer.feed(exception[2:], 100)
    assert framer.take(100) == exception


def test_wrapping_clock_with_the_callers_ticks_diff():
    period = 1 << 30

    def ticks_diff(end, start):                # what time.ticks_diff does on a board
        return ((end - start + period // 2) % period) - period // 2

    framer = modbus.RtuFramer(BAUD, ticks_diff=ticks_diff)
    framer.feed(REQUEST, period - 100)
    assert framer.poll((period - 100 + SILENCE - 1) % period) == 0
    assert framer.take((period - 100 + SILENCE) % period) == REQUEST


def test_feed_with_length_from_a_readinto_buffer():
    framer = modbus.RtuFramer(BAUD)
    rx = bytearray(64)
    rx[:len(REQUEST)] = REQUEST
    framer.feed(rx, 0, len(REQUEST))
    assert framer.take(SILENCE) == REQUEST
    framer.reset()
    assert framer.pending() == 0


frames = st.one_of(
    st.builds(modbus.read_request, st.integers(1, 247), st.sampled_from([3, 4]),
              st.integers(0, 1000), st.integers(1, 125)),
    st.builds(modbus.read_reply, st.integers(1, 247), st.sampled_from([3, 4]),
              st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125)),
    st.builds(modbus.exception_reply, st.integers(1, 247), st.integers(1, 127),
              st.integers(1, 4)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(frames, st.booleans()), min_size=1, max_size=6), st.data())
def test_any_chunking_and_noise_yields_exactly_the_good_frames(items, data):
    framer = modbus.RtuFramer(BAUD)
    t = 0
    got = []
    wanted = []
    for frame, corrupt in items:
        if corrupt:        # flip one byte: the CRC catches every single-byte error
            i = data.draw(st.integers(0, len(frame) - 1))
            frame = frame[:i] + bytes([frame[i] ^ data.draw(st.integers(1, 255))]) + frame[i + 1:]
        else:
            wanted.append(frame)
        pos = 0
        while pos < len(frame):
            size = data.draw(st.integers(1, len(frame) - pos))
            framer.feed(frame[pos:pos + size], t)
            pos += size
            t += data.draw(st.integers(0, SILENCE - 1))     # gaps inside a frame
            taken = framer.take(t)
            if taken:
                got.append(taken)
        t += SILENCE + data.draw(st.integers(0, 10 ** 5))     # the silence between frames
        taken = framer.take(t)
        if taken:
            got.append(taken)
    assert got == wanted
    assert framer.crc_errors == len(items) - len(wanted)


replies = st.one_of(
    st.builds(modbus.read_reply, st.integers(1, 247), st.sampled_from([3, 4]),
              st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125)),
    st.builds(modbus.write_multiple_reply, st.integers(1, 247), st.integers(0, 1000),
              st.integers(1, 123)),
    st.builds(modbus.exception_reply, st.integers(1, 247), st.integers(1, 127),
              st.integers(1, 4)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(replies, st.booleans()), min_size=1, max_size=6), st.data())
def test_early_mode_recovers_after_a_corrupt_reply(items, data):
    # A corrupt length byte may end a frame too early or too late; the next silence resyncs.
    framer = modbus.RtuFramer(BAUD, early=True)
    t = 0
    got, wanted = [], []
    for frame, corrupt in items:
        if corrupt:
            i = data.draw(st.integers(0, len(frame) - 1))
            frame = frame[:i] + bytes([frame[i] ^ data.draw(st.integers(1, 255))]) + frame[i + 1:]
        else:
            wanted.append(frame)
        pos = 0
        while pos < len(frame):
            size = data.draw(st.integers(1, len(frame) - pos))
            framer.feed(frame[pos:pos + size], t)
            pos += size
            t += data.draw(st.integers(0, SILENCE - 1))
            taken = framer.take(t)
            while taken:
                got.append(taken)
                taken = framer.take(t)
        t += SILENCE
        taken = framer.take(t)
        if taken:
            got.append(taken)
    assert got == wanted
