"""The simulator as a library: meters on a pty served from a thread, read by a plain client.

Captured frames come from /work/shared/vectors/dlt645_examples.tsv (meter 151230011061).
"""
import time
from datetime import datetime, timedelta

import pytest

from host_tools.simulators.meter_bus import MeterSimulator
from protocol import dlt645, dlt645_items, modbus
from protocol.dlt645_deframer import Deframer
from protocol.errors import ProtocolError
from tests.sim.sim_support import BusClient

BAUD = 115200
VECTOR_READ_REQ = bytes.fromhex("68611001301215681104333334337b16")
VECTOR_READ_RSP = bytes.fromhex("6861100130121568910833333433ab3933334916")
VECTOR_RELAY_TRIP = bytes.fromhex(
    "68611001301215681c10356a3935343333334d333333336345cc2c16")
VECTOR_RELAY_ACK = bytes.fromhex("68611001301215689c003516")


@pytest.fixture
def bus():
    """bus(meters, **bus_keys) -> (simulator, client); both closed after the test."""
    opened = []

    def start(meters, **bus_keys):
        bus_keys.setdefault("baud", BAUD)
        bus_keys.setdefault("turnaround_ms", 1)
        sim = MeterSimulator.from_dict({"bus": bus_keys, "meters": meters}).start()
        client = BusClient(sim.device_path, BAUD)
        opened.append((sim, client))
        return sim, client

    yield start
    for sim, client in opened:
        client.close()
        sim.stop()
        assert sim.error is None and sim.failed_requests == []


def decoded(frame, version=2007):
    row = dlt645_items.lookup_1997(frame.di) if version == 1997 else dlt645_items.lookup(frame.di)
    return dlt645_items.decode(row, frame.payload, version)


def test_captured_read_gets_the_captured_reply(bus):
    sim, client = bus([{"address": "151230011061", "energy_kwh": 6.78, "base_load_kw": 0}])
    reply, _ = client.exchange(VECTOR_READ_REQ)
    assert reply == VECTOR_READ_RSP


def test_each_protocol_reads_what_the_meter_holds(bus):
    sim, client = bus([
        {"protocol": "dlt645", "address": "1", "energy_kwh": 1234.56, "phases": 3},
        {"protocol": "dlt645-1997", "address": "2", "energy_kwh": 88.5},
        {"protocol": "modbus", "address": 3, "energy_kwh": 4321.25},
    ])
    m2007, m1997, mbus = (sim.meter("1").model, sim.meter("2").model, sim.meter(3).model)

    frame = client.read_645("000000000001", 0x0001FF00)
    assert decoded(frame) == m2007.last_served["0001FF00"]
    total, *tariffs = decoded(frame)
    assert total == 123456 and sum(tariffs) == pytest.approx(total, abs=4)
    frame = client.read_645("000000000001", 0x020101FF)
    volts = decoded(frame)
    assert volts == m2007.last_served["020101FF"] and all(2000 < v < 2400 for v in volts)
    frame = client.read_645("000000000001", 0x04000401)
    assert decoded(frame) == "000000000001"

    frame = client.read_1997("000000000002", 0x9010)
    assert frame.version == 1997 and decoded(frame, 1997) == 8850
    frame = client.read_1997("000000000002", 0xB611)
    assert decoded(frame, 1997) == m1997.last_served["B611"]     # whole volts in 1997

    reply = client.read_input(3, 0x0048, 2)
    assert reply.scaled(0, "float32", 2) == 432125 == mbus.last_served["energy_fwd_total"]
    reply = client.read_input(3, 0x0000, 14)                     # voltage .. power in one read
    assert reply.scaled(0, "float32", 1) == mbus.last_served["voltage_a"]
    assert reply.scaled(12, "float32", 1) == mbus.last_served["power_active_total"]  # W = kW x 10**-3


def test_meter_without_block_support_says_no_data_and_serves_singles(bus):
    sim, client = bus([{"address": "7", "supports_blocks": False}])
    frame = client.read_645("000000000007", 0x0001FF00)
    assert frame.abnormal and frame.error_names() == ["no_data"]
    frame = client.read_645("000000000007", 0x00010100)
    assert not frame.abnormal and decoded(frame) is not None


