"""The MicroPython REPL protocol, as a board speaks it on its USB serial port.

This is the part of a board's `pyexec.c` and `readline.c` that a host sees: the friendly REPL
(banner, `>>> ` prompt, echo, continuation lines, paste mode), the raw REPL (Ctrl-A; Ctrl-D
executes and answers `OK`, output, `\\x04`, error, `\\x04`, `>`; Ctrl-B back), raw-paste mode
(`\\x05A\\x01`, `R\\x01` + window size, `\\x01` window increments, `\\x04` end), Ctrl-C and
soft reset (Ctrl-D on an empty line or an empty raw-REPL buffer, `sys.exit()`,
`machine.soft_reset()`). mpremote's transport_serial.py is the reference for the bytes.

The machine does no I/O: it is fed bytes typed on the pty and agent events, and acts through a
`board` object with `out(bytes)`, `execute(kind, source)`, `interrupt() -> bool` and
`soft_reset()`.
"""
from host_tools.vboard.agent_process import BOOT, EXEC_RAW, EXEC_SINGLE

CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = 1, 2, 3, 4, 5
BACKSPACES = (8, 127)
ESC = 27

COMPOUND_KEYWORDS = ("if", "while", "for", "try", "with", "def", "class", "async")
FRIENDLY = "friendly"
RAW = "raw"

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
PASTE_BANNER = b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== "
SOFT_REBOOT = b"MPY: soft reboot\r\n"
RAW_PASTE_WINDOW = 1024     # bytes the host may send before waiting for a \x01


def cooked(data):
    """Board console output: a board's stdout turns every \\n into \\r\\n."""
    return data.replace(b"\n", b"\r\n")


def needs_more_input(text):
    """Whether a friendly-REPL entry continues on a `... ` line (MicroPython's
    mp_repl_continue_with_input rules: open brackets or triple quotes, a compound-statement
    header, a backslash; a started block ends with an empty line)."""
    depth, i, quote = 0, 0, None
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if text.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
        elif c == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif c in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else c
            i += len(quote)
            continue
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        i += 1
    if depth > 0 or (quote and len(quote) == 3):
        return True
    lines = text.split("\n")
    if len(lines) > 1:
        return lines[-1].strip() != ""
    line = lines[0].rstrip()
    words = line.split(None, 1)
    return (line.endswith(":") or line.endswith("\\") or line.startswith("@")
            or (bool(words) and words[0].rstrip(":") in COMPOUND_KEYWORDS))


