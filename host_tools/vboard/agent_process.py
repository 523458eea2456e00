"""One MicroPython interpreter running the virtual board's agent (agent.py).

A soft reset of the virtual board is a new AgentProcess: a fresh interpreter with a fresh heap,
as on a board. The process dies with its parent (PR_SET_PDEATHSIG), so `kill -9` of the board
server is a power cut for the firmware too.
"""
import ctypes
import json
import os
import platform
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

AGENT_SCRIPT = Path(__file__).resolve().parent / "agent.py"
# Starts the interpreter with the board's ROMFS segment mapped outside its heap (rom_segment.py).
ROM_LAUNCHER = Path(__file__).resolve().parent / "rom_segment.py"
PR_SET_PDEATHSIG = 1
HEADER = struct.Struct("<cI")
# The agent's own code and state live in the heap too (17.6 KB measured after gc.collect() at a
# fresh REPL, the ROMFS segment's vfs module included), where a board's REPL lives in ROM: add
# them so the firmware gets the board's whole budget.
AGENT_HEAP_KB = 18

# Where a Ctrl-C may land. The unix port raises KeyboardInterrupt straight from its SIGINT
# handler (MICROPY_ASYNC_KBD_INTR, on in its standard variant) wherever the interpreter is, even
# inside the garbage collector, which then stays locked: "MemoryError: heap is locked", or an
# interpreter that dies silently or hangs (the firmware, hit while it booted, did both). A board
# raises it between bytecodes. So the signal is delivered only while the interpreter waits in
# one of these system calls, where nothing is half done (the firmware's kernel and the agent
# both wait in poll). Measured on a loop that allocates and polls now and then, with SIGINTs
# every 2-20 ms: all 20 runs ended in the locked heap before, none of 20 (2000 interrupts)
# with this rule.
WAIT_SYSCALLS = {
    "x86_64": {7, 23, 35, 230, 232, 270, 271, 281},   # poll select nanosleep clock_nanosleep
                                                     # epoll_wait pselect6 ppoll epoll_pwait
    "aarch64": {22, 72, 73, 101, 115},   # epoll_pwait pselect6 ppoll nanosleep clock_nanosleep
}.get(platform.machine())   # elsewhere: sent at once, as the unix port expects
STOP_WAIT = 0.5   # seconds for SIGSTOP to take effect (a process in disk I/O stops after it)

# Message kinds (see agent.py).
EXEC_RAW = b"x"
EXEC_SINGLE = b"s"
BOOT = b"b"
QUIT = b"q"
READY = b"R"
BUSY = b"B"
DONE = b"D"


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class AgentProcess:
    """Spawn the agent; the owner polls `stdout_fd` and `event_fd` and calls `read_events()`."""

    def __init__(self, images, heap_kb, buses, modem, clock=None):
        self.heap_kb = heap_kb
        cmd_read, self._cmd_write = os.pipe()
        self._evt_read, evt_write = os.pipe()
        config = {
            "cmd_fd": cmd_read, "evt_fd": evt_write,
            "root_image": str(images.root), "root_blocks": images.root_blocks,
            "rom_image": str(images.rom),
            "block_size": images.root_block_size,
            "data_image": str(images.data), "data_label": images.data.name,
            "image_dir": str(images.directory),
            "buses": {str(k): v for k, v in buses.items()}, "modem": modem, "heap_kb": heap_kb,
            "clock": clock,         # {"file", "until_ms"}: the fast clock (agent.py)
        }
        env = dict(os.environ)
        env["CONC_VBOARD"] = json.dumps(config)
        env.pop("MICROPYPATH", None)
        self.process = subprocess.Popen(
            [sys.executable, str(ROM_LAUNCHER), "-X", "heapsize=%dK" % (heap_kb + AGENT_HEAP_KB),
             str(AGENT_SCRIPT)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(cmd_read, evt_write), env=env, preexec_fn=_die_with_parent,
            cwd=str(images.directory))
        os.close(cmd_read)
        os.close(evt_write)
        self.stdout_fd = self.process.stdout.fileno()  # pyright: ignore[reportOptionalMemberAccess] - started with a stdout pipe
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

    def interrupt(self, anywhere=False):
        """Ctrl-C: SIGINT, which the unix port turns into KeyboardInterrupt.

        Sent only while the interpreter waits in a system call (WAIT_SYSCALLS), unless
        `anywhere`: returns True when sent, None when it was busy elsewhere (try again soon),
        False when it is not running. Only once `ready`: before the interpreter has installed
        its handler, SIGINT would kill it."""
        if not self.ready or self.process.poll() is not None:
            return False
        pid = self.process.pid
        if anywhere or WAIT_SYSCALLS is None:
            os.kill(pid, signal.SIGINT)
            return True
        # Stopped, it cannot leave the system call between the look and the signal.
        os.kill(pid, signal.SIGSTOP)
        try:
            syscall = _stopped_syscall(pid)
            if syscall is False:
                return False
            if syscall is not None and syscall not in WAIT_SYSCALLS:
                return None
            os.kill(pid, signal.SIGINT)   # delivered when it continues: the wait returns EINTR
            return True
        finally:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

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
        self.process.stdout.close()  # pyright: ignore[reportOptionalMemberAccess] - started with a stdout pipe
        return self.process.returncode


def _stopped_syscall(pid):
    """The number of the system call a stopped process sits in: -1 when it was stopped outside
    one (or did not stop within STOP_WAIT), False when it has exited, None when the system
    does not say (/proc/PID/syscall needs ptrace rights, which a hardened kernel may refuse)."""
    deadline = time.monotonic() + STOP_WAIT
    try:
        while True:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rpartition(")")[2].split()[0]
            if state in ("Z", "X"):
                return False
            if state in ("T", "t"):
                break
            if time.monotonic() > deadline:
                return -1
        with open("/proc/%d/syscall" % pid) as f:
            return int(f.read().split()[0])
    except FileNotFoundError:
        return False
    except PermissionError:
        return None
    except ValueError:   # "running": not stopped in the kernel after all
        return -1
