"""One MicroPython interpreter running the virtual board's agent (agent.py).

A soft reset of the virtual board is a new AgentProcess: a fresh interpreter with a fresh heap,
as on a board. The process dies with its parent (PR_SET_PDEATHSIG), so `kill -9` of the board
server is a power cut for the firmware too.
"""
import ctypes
import json
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

AGENT_SCRIPT = Path(__file__).resolve().parent / "agent.py"
PR_SET_PDEATHSIG = 1
HEADER = struct.Struct("<cI")
# The agent's own code and state live in the heap too (about 10 KB measured after gc.collect()),
# where a board's REPL lives in ROM: add them so the firmware gets the board's whole budget.
AGENT_HEAP_KB = 12

# Message kinds (see agent.py).
EXEC_RAW = b"x"
EXEC_SINGLE = b"s"
BOOT = b"b"
QUIT = b"q"
READY = b"R"
BUSY = b"B"
DONE = b"D"


def micropython_path():
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    from shutil import which
    found = which("micropython")
    if not found:
        raise FileNotFoundError("the micropython command is missing: run `make install`")
    return found


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class AgentProcess:
    """Spawn the agent; the owner polls `stdout_fd` and `event_fd` and calls `read_events()`."""

    def __init__(self, images, heap_kb, buses, modem):
        self.heap_kb = heap_kb
        cmd_read, self._cmd_write = os.pipe()
        self._evt_read, evt_write = os.pipe()
        config = {
            "cmd_fd": cmd_read, "evt_fd": evt_write,
            "root_image": str(images.root), "root_blocks": images.root_blocks,
            "block_size": images.root_block_size,
            "data_image": str(images.data), "data_label": images.data.name,
            "image_dir": str(images.directory),
            "buses": {str(k): v for k, v in buses.items()}, "modem": modem, "heap_kb": heap_kb,
        }
        env = dict(os.environ)
        env["CONC_VBOARD"] = json.dumps(config)
        env.pop("MICROPYPATH", None)
        self.process = subprocess.Popen(
            [micropython_path(), "-X", "heapsize=%dK" % (heap_kb + AGENT_HEAP_KB), str(AGENT_SCRIPT)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(cmd_read, evt_write), env=env, preexec_fn=_die_with_parent,
            cwd=str(images.directory))
        os.close(cmd_read)
        os.close(evt_write)
        self.stdout_fd = self.process.stdout.fileno()
        self.event_fd = self._evt_read
        os.set_blocking(self.stdout_fd, False)
        os.set_blocking(self.event_fd, False)
        self._events = b""
        self.ready = False

    @property
    def pid(self):
        return self.process.pid

    def send(self, kind, payload=b""):
        data = HEADER.pack(kind, len(payload)) + payload
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._cmd_write, view)
            except BrokenPipeError:
                return False
            view = view[written:]
        return True

    def read_output(self):
        """Everything the interpreter has printed so far (b"" if nothing)."""
        chunks = []
        while True:
            try:
                chunk = os.read(self.stdout_fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def read_events(self):
        """Complete (kind, payload) messages received; None at the end means the pipe closed."""
        closed = False
        while True:
            try:
                chunk = os.read(self.event_fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                closed = True
                break
            self._events += chunk
        events = []
        while len(self._events) >= HEADER.size:
            kind, length = HEADER.unpack_from(self._events)
            if len(self._events) < HEADER.size + length:
                break
            events.append((kind, self._events[HEADER.size:HEADER.size + length]))
            self._events = self._events[HEADER.size + length:]
        if closed:
            events.append(None)
        return events

    def interrupt(self):
        """Ctrl-C: the unix port raises KeyboardInterrupt on SIGINT. Only once `ready`: before the
        interpreter has installed its handler, SIGINT would kill it."""
        if self.ready and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            return True
        return False

    def stop(self, graceful=True, timeout=2.0):
        """End the interpreter: a clean unmount when idle (`graceful`), else a power cut."""
        if self.process.poll() is None:
            if graceful and self.send(QUIT):
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        for fd in (self._cmd_write, self._evt_read):
            try:
                os.close(fd)
            except OSError:
                pass
        self.process.stdout.close()
        return self.process.returncode