def test_unknown_di_and_1997_di_on_2007_meter(bus):
    sim, client = bus([{"address": "7"}, {"protocol": "dlt645-1997", "address": "8"}])
    frame = client.read_645("000000000007", 0x12345678)
    assert frame.error_names() == ["no_data"]
    follow = dlt645.parse_frame(client.exchange(dlt645.build_read_follow("7", 0x00010000, 1))[0])
    assert follow.control == 0xD2 and follow.error_names() == ["no_data"]
    assert client.exchange(dlt645.build_read_1997("000000000007", 0x9010), timeout=0.1)[0] == b""
    assert client.exchange(dlt645.build_read("000000000008", 0x00010000), timeout=0.1)[0] == b""
    frame = client.read_1997("000000000008", 0x1234)
    assert frame.abnormal and frame.error_names() == ["wrong_di"]    # 1997's "no such DI"


def test_energy_accumulates_and_freezes_at_midnight_on_accelerated_time(bus):
    sim, client = bus([{"address": "1", "energy_kwh": 500, "base_load_kw": 3.6,
                        "shape": "flat"}],
                      start="2026-03-01T23:58:00", speed=600)
    first = decoded(client.read_645("000000000001", 0x00010000))
    while sim.clock.now() < datetime(2026, 3, 2, 0, 0, 30):    # 150 simulated s: 0.25 s
        time.sleep(0.02)
    frame = client.read_645("000000000001", 0x05060001)
    assert decoded(frame) == (2026, 3, 2, 0, 0)
    model = sim.meter("1").model
    frozen = decoded(client.read_645("000000000001", 0x05060101))
    assert frozen == tuple(int(x * 100) for x in model.frozen_day(1).forward_kwh)
    assert 50000 <= frozen[0] <= 50000 + 12           # 2 min at 3.6 kW = 0.12 kWh
    assert client.read_645("000000000001", 0x05060102).error_names() == ["no_data"]
    time.sleep(0.1)
    later = decoded(client.read_645("000000000001", 0x00010000))
    assert later > frozen[0] and later > first        # counting on after the freeze


def test_relay_trip_from_captured_frame_stops_energy(bus):
    sim, client = bus([{"address": "151230011061", "password": "02020637", "shape": "flat",
                        "base_load_kw": 36, "energy_kwh": 10}], speed=1000)
    model = sim.meter("151230011061").model
    reply, _ = client.exchange(VECTOR_RELAY_TRIP)
    assert reply == VECTOR_RELAY_ACK
    assert model.relay_open
    status = decoded(client.read_645("151230011061", 0x04000503))
    assert status & dlt645_items.STATUS3_RELAY_OPEN and status & dlt645_items.STATUS3_RELAY_COMMAND
    frozen_energy = decoded(client.read_645("151230011061", 0x00010000))
    time.sleep(0.1)                                   # 100 simulated s at 36 kW would be 1 kWh
    assert decoded(client.read_645("151230011061", 0x00010000)) == frozen_energy
    assert decoded(client.read_645("151230011061", 0x02020100)) == 0

    close = dlt645.build_relay("151230011061", "direct_close", (2099, 12, 30, 0, 0, 0),
                               password="02020637")
    assert dlt645.parse_frame(client.exchange(close)[0]).control == 0x9C
    time.sleep(0.1)
    assert decoded(client.read_645("151230011061", 0x00010000)) > frozen_energy


def test_relay_checks_password_and_expiry(bus):
    sim, client = bus([{"address": "5"}], start="2026-03-01T12:00:00")
    wrong = dlt645.build_relay("000000000005", "trip", (2099, 1, 1, 0, 0, 0), password="02123456")
    frame = dlt645.parse_frame(client.exchange(wrong)[0])
    assert frame.control == 0xDC and frame.error_names() == ["unauthorized"]
    expired = dlt645.build_relay("000000000005", "trip", (2026, 3, 1, 11, 0, 0))
    assert dlt645.parse_frame(client.exchange(expired)[0]).error_names() == ["other"]
    assert not sim.meter("5").model.relay_open


