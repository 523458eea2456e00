"""The virtual board's host side: a pty that behaves like a board's USB serial port.

One event loop moves bytes between the pty, the REPL state machine (repl.py) and the
MicroPython agent process (agent_process.py). Output to the pty is queued without blocking the
board: with a reader attached it is delivered in order; with nobody reading, the oldest output
is dropped past a limit, as a board's USB CDC drops what no host collects.
"""
import errno
import json
import os
import selectors
import signal
import sys
import termios
import time
import tty

from host_tools.vboard import agent_process
from host_tools.vboard.agent_process import AgentProcess
from host_tools.vboard.repl import ReplMachine

OUTPUT_LIMIT = 4 * 1024 * 1024
# A Ctrl-C that follows another for the same command waits INTERRUPT_GAP, and is dropped when
# that command has ended meanwhile: the second Ctrl-C is only for a program that swallowed the
# first, and one that lands while the firmware handles the first interrupts its orderly stop (it
# writes a stop marker). Ctrl-Cs for different commands are only kept COMMAND_GAP apart.
# The gap stays well under a second: a client such as mpremote enters the raw REPL right after
# its Ctrl-C, and a second Ctrl-C held back longer lands in that exchange and breaks it.
INTERRUPT_GAP = 0.5
COMMAND_GAP = 0.05
# A Ctrl-C waits for the interpreter to wait (AgentProcess.interrupt), looking every
# SAFE_POINT_POLL; after SAFE_POINT_WAIT it is sent wherever the program is, so that a program
# that never waits (`while True: pass`) can still be stopped. The firmware reaches a wait in
# well under that: 0.14 s at most over 12 runs of the USB tests (Ctrl-Cs while it boots).
SAFE_POINT_POLL = 0.002
SAFE_POINT_WAIT = 2.0


class AgentStartError(Exception):
    pass