class ReplMachine:
    def __init__(self, board):
        self.board = board
        self.mode = FRIENDLY
        self.banner = b"MicroPython"
        self.busy = None          # what the agent is executing: "boot", "raw", "friendly"; None idle
        self.running = False      # the agent has started the command: a Ctrl-C can reach it
        self.booting = True       # the interpreter is starting; nothing can run yet
        self.held_interrupt = False
        self.pending = bytearray()   # typed while the board was busy: the REPL reads it later
        self.line = bytearray()      # friendly: the current entry; raw: the command buffer
        self.entry = ""              # friendly: the lines of a multi-line entry so far
        self.paste = None            # friendly paste mode buffer
        self.raw_paste = None        # raw-paste: bytes received so far
        self.raw_paste_unacked = 0
        self.escape = 0              # friendly: bytes of an escape sequence still to skip
        self.last_was_cr = False

    # ----- events from the server

    def agent_ready(self, banner):
        """A new interpreter is up: run boot.py (and main.py in the friendly REPL)."""
        self.banner = banner.encode()
        self.booting = False
        self._execute("boot", BOOT, b"1" if self.mode == FRIENDLY else b"0")

    def agent_running(self):
        """The agent has started the command: deliver a Ctrl-C that was held until now."""
        self.running = True
        if self.held_interrupt:
            self.held_interrupt = False
            self.board.interrupt()

    def agent_output(self, data):
        self.board.out(cooked(data))

    def agent_done(self, status, error):
        job, self.busy, self.running = self.busy, None, False
        self.held_interrupt = False
        if status == b"S":   # sys.exit() / machine.soft_reset()
            if job == "raw":
                self.board.out(b"\x04\x04")
            self._soft_reset()
            return
        if job == "raw":
            self.board.out(b"\x04" + cooked(error) + b"\x04>")
        else:
            self.board.out(cooked(error))
            if job == "boot":
                self._prompt_after_boot()
            else:
                self.board.out(b">>> ")
        self._drain_pending()

    def agent_died(self):
        """The interpreter exited on its own (a crash): the board resets, in the friendly REPL."""
        self.busy = None
        self.running = False
        self.booting = True
        self.mode = FRIENDLY
        self.line.clear()
        self.raw_paste = None

    # ----- bytes typed by the host

    def feed(self, data):
        for byte in data:
            if self.busy or self.booting:
                if byte == CTRL_C:
                    self.pending.clear()   # a board's Ctrl-C also drops unread input
                    if not self.running or not self.board.interrupt():
                        self.held_interrupt = True
                else:
                    self.pending.append(byte)
            elif self.raw_paste is not None:
                self._raw_paste_byte(byte)
            elif self.mode == RAW:
                self._raw_byte(byte)
            elif self.paste is not None:
                self._paste_byte(byte)
            else:
                self._friendly_byte(byte)

    # ----- internals

    def _execute(self, job, kind, source):
        self.busy = job
        self.board.execute(kind, source)

    def _drain_pending(self):
        while self.pending and not self.busy and not self.booting:
            data = bytes(self.pending)
            self.pending.clear()
            self.feed(data)

    def _soft_reset(self):
        self.board.out(SOFT_REBOOT)
        self.booting = True
        self.line.clear()
        self.entry = ""
        self.paste = None
        self.board.soft_reset()

    def _prompt_after_boot(self):
        if self.mode == RAW:
            self.board.out(RAW_BANNER + b">")
        else:
            self._friendly_banner()

    def _friendly_banner(self):
        self.board.out(self.banner + b'\r\nType "help()" for more information.\r\n>>> ')

    # raw REPL
    def _raw_byte(self, byte):
        if byte == CTRL_A:
            if self.line == b"\x05A":
                self.line.clear()
                self.raw_paste = bytearray()
                self.raw_paste_unacked = 0
                self.board.out(b"R\x01" + RAW_PASTE_WINDOW.to_bytes(2, "little"))
            else:
                self.line.clear()
                self.board.out(RAW_BANNER + b">")
        elif byte == CTRL_B:
            self.line.clear()
            self.mode = FRIENDLY
            self.board.out(b"\r\n")
            self._friendly_banner()
        elif byte == CTRL_C:
            self.line.clear()
        elif byte == CTRL_D:
            self.board.out(b"OK")
            source, self.line = bytes(self.line), bytearray()
            if not source:
                self.board.out(b"\r\n")
                self._soft_reset()
            else:
                self._execute("raw", EXEC_RAW, source)
        else:
            self.line.append(byte)

    def _raw_paste_byte(self, byte):
        if byte == CTRL_D:
            source, self.raw_paste = bytes(self.raw_paste), None  # pyright: ignore[reportArgumentType] - set while a paste is open
            self.board.out(b"\x04")
            self._execute("raw", EXEC_RAW, source)
        elif byte == CTRL_C:
            self.raw_paste = None
            self.board.out(b"\x04\x04KeyboardInterrupt: \r\n\x04>")
        else:
            self.raw_paste.append(byte)  # pyright: ignore[reportOptionalMemberAccess] - set while a paste is open
            self.raw_paste_unacked += 1
            if self.raw_paste_unacked == RAW_PASTE_WINDOW:
                self.raw_paste_unacked = 0
                self.board.out(b"\x01")

    # friendly REPL
    def _friendly_byte(self, byte):
        if self.escape:
            # ESC [ params final: skip up to the final byte (cursor keys are not supported)
            self.escape = 0 if (self.escape > 1 and 0x40 <= byte <= 0x7E) else self.escape + 1
            return
        if byte == ESC:
            self.escape = 1
        elif byte == CTRL_A:
            self.line.clear()
            self.entry = ""
            self.mode = RAW
            self.board.out(b"\r\n" + RAW_BANNER + b">")
        elif byte == CTRL_B:
            self.line.clear()
            self.entry = ""
            self.board.out(b"\r\n")
            self._friendly_banner()
        elif byte == CTRL_C:
            self.line.clear()
            self.entry = ""
            self.board.out(b"\r\n>>> ")
        elif byte == CTRL_D:
            if not self.line and not self.entry:
                self.board.out(b"\r\n")
                self._soft_reset()
        elif byte == CTRL_E:
            self.line.clear()
            self.entry = ""
            self.paste = bytearray()
            self.board.out(PASTE_BANNER)
        elif byte in (13, 10):
            if byte == 10 and self.last_was_cr:   # \r\n from a terminal is one Enter
                self.last_was_cr = False
                return
            self.last_was_cr = byte == 13
            self.board.out(b"\r\n")
            self._enter()
            return
        elif byte in BACKSPACES:
            if self.line:
                self.line.pop()
                self.board.out(b"\x08 \x08")
        elif byte >= 32 or byte == 9:
            self.line.append(byte)
            self.board.out(bytes((byte,)))
        self.last_was_cr = False

    def _enter(self):
        line = self.line.decode("utf-8", "replace")
        self.line.clear()
        text = self.entry + "\n" + line if self.entry else line
        if not text.strip():
            self.entry = ""
            self.board.out(b">>> ")
            return
        if needs_more_input(text):
            self.entry = text
            self.board.out(b"... ")
            return
        self.entry = ""
        self._execute("friendly", EXEC_SINGLE, text.encode() + b"\n")

    def _paste_byte(self, byte):
        if byte == CTRL_C:
            self.paste = None
            self.board.out(b"\r\n>>> ")
        elif byte == CTRL_D:
            source, self.paste = bytes(self.paste), None  # pyright: ignore[reportArgumentType] - set while a paste is open
            self.board.out(b"\r\n")
            self._execute("friendly", EXEC_RAW, source)
        else:
            if byte == 13:
                byte = 10
            self.paste.append(byte)  # pyright: ignore[reportOptionalMemberAccess] - set while a paste is open
            self.board.out(b"\r\n=== " if byte == 10 else bytes((byte,)))
