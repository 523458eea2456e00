# DL/T 645 codec and deframer under the real MicroPython interpreter (compiled package).
# Vectors transcribed from /work/shared/vectors/dlt645_examples.tsv (public field captures,
# meter address 151230011061).
import micropython
from mp_support import raises, eq, unhex
from protocol import dlt645
from protocol.dlt645_deframer import Deframer
from protocol.errors import ProtocolError

READ_REQ = "68611001301215681104333334337b16"
READ_RSP = "6861100130121568910833333433ab3933334916"
RELAY_TRIP_REQ = "68611001301215681c10356a3935343333334d333333336345cc2c16"
RELAY_ACK_RSP = "68611001301215689c003516"


def test_vector_read_request():
    frame = dlt645.parse_frame(unhex(READ_REQ))
    eq(frame.address, "151230011061", "address")
    eq(frame.function, dlt645.READ, "function")
    eq(frame.from_meter, False, "direction")
    eq(frame.di, 0x00010000, "di")
    eq(dlt645.build_read("151230011061", 0x00010000), unhex(READ_REQ), "build")


def test_vector_read_reply():
    frame = dlt645.parse_frame(unhex(READ_RSP))
    eq(frame.control, 0x91, "control")
    eq(frame.di, 0x00010000, "di")
    eq(frame.payload, b"\x78\x06\x00\x00", "payload")
    eq(dlt645.build_read_reply("151230011061", 0x00010000, b"\x78\x06\x00\x00"),
       unhex(READ_RSP), "build")


def test_vector_relay_trip():
    frame = dlt645.parse_frame(unhex(RELAY_TRIP_REQ))
    eq(frame.function, dlt645.RELAY, "function")
    eq(frame.command, dlt645.RELAY_TRIP, "N1")
    eq(frame.password, "02020637", "password")
    eq(frame.operator, "00000001", "operator")
    eq(frame.expiry, (2099, 12, 30, 0, 0, 0), "expiry")
    built = dlt645.build_relay("151230011061", "trip", (2099, 12, 30, 0, 0, 0),
                               password="02020637", operator="00000001")
    eq(built, unhex(RELAY_TRIP_REQ), "build")


def test_vector_relay_ack():
    frame = dlt645.parse_frame(unhex(RELAY_ACK_RSP))
    eq(frame.control, 0x9C, "control")
    eq(frame.data, b"", "data")
    eq(dlt645.build_reply("151230011061", dlt645.RELAY), unhex(RELAY_ACK_RSP), "build")


def test_abnormal_reply_names_bits():
    frame = dlt645.parse_frame(dlt645.build_error_reply("151230011061", dlt645.READ,
                                                        dlt645.ERR_NO_DATA))
    eq(frame.control, 0xD1, "control")
    eq(frame.error_names(), ["no_data"], "names")


def test_bad_checksum_is_protocol_error():
    bad = bytearray(unhex(READ_REQ))
    bad[-2] ^= 1
    err = raises(ProtocolError, dlt645.parse_frame, bad)
    eq(err.offset, 14, "offset")


def test_deframer_finds_frames_in_noise():
    deframer = Deframer()
    stream = b"\x00\x68\xfe\xfe" + unhex(READ_RSP) + b"\x12" + unhex(RELAY_ACK_RSP)
    for byte in stream:
        deframer.feed(bytes((byte,)))
    sizes = []
    size = deframer.next_frame()
    while size:
        sizes.append(dlt645.parse_frame(deframer.buf, deframer.start, size).control)
        size = deframer.next_frame()
    eq(sizes, [0x91, 0x9C], "frames")


def test_deframer_steady_state_allocates_nothing():
    deframer = Deframer()
    rx = bytearray(unhex("fefefefe" + READ_RSP + RELAY_ACK_RSP))
    total = 0
    for _ in range(3):          # warm up: first compaction paths
        deframer.feed(rx)
        while deframer.next_frame():
            total += 1
    micropython.heap_lock()
    try:
        for _ in range(200):
            taken = deframer.feed(rx, len(rx))
            size = deframer.next_frame()
            while size:
                total += 1
                size = deframer.next_frame()
    finally:
        micropython.heap_unlock()
    eq(taken, len(rx), "taken")
    eq(total, 406, "frames")


