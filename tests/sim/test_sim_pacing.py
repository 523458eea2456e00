"""Bus time is real: bytes leave at the baud rate (11 bits a byte at 8E1) after the turnaround.

The one test in the suite that runs a meter at 2400 baud: the request and reply of a
DL/T 645 read take 36 bytes x 4.58 ms + 30 ms turnaround = 195 ms, and no client can see the
reply sooner. The upper tolerance only guards against a simulator that stalls.
"""
import time

from host_tools.simulators.meter_bus import MeterSimulator
from host_tools.simulators.serial_line import WireFormat
from protocol import dlt645
from tests.sim.sim_support import BusClient


def test_bits_per_character():
    assert WireFormat(2400, "E").bits_per_char == 11
    assert WireFormat(9600, "N").bits_per_char == 10
    assert abs(WireFormat(2400, "E").char_time - 11 / 2400) < 1e-12


def test_reply_is_paced_at_2400_baud_8e1():
    sim = MeterSimulator.from_dict({"bus": {"baud": 2400, "parity": "E", "turnaround_ms": 30},
                                    "meters": [{"address": "1"}]}).start()
    client = BusClient(sim.device_path, 2400)
    try:
        char = 11 / 2400.0
        request = dlt645.build_read("1", 0x00010000)
        arrivals = []
        ser = client.serial
        started = time.monotonic()
        ser.write(request)
        got = bytearray()
        while len(got) < 20 and time.monotonic() - started < 2:
            waiting = ser.in_waiting
            if waiting:
                got += ser.read(waiting)
                arrivals.extend([time.monotonic() - started] * waiting)
            else:
                time.sleep(0.0005)
        assert dlt645.parse_frame(bytes(got)).di == 0x00010000
        expected_end = len(request) * char + 0.030 + len(got) * char
        # Neither bound depends on how promptly this client reads: the first reply byte
        # cannot come before the request and the turnaround are over, and the last not before
        # all 20 reply bytes have had their time on the wire (a burst would arrive 87 ms early).
        assert arrivals[0] >= 0.97 * (len(request) * char + 0.030 + char)
        assert arrivals[-1] >= 0.97 * expected_end
        assert arrivals[-1] <= expected_end + 0.25      # only a stalled simulator is slower
        assert abs(sim.bus_busy_s - 36 * char) < 1e-6
    finally:
        client.close()
        sim.stop()