def test_broadcast_time_sets_every_clock_without_reply(bus):
    sim, client = bus([{"address": "1", "clock_offset_s": 400, "drift_ppm": 50},
                       {"protocol": "dlt645-1997", "address": "2", "clock_offset_s": -300}],
                      start="2026-03-01T10:00:00")
    meter_time = decoded(client.read_645("000000000001", 0x04000102))
    assert meter_time[:2] == (10, 6)                  # 400 s fast
    now = sim.clock.now().replace(microsecond=0)
    request = dlt645.build_broadcast_time(now.timetuple()[:6])
    reply, _ = client.exchange(request, timeout=0.15)
    assert reply == b""
    for meter in sim.meters:
        assert abs(meter.model.clock_error_s()) < 2
        assert meter.model.broadcast_times == 1
    date = decoded(client.read_1997("000000000002", 0xC010), 1997)
    assert date[:3] == (2026, 3, 1)


def test_write_time_to_one_meter(bus):
    sim, client = bus([{"address": "1", "clock_offset_s": -1000}], start="2026-03-01T10:00:00")
    now = sim.clock.now()
    value = dlt645_items.encode(dlt645_items.lookup(0x04000102), (now.hour, now.minute, now.second))
    frame = dlt645.parse_frame(client.exchange(dlt645.build_write("1", 0x04000102, value))[0])
    assert frame.control == 0x94
    assert abs(sim.meter("1").model.clock_error_s()) < 3


def test_read_address_of_a_lone_meter_and_collision_of_two(bus):
    sim, client = bus([{"address": "151230011061"}, {"protocol": "modbus", "address": 1}])
    frame = dlt645.parse_frame(client.exchange(dlt645.build_read_address())[0])
    assert frame.meter_address == "151230011061"
    sim2, client2 = bus([{"address": "151230011061"}, {"address": "151230011062"}])
    garbled, _ = client2.exchange(dlt645.build_read_address())
    assert garbled
    with pytest.raises(ProtocolError):
        dlt645.parse_frame(garbled)
    assert sim2.collisions == 1


FAULT_METERS = [
    {"address": "1", "faults": {"no_reply_pct": 100}},
    {"address": "2", "faults": {"bad_checksum_pct": 100}},
    {"address": "3", "faults": {"slow_reply_ms": 150}},
    {"address": "4", "faults": {"garbage_pct": 100}},
    {"address": "5", "faults": {"garbage_pct": 100, "garbage_mode": "prefix"}},
    {"address": "6", "faults": {"wrong_address_pct": 100}},
    {"address": "7", "faults": {"stuck": True}, "base_load_kw": 36, "shape": "flat"},
    {"protocol": "modbus", "address": 8, "faults": {"bad_checksum_pct": 100}},
    {"protocol": "modbus", "address": 9, "faults": {"wrong_address_pct": 100}},
    {"address": "10", "faults": {"no_reply_pct": 50}},
]


def test_every_fault_kind_is_seen_by_a_client(bus):
    sim, client = bus(FAULT_METERS, speed=1000, seed=3)

    def read(address, timeout=0.3, quiet=0.03):
        return client.exchange(dlt645.build_read(address, 0x00010000), timeout, quiet)

    assert read("1") == (b"", None)
    reply, _ = read("2")
    with pytest.raises(ProtocolError, match="checksum"):
        dlt645.parse_frame(reply)
    reply, latency = read("3")
    assert dlt645.parse_frame(reply).address == "000000000003" and latency >= 0.15
    fast, fast_latency = read("6")
    assert fast_latency < latency
    reply, _ = read("4")
    deframer = Deframer()
    deframer.feed(reply)
    assert reply and deframer.next_frame() == 0       # nothing but junk
    reply, _ = read("5")
    deframer = Deframer()
    deframer.feed(reply)
    size = deframer.next_frame()
    assert size and deframer.start > 0                # junk, then the real reply
    assert dlt645.parse_frame(deframer.buf, deframer.start, size).address == "000000000005"
    assert dlt645.parse_frame(fast).address == "000000000007"   # meter 6 answers as 7
    first = dlt645.parse_frame(read("7")[0]).payload
    time.sleep(0.1)                                   # 100 s at 36 kW: 1 kWh if it counted
    assert dlt645.parse_frame(read("7")[0]).payload == first

    reply, _ = client.exchange(modbus.read_request(8, 4, 0x48, 2))
    assert reply and not modbus.crc_ok(reply)
    reply, _ = client.exchange(modbus.read_request(9, 4, 0x48, 2))
    assert modbus.parse_reply(reply).unit == 10

    answered = sum(1 for _ in range(30) if read("10", 0.05, 0.01)[0])
    assert 5 <= answered <= 25                        # seeded: repeatable, but about half
    counts = {m.address: m.faults.counts for m in sim.meters}
    assert counts["000000000001"]["no_reply"] == 1
    assert counts["000000000002"]["bad_checksum"] == 1
    assert counts["000000000003"]["slow_reply"] == 1
    assert counts["000000000004"]["garbage"] == 1
    assert counts["000000000006"]["wrong_address"] == 1
    assert counts["000000000007"]["stuck"] == 2
    assert counts["000000000010"]["no_reply"] == 30 - answered