def test_vector_value_through_catalogue():
    from protocol import dlt645_items as items
    frame = dlt645.parse_frame(unhex(READ_RSP))
    row = items.lookup(frame.di)
    eq(row[items.NAME], "energy_fwd_total", "name")
    value = items.decode(row, frame.payload)
    eq(value, 678, "exact scaled value")
    eq(items.value_text(row, value), "6.78", "text")
    eq(items.find("freeze_daily_energy_fwd:2")[0], 0x05060102, "history DI")


def test_every_catalogue_row_round_trips():
    from protocol import dlt645_items as items
    for row in items.ITEMS:
        fmt = row[items.FMT]
        if fmt == "bits16":
            sample = 0x1234
        elif fmt == "NNNNNNNNNNNN":
            sample = "151230011061"
        elif fmt[0] in "XN":
            sample = -1234 if row[items.SIGNED] else 1234
        else:
            sample = tuple(2024 if fmt[i] == "Y" else 12 for i in range(0, len(fmt), 2))
        value = sample if row[items.COUNT] == 1 else (sample,) * row[items.COUNT]
        eq(items.decode(row, items.encode(row, value)), value, row[items.NAME])


def test_pseudo_random_input_raises_only_protocol_error():
    seed = 12345
    valid = unhex(RELAY_TRIP_REQ)
    for n in range(400):
        raw = bytearray(valid)
        for _ in range(1 + n % 4):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            raw[seed % len(raw)] = (seed >> 8) & 0xFF
        if n % 2:
            raw[-2] = sum(raw[:-2]) & 0xFF          # valid checksum: field decoders run
        if n % 7 == 0:
            raw = raw[:seed % len(raw)]
        try:
            dlt645.parse_frame(raw)
        except ProtocolError:
            pass


def test_describe_runs_on_micropython():
    from protocol.dlt645_describe import describe
    out = describe(dlt645.parse_frame(unhex(READ_RSP)))
    eq((out["item"], out["value"], out["raw_value"]), ("energy_fwd_total", "6.78", 678), "value")
    out = describe(dlt645.parse_frame(unhex(RELAY_TRIP_REQ)))
    eq((out["command_name"], out["expiry"]), ("trip", "2099-12-30 00:00:00"), "relay")


def test_public_1997_vector():
    # Heyuan Intelligence ASDU-LS manual, screen 9-17: B611 read, reply 0100 V (see
    # tests/protocol/test_dlt645_items.py for the full citation).
    from protocol import dlt645_items as items
    reply = dlt645.parse_frame(unhex("6803000000000068810444e93334ec16"))
    eq((reply.version, reply.di), (1997, 0xB611), "1997 DI")
    eq(items.decode(items.lookup_1997(reply.di), reply.payload, 1997), 100, "volts")



def _pump_chunks(deframer, chunks):
    frames = 0
    for chunk in chunks:
        taken = deframer.feed(chunk)
        while deframer.next_frame():
            frames += 1
        if taken < len(chunk):
            raise AssertionError("chunk not taken after draining")
    return frames


def test_deframer_hostile_starts_allocate_nothing():
    # Plausible headers (broadcast address, L = 200) every 10 bytes, refuted only by their
    # checksums, then a real frame: found, each start judged once, without touching the heap.
    hostile = unhex("68AAAAAAAAAAAA6811C8") * 100 + unhex(READ_RSP) + bytes(212)
    chunks = [hostile[i:i + 50] for i in range(0, len(hostile), 50)]
    deframer = Deframer()
    eq(_pump_chunks(deframer, chunks), 1, "frames behind the attack (warm-up)")
    micropython.heap_lock()
    try:
        frames = _pump_chunks(deframer, chunks)
    finally:
        micropython.heap_unlock()
    eq(frames, 1, "frames behind the attack")
    eq(deframer.bad_frames, 200, "starts refuted by their checksum")