class VirtualBoardServer:
    """Serve a virtual board on a new pty until `stop()` (or SIGINT/SIGTERM in `serve()`)."""

    def __init__(self, images, heap_kb, buses=None, modem=None, log=None, clock=None):
        self.images = images
        self.clock = clock
        self.heap_kb = heap_kb
        self.buses = dict(buses or {})
        self.modem = modem
        self.log = log or (lambda message: print(message, file=sys.stderr))
        self.master_fd, self.slave_fd = os.openpty()
        # Raw: no OPOST (\n must not become \r\n twice), no echo, no signals, no line editing.
        tty.setraw(self.slave_fd, termios.TCSANOW)
        os.set_blocking(self.master_fd, False)
        self.port = os.ttyname(self.slave_fd)
        self.repl = ReplMachine(self)
        self.agent = None
        self.pending_out = bytearray()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.master_fd, selectors.EVENT_READ, "pty")
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.selector.register(self._wake_read, selectors.EVENT_READ, "wake")
        self.stopping = False
        self.restarts = 0
        self._commands = 0          # commands the agent has started ('B'), to tell them apart
        self._last_interrupt = 0.0
        self._last_for = -1         # the command the last Ctrl-C went to
        self._owed = 0              # Ctrl-Cs asked for and not sent yet, all for one command:
        self._owed_for = None       # this one
        self._owed_since = None     # when the next one started waiting for a safe point
        self._next_attempt = None   # when to try to send it again (monotonic)

    # ----- the board interface used by ReplMachine

    def out(self, data):
        if not data:
            return
        was_empty = not self.pending_out
        self.pending_out += data
        if len(self.pending_out) > OUTPUT_LIMIT:
            del self.pending_out[:len(self.pending_out) - OUTPUT_LIMIT]
        self._flush_out()
        if was_empty and self.pending_out:
            self.selector.modify(self.master_fd, selectors.EVENT_READ | selectors.EVENT_WRITE,
                                 "pty")

    def execute(self, kind, source):
        self.agent.send(kind, source)  # pyright: ignore[reportOptionalMemberAccess] - the agent is running

    def interrupt(self):
        """A Ctrl-C for the running command: sent now, or as soon as the rules above allow."""
        if self.agent is None or not self.agent.ready:
            return False
        if self._owed_for != self._commands:
            self._owed, self._owed_for, self._owed_since = 0, self._commands, None
        self._owed += 1
        self._send_owed_interrupt()
        return True

    def _send_owed_interrupt(self):
        self._next_attempt = None
        # only for the command it was meant for: that one may have ended since, and a Ctrl-C
        # must not stop the next command (or the next interpreter's)
        if (not self._owed or self._owed_for != self._commands or self.agent is None
                or not self.repl.running):
            self._owed = 0
            return
        now = time.monotonic()
        gap = INTERRUPT_GAP if self._last_for == self._commands else COMMAND_GAP
        if now - self._last_interrupt < gap:
            self._next_attempt = self._last_interrupt + gap
            return
        if self._owed_since is None:
            self._owed_since = now
        sent = self.agent.interrupt(anywhere=now - self._owed_since >= SAFE_POINT_WAIT)
        if sent is None:   # busy where an interrupt is not safe
            self._next_attempt = now + SAFE_POINT_POLL
            return
        if not sent:   # the interpreter has exited: there is nothing left to stop
            self._owed = 0
            return
        self._owed -= 1
        self._owed_since = None
        self._last_interrupt = now
        self._last_for = self._commands
        if self._owed:
            self._next_attempt = now + gap

    def soft_reset(self):
        self._stop_agent(graceful=True)
        self._start_agent()

    # ----- lifecycle

    def start(self):
        self._start_agent()

    def _start_agent(self):
        self.agent = AgentProcess(self.images, self.heap_kb, self.buses, self.modem, self.clock)
        self.selector.register(self.agent.stdout_fd, selectors.EVENT_READ, "stdout")
        self.selector.register(self.agent.event_fd, selectors.EVENT_READ, "events")

    def _stop_agent(self, graceful):
        agent, self.agent = self.agent, None
        if agent is None:
            return None
        # Whatever it printed last still belongs on the console.
        self.repl.agent_output(agent.read_output())
        for fd in (agent.stdout_fd, agent.event_fd):
            try:
                self.selector.unregister(fd)
            except (KeyError, ValueError):
                pass
        return agent.stop(graceful=graceful)

    def stop(self):
        self.stopping = True
        try:
            os.write(self._wake_write, b"x")
        except OSError:
            pass

    def close(self):
        self._stop_agent(graceful=self.repl.busy is None and not self.repl.booting)
        self.selector.close()
        for fd in (self.master_fd, self.slave_fd, self._wake_read, self._wake_write):
            try:
                os.close(fd)
            except OSError:
                pass

    def serve(self, install_signal_handlers=True):
        """Run until stop(); SIGINT and SIGTERM stop it when `install_signal_handlers`."""
        if install_signal_handlers:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stop())
        while not self.stopping:
            timeout = 1.0
            if self._next_attempt is not None:
                timeout = max(0.0, self._next_attempt - time.monotonic())
            for key, mask in self.selector.select(timeout=timeout):
                if key.data == "pty":
                    if mask & selectors.EVENT_WRITE:
                        self._flush_out()
                    if mask & selectors.EVENT_READ:
                        self._read_pty()
                elif key.data == "stdout" and self.agent:
                    self.repl.agent_output(self.agent.read_output())
                elif key.data == "events" and self.agent:
                    self._agent_events()
                elif key.data == "wake":
                    try:
                        os.read(self._wake_read, 64)
                    except BlockingIOError:
                        pass
            if self.agent and not self.stopping and self.agent.process.poll() is not None:
                self._agent_events()
            if self._next_attempt is not None and time.monotonic() >= self._next_attempt:
                self._send_owed_interrupt()

    # ----- internals

    def _read_pty(self):
        try:
            data = os.read(self.master_fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:   # cannot happen while we hold the slave open
                return
            raise
        self.repl.feed(data)

    def _flush_out(self):
        while self.pending_out:
            try:
                written = os.write(self.master_fd, self.pending_out)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EAGAIN):
                    return
                raise
            del self.pending_out[:written]
        try:
            self.selector.modify(self.master_fd, selectors.EVENT_READ, "pty")
        except (KeyError, ValueError):
            pass

    def _agent_events(self):
        agent = self.agent
        # Output written before an event must reach the console before the event's framing:
        # take the events first, then the output, which then holds all the output that came
        # before them (the agent writes nothing after an event until it is sent a command).
        events = agent.read_events()  # pyright: ignore[reportOptionalMemberAccess] - the agent is running
        self.repl.agent_output(agent.read_output())  # pyright: ignore[reportOptionalMemberAccess] - the agent is running
        for event in events:
            if self.agent is not agent:
                break
            if event is None:
                self._agent_died(agent)
                return
            kind, payload = event
            if kind == agent_process.READY:
                info = json.loads(payload)
                agent.ready = True  # pyright: ignore[reportOptionalMemberAccess] - the agent is running
                self.restarts = 0
                self.repl.agent_output(info.get("note", "").encode())
                self.repl.agent_ready(info["banner"])
            elif kind == agent_process.BUSY:
                self._commands += 1
                self.repl.agent_running()
            elif kind == agent_process.DONE:
                self.repl.agent_done(payload[:1], payload[1:])

    def _agent_died(self, agent):
        was_ready = agent.ready
        code = self._stop_agent(graceful=False)
        if not was_ready:
            # It could not even start: a broken install or heap size, not a firmware crash.
            self.restarts += 1
            if self.restarts >= 3:
                raise AgentStartError("the MicroPython agent exits at start (exit code %s)" % code)
        self.log("virtual board: MicroPython exited with code %s; resetting the board" % code)
        self.out(b"\r\nvboard: MicroPython exited (code %s): hard reset\r\n" % str(code).encode())
        self.repl.agent_died()
        self._start_agent()