def test_modbus_exceptions_and_broadcast(bus):
    sim, client = bus([{"protocol": "modbus", "address": 4, "phases": 3}])
    assert client.read_input(4, 0x2000, 2).exception == 2
    assert client.read_input(4, 0x0000, 100).exception == 3
    reply, _ = client.exchange(modbus.write_single_request(4, 20, 5))
    assert modbus.parse_reply(reply).exception == 1
    unknown = bytes((4, 0x11))
    crc = modbus.crc16(unknown)
    reply, _ = client.exchange(unknown + bytes((crc & 0xFF, crc >> 8)))
    assert modbus.parse_reply(reply).exception == 1   # cut out by silence, then refused
    zero_count = bytes((4, 4, 0, 0, 0, 0))
    crc = modbus.crc16(zero_count)
    reply, _ = client.exchange(zero_count + bytes((crc & 0xFF, crc >> 8)))
    assert modbus.parse_reply(reply).exception == 3   # illegal data value
    holding = client.read_input(4, 20, 2, function=3)
    assert holding.value(0, "float32") == 4.0        # SDM: its own unit id
    assert client.exchange(modbus.read_request(7, 4, 0, 2), timeout=0.1)[0] == b""
    assert sim.unanswered == 1


def test_line_noise_before_a_request_is_skipped(bus):
    sim, client = bus([{"address": "1"}, {"protocol": "modbus", "address": 2}])
    frame = dlt645.parse_frame(client.exchange(b"\x00\x13\xff" + dlt645.build_read(
        "1", 0x00010000, preamble=4))[0])
    assert frame.di == 0x00010000
    reply, _ = client.exchange(b"\x68\x01" + modbus.read_request(2, 4, 0, 2))
    assert modbus.parse_reply(reply).unit == 2
    assert sim.noise_bytes >= 3


def test_models_are_exposed_for_comparison(bus):
    start = datetime(2026, 6, 1, 8, 0)
    sim, client = bus([{"address": "1"}, {"protocol": "modbus", "address": 2}],
                      start=start.isoformat())
    assert [m.protocol for m in sim.models] == ["dlt645", "modbus"]
    assert sim.clock.now() - start < timedelta(seconds=5)
    with pytest.raises(KeyError):
        sim.meter("99")


def test_the_pty_keeps_the_speed_its_client_set(bus):
    """The simulator no longer parks its pty at 50 baud while idle (which hid the pty's parity
    quirk from clients): what a client sets stays, so clients meet the tty as it is
    (firmware/hal/serial_tty.py copes; see docs/meter-simulator.md)."""
    import termios

    import serial
    sim, client = bus([{"address": "1"}])
    client.close()
    reopened = serial.Serial(sim.device_path, BAUD, parity="N", timeout=0)
    try:
        wanted = termios.tcgetattr(reopened.fileno())[4]
        assert sim.line.read(0.01) == b""          # an idle read: where the re-arm used to be
        assert termios.tcgetattr(reopened.fileno())[4] == wanted != termios.B50
    finally:
        reopened.close()
    client.serial.open()

