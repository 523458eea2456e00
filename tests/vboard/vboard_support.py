"""Test helpers for the virtual board: start `conc board run` as users do, talk to its pty.

`VirtualBoard` runs the real command in a subprocess; `Console` is a raw byte-level view of
its serial port (pyserial, as mpremote uses) for protocol tests; `mpremote()` runs the real
mpremote command line against it.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import serial

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


class VirtualBoard:
    def __init__(self, image_dir, *extra_args, env=None):
        self.image_dir = Path(image_dir)
        self.env = env or {}
        self.extra_args = list(extra_args)
        self.process = None
        self.port = None

    def start(self):
        env = dict(os.environ)
        env.pop("CONC_PORT", None)
        env.update(self.env)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "host_tools.cli", "board", "run", "--json",
             "--image", str(self.image_dir)] + self.extra_args,
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("conc board run failed: %s" % self.process.stderr.read().decode())
        self.port = json.loads(line)["port"]
        return self

    def stop(self):
        """SIGTERM, as a user's Ctrl-C; returns the exit code."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.process.stdout.close()
            self.process.stderr.close()
        return self.process.returncode

    def power_cut(self):
        """kill -9 of the board process: the firmware dies with it."""
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def mpremote(port, *args, timeout=30, check=True):
    """Run the real mpremote CLI: `mpremote connect PORT ARGS...`; return the CompletedProcess."""
    proc = subprocess.run([str(BIN / "mpremote"), "connect", port] + list(args),
                          capture_output=True, timeout=timeout)
    if check and proc.returncode:
        raise AssertionError("mpremote %s failed (%d): %s %s" % (
            " ".join(args), proc.returncode, proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace")))
    return proc


class Console:
    """The board's serial port, byte by byte."""

    def __init__(self, port):
        self.serial = serial.Serial(port, 115200, timeout=0.05)

    def write(self, data):
        self.serial.write(data)

    def read_until(self, ending, timeout=10):
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(ending):
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %r; got %r" % (ending, data))
            data += self.serial.read(1)
        return data

    def drain(self, quiet=0.2):
        """Read until the board has been quiet for `quiet` seconds."""
        data = b""
        while True:
            chunk = self.serial.read(4096) if self.serial.in_waiting else b""
            if not chunk:
                time.sleep(quiet)       # quiet is the condition: a silent spell of this length
                if not self.serial.in_waiting:
                    return data
                continue
            data += chunk

    def friendly(self):
        """Stop whatever runs and get a fresh friendly prompt."""
        self.write(b"\r\x03\x02")
        out = self.read_until(b"for more information.\r\n>>> ")
        out += self.drain(0.1)
        assert out.endswith(b">>> "), out
        return out

    def raw(self):
        self.write(b"\r\x03\x01")
        out = self.read_until(b"raw REPL; CTRL-B to exit\r\n>")
        out += self.drain(0.1)
        assert out.endswith(b"raw REPL; CTRL-B to exit\r\n>"), out

    def raw_exec(self, code, timeout=10):
        """Plain raw REPL (no raw-paste): returns (output, error)."""
        self.write(code.encode() + b"\x04")
        self.read_until(b"OK")
        out = self.read_until(b"\x04", timeout)[:-1]
        err = self.read_until(b"\x04", timeout)[:-1]
        self.read_until(b">")
        return out, err

    def close(self):
        self.serial.close()
