"""The virtual board's serial HAL under the real MicroPython, against a pty driven from here."""
import os
import pty
import shutil
import subprocess
import sys
import time
import tty

import pytest

from tests import micropython
from tests.waiting import wait_for

SCRIPT = r"""
import select, time
from firmware.hal.serial_tty import TtyPort
port = TtyPort(%(path)r, 2400, "E", echo=%(echo)r)
buf = bytearray(64)
print("empty", port.readinto(buf))
port.write(b"\x68request\x16")
p = select.poll()
p.register(port.pollable, select.POLLIN)
got = b""
deadline = time.ticks_add(time.ticks_ms(), 3000)
while b"!" not in got and time.ticks_diff(deadline, time.ticks_ms()) > 0:
    p.poll(100)
    n = port.readinto(buf)
    got += bytes(buf[:n])
print("got", got)
print("char_us", port.char_us)
"""


def run_against_pty(echo, reply):
    master, slave = pty.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    micropython.ensure_build()
    env = dict(os.environ, MICROPYPATH=str(micropython.BUILD))
    proc = subprocess.Popen([micropython.micropython_path(), "-c",
                             SCRIPT % {"path": path, "echo": echo}],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        received = b""
        deadline = time.monotonic() + 5
        while b"\x16" not in received and time.monotonic() < deadline:
            received += os.read(master, 64)
        os.write(master, reply)
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
        os.close(master)
        os.close(slave)
    return received, out


def test_request_goes_out_and_reply_comes_back():
    received, out = run_against_pty(False, b"reply!")
    assert received == b"\x68request\x16"
    assert "empty 0" in out          # a read with nothing waiting returns at once
    assert "got b'reply!'" in out
    assert "char_us 4583" in out     # 11 bits at 2400 baud


def test_adapter_echo_is_discarded():
    # An echoing adapter returns our own request first, then the meter's reply.
    received, out = run_against_pty(True, b"\x68request\x16reply!")
    assert "got b'reply!'" in out, out


# -- any tty: a socat pty pair, a meter served on it by another program (issue 16)

SOCAT_SCRIPT = r"""
import select, time
from firmware.hal.serial_tty import TtyPort
from protocol import dlt645
from protocol.dlt645_deframer import Deframer

def read_energy(port):
    port.write(dlt645.build_read("000000000001", 0x00010000, preamble=4))
    p = select.poll()
    p.register(port.pollable, select.POLLIN)
    deframer = Deframer()
    buf = bytearray(64)
    deadline = time.ticks_add(time.ticks_ms(), 5000)
    while time.ticks_diff(deadline, time.ticks_ms()) > 0:
        p.poll(50)
        n = port.readinto(buf)
        deframer.feed(buf, n)
        size = deframer.next_frame()
        if size:
            return dlt645.parse_frame(deframer.buf, deframer.start, size)
    return None

# Opened twice at the same 8E1 setting, as the firmware does after a restart: the second
# tcsetattr changes nothing but PARENB, which a Linux pty refuses unless the speed changes.
for attempt in range(2):
    port = TtyPort(%(path)r, 2400, "E")
    frame = read_energy(port)
    print("reply", attempt, frame.address if frame else None, frame.di if frame else None)
    port.close()
"""


@pytest.fixture
def socat_pair(tmp_path):
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (Debian package socat: make install adds it)")
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    proc = subprocess.Popen(["socat", "pty,raw,echo=0,link=%s" % a, "pty,raw,echo=0,link=%s" % b],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for("socat's two ptys", lambda: a.exists() and b.exists(), 10)
        yield str(a), str(b)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_firmware_reads_a_meter_served_by_another_program_on_a_socat_pair(socat_pair):
    firmware_end, meter_end = socat_pair
    sim = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "sim", "meters", "--port",
                            meter_end, "--baud", "2400", "--parity", "e"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sim.stdout.readline().strip() == meter_end        # serving, on the given port
        micropython.ensure_build()
        env = dict(os.environ, MICROPYPATH=str(micropython.BUILD))
        out = subprocess.run([micropython.micropython_path(), "-c",
                              SOCAT_SCRIPT % {"path": firmware_end}],
                             capture_output=True, text=True, env=env, timeout=60)
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    assert "reply 0 000000000001 65536" in out.stdout, out.stdout + out.stderr
    assert "reply 1 000000000001 65536" in out.stdout, out.stdout + out.stderr
