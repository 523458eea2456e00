"""The virtual board's serial HAL under the real MicroPython, against a pty driven from here."""
import os
import pty
import subprocess
import time
import tty

from tests import micropython

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
