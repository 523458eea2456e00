"""The USB board transport: how every `conc` USB command (flash, config, meters, pull, status)
talks to a MicroPython board over its serial REPL, a real one or the virtual board.

Built on mpremote's SerialTransport, used as a library. A session interrupts the running
firmware with Ctrl-C only for as long as it needs the raw REPL; `close()` resumes the firmware
with a soft reset from the friendly REPL, which runs boot.py and main.py again, as a board does
after power-on. Every failure a user can meet (no board, port busy, cable pulled, a command that
fails on the board) becomes a one-line CliError. What the board printed when its program was
stopped is kept (`Board.stop_output`, and appended to the file CONC_STOP_LOG names).

    with Board.open(port) as board:          # port: a path, or "auto"
        board.exec("print(1)")               # -> "1\\n"
        board.sha256(["/board.json"])         # -> {"/board.json": "ab12..." or None}
        board.write_file("/x.txt", b"data")   # temp name + verify + rename
"""
import ast
import base64
import errno
import hashlib
import os
import stat
import struct
import termios
import time

from host_tools.errors import EXIT_DEVICE, EXIT_FAILED, CliError

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
WRITE_CHUNK = 1536          # bytes of file data per exec: 2 KB of base64, small for a board heap
READ_CHUNK_BYTES = 2048     # bytes of file data per answer: 2.7 KB of base64
TEMP_SUFFIX = ".conc-tmp"   # files being written; a later write of the same file replaces them
SERIAL_TIMEOUT = 1.0        # seconds a single read may block; the exec timeouts sit above it
DEFAULT_EXEC_TIMEOUT = 30   # seconds of board silence before an exec is given up
STOP_LOG_ENV = "CONC_STOP_LOG"  # a file: what each board printed when a session stopped it
STOP_OUTPUT_MAX = 8192      # bytes of that output kept (its end: the stop, not old chatter)


# Board code of the file paths of our own (the class says why each is ours). Each block is one
# exec; the values are put in as Python literals (%r). Names the board keeps between the execs
# of one transfer start with "_" and are deleted at its end.

OPEN_FOR_READING = """
import binascii
_f = open(%(path)r, 'rb')
"""

READ_CHUNK = """
print(binascii.b2a_base64(_f.read(%(size)d)).decode(), end='')
"""

CLOSE_READING = """
_f.close()
del _f
"""

OPEN_FOR_WRITING = """
import binascii
_f = open(%(path)r, 'wb')
_w = _f.write
_d = binascii.a2b_base64
"""

WRITE_PIECE = """
_w(_d(%(base64)r))
"""

CLOSE_WRITING = """
_f.close()
del _f, _w, _d
"""

HASH_FILES = """
import binascii, hashlib

def _sha256(path):
    try:
        f = open(path, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    buf = bytearray(512)
    view = memoryview(buf)
    while True:
        n = f.readinto(buf)
        if not n:
            break
        h.update(view[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()

for _p in %(paths)r:
    print(repr((_p, _sha256(_p))))
del _sha256
"""

WALK = """
import os

def _walk(folder):
    try:
        entries = list(os.ilistdir(folder))
    except OSError:
        return
    for e in entries:
        path = folder + '/' + e[0]
        if e[1] == 0x4000:
            _walk(path)
        else:
            print(repr((path, e[3] if len(e) > 3 else 0)))

_walk(%(path)r)
del _walk
"""

# littlefs replaces `new` atomically; FAT refuses an existing `new`: it is removed first.
RENAME = """
import os
try:
    os.rename(%(old)r, %(new)r)
except OSError:
    os.remove(%(new)r)
    os.rename(%(old)r, %(new)r)
"""


class BoardError(CliError):
    """Code sent to the board raised an exception there."""

    def __init__(self, message, board_traceback=""):
        super().__init__(message, EXIT_FAILED)
        self.board_traceback = board_traceback


def find_ports():
    """The serial ports that may be boards: USB serial devices and running virtual boards."""
    import serial.tools.list_ports

    from host_tools.vboard import registry
    ports = [p.device for p in sorted(serial.tools.list_ports.comports())
             if p.vid is not None and p.pid is not None]
    ports += [b["port"] for b in registry.running_boards()]
    return ports


def resolve_port(port):
    """A port path from --port (or CONC_PORT): "auto" or empty means the single attached board."""
    if port and port != "auto":
        return port
    ports = find_ports()
    if not ports:
        raise CliError("no board found: plug one in by USB or start one with `conc board run`, "
                       "then give --port (or CONC_PORT)", EXIT_DEVICE)
    if len(ports) > 1:
        raise CliError("several boards are attached (%s): pick one with --port" % ", ".join(ports),
                       EXIT_DEVICE)
    return ports[0]


def _is_tty(path):
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return True   # cannot tell: let the caller's message stand
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


class Board:
    """One session with a board over its USB serial REPL."""

    def __init__(self, port, transport):
        self.port = port
        self.transport = transport
        self.closed = False
        self.action = "talking to it"
        self.stop_output = ""   # what the board printed when this session stopped its program

    # ----- connecting

    @classmethod
    def open(cls, port="auto", soft_reset=False):
        """Connect and stop the firmware at the raw REPL. `soft_reset` also restarts the
        interpreter (a clean heap; main.py does not run) before any command."""
        from mpremote.transport import TransportError

        from host_tools.board_transport import BoardTransport
        path = resolve_port(port)
        try:
            transport = BoardTransport(path, baudrate=115200)
        except TransportError:
            if not os.path.exists(path):
                raise CliError("no board on %s: check the cable and the port name (or use "
                               "--port auto)" % path, EXIT_DEVICE) from None
            if not _is_tty(path):
                raise CliError("%s is not a serial port: give the board's port, e.g. /dev/ttyUSB0"
                               % path, EXIT_DEVICE) from None
            raise CliError("%s is busy: another program (mpremote, a terminal, another conc) has "
                           "it open; close it and retry" % path, EXIT_DEVICE) from None
        transport.serial.timeout = SERIAL_TIMEOUT  # pyright: ignore[reportAttributeAccessIssue] - mpremote's transport serial is a pyserial port
        board = cls(path, transport)
        try:
            board._enter_raw_repl(soft_reset)
        except BaseException:
            board._close_quietly()
            raise
        return board

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # On failure still give the board its firmware back, if the link allows it.
        self.close(resume=True)

    def _guard(self, action):
        self.action = action
        return _LinkGuard(self)

    def _enter_raw_repl(self, soft_reset):
        """Stop the board's program at the raw REPL. Ours, not mpremote's enter_raw_repl: that
        discards what the program printed as it stopped (kept here as the evidence of a stop
        gone wrong) and sends Ctrl-C once, which a program catching KeyboardInterrupt eats."""
        with self._guard("stopping its program"):
            serial = self.transport.serial
            said = bytearray()
            for attempt in range(3):
                # Ctrl-C twice: one may be eaten by a program that catches KeyboardInterrupt once.
                serial.write(b"\r\x03\x03")
                time.sleep(0.05 * attempt)
                said += self._waiting_bytes()
                serial.write(b"\r\x01")
                # The '>' prompt after the banner is left for the first exec to read.
                data = self.transport.read_until(1, RAW_BANNER, timeout=2, timeout_overall=4)
                said += data
                if data.endswith(RAW_BANNER):
                    break
            else:
                self._keep_stop_output(said)
                raise CliError("the board on %s does not answer Ctrl-C at its REPL: is it a "
                               "MicroPython board, and does its program let KeyboardInterrupt "
                               "through?" % self.port, EXIT_DEVICE)
            self._keep_stop_output(said)
            self.transport.in_raw_repl = True
            if soft_reset:
                self.soft_reset()

    def _waiting_bytes(self):
        """What the board printed and nobody read yet (its program's output, the start of what
        it says when it stops), without waiting."""
        serial = self.transport.serial
        try:
            return serial.read(serial.in_waiting)
        except (OSError, termios.error):
            # A pty can refuse a moment right after its previous user closed it; read_until
            # reads these bytes afterwards.
            return b""

    def _keep_stop_output(self, said):
        """What the board printed when its program was stopped (the program's last words: a
        traceback, "conc: stop marker not written ..."), kept as `stop_output` and appended to
        the file STOP_LOG_ENV names: the REPL's prompts and banner are not evidence, these are."""
        text = bytes(said[-STOP_OUTPUT_MAX:]).replace(RAW_BANNER, b"").decode("utf-8", "replace")
        self.stop_output = text.replace("\r\n", "\n")
        path = os.environ.get(STOP_LOG_ENV)
        if not path:
            return
        try:
            with open(path, "a") as log:
                log.write("=== %s %s stopped; it printed:\n%s\n" % (
                    time.strftime("%Y-%m-%dT%H:%M:%S"), self.port, self.stop_output.rstrip()))
        except OSError:
            pass   # a debug log that cannot be written must not fail the command

    def soft_reset(self):
        """A fresh interpreter (boot.py runs, main.py does not); stays at the raw REPL. (mpremote
        soft-resets only while entering the raw REPL, and prints what it read on a failure.)"""
        with self._guard("resetting it"):
            serial = self.transport.serial
            serial.write(b"\x04")
            data = self.transport.read_until(1, b"soft reboot\r\n", timeout=5, timeout_overall=10)
            if not data.endswith(b"soft reboot\r\n"):
                raise CliError("the board on %s did not soft-reset" % self.port, EXIT_DEVICE)
            data = self.transport.read_until(1, RAW_BANNER, timeout=10, timeout_overall=30)
            if not data.endswith(RAW_BANNER):
                raise CliError("the board on %s did not come back after a soft reset (its "
                               "boot.py may be stuck)" % self.port, EXIT_DEVICE)

    def resume(self):
        """Leave the raw REPL and soft-reset from the friendly REPL: boot.py and main.py run,
        the firmware is back."""
        if not self.transport.in_raw_repl:
            return   # resumed already: the firmware runs
        with self._guard("restarting its firmware"):
            self.transport.exit_raw_repl()
            self.transport.serial.write(b"\x04")
            self.transport.read_until(1, b"soft reboot\r\n", timeout=5, timeout_overall=10)

    def close(self, resume=True):
        if self.closed:
            return
        try:
            if resume:
                self.resume()
        except CliError:
            pass
        finally:
            self._close_quietly()

    def _close_quietly(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.transport.close()
        except Exception:   # noqa: BLE001 - the port may be gone already; nothing to save
            pass

    # ----- running code

    def exec(self, code, timeout=DEFAULT_EXEC_TIMEOUT, data_consumer=None):
        """Run `code` on the board; return what it printed (str). A board-side exception
        raises BoardError with the exception's last line as the message. (mpremote's own
        `exec` waits a fixed 10 s; a board command may take longer.)"""
        with self._guard("running a command"):
            out, err = self.transport.exec_raw(code, timeout, data_consumer)
        if err:
            raise _board_error(err)
        return out.decode("utf-8", "replace").replace("\r\n", "\n")

    def eval(self, expression, timeout=DEFAULT_EXEC_TIMEOUT):
        """The value of a Python literal expression computed on the board."""
        text = self.exec("print(repr(%s))" % expression, timeout)
        return ast.literal_eval(text.strip())

    def info(self):
        """{"platform", "version", "mpy", "mpy_sub", "march", "machine"} of the board's
        MicroPython: "mpy" the .mpy version it loads (0: too old to say), "mpy_sub" the ABI
        sub-version its native code must have, "march" the mpy-cross -march of its native code
        (None: bytecode only)."""
        from host_tools.build import march_of
        info = self.eval("(lambda s: {'platform': s.platform, 'version': s.implementation.version[:3],"
                         " 'mpy': getattr(s.implementation, '_mpy', 0),"
                         " 'machine': getattr(s.implementation, '_machine', '')})(__import__('sys'))")
        info["march"] = march_of(info["mpy"])
        info["mpy_sub"] = (info["mpy"] >> 8) & 3     # the native code ABI sub-version
        info["mpy"] &= 0xFF
        return info

    # ----- files: mpremote's fs_* methods, and our own where they are faster or it has none

    def listdir(self, path="/"):
        """[(name, is_dir, size)] of one folder; [] if it does not exist."""
        with self._guard("listing %s" % path):
            try:
                entries = self.transport.fs_listdir(path)
            except OSError as exc:
                if _board_errno(exc) != errno.ENOENT:
                    raise
                return []
        return [(e.name, stat.S_ISDIR(e.st_mode), e.st_size) for e in entries]

    def walk(self, path):
        """Every file under `path` (recursively), as {path: size}; {} if it does not exist.
        Ours, in one exec: fs_listdir takes one a folder, twice the time for `conc flash`'s
        packages on the virtual board, and more where each exec crosses a real UART."""
        code = WALK % {"path": path.rstrip("/")}
        return dict(ast.literal_eval(line) for line in self.exec(code).splitlines() if line)

    def read_file(self, path, progress=None):
        """The bytes of a board file (BoardError 'ENOENT' when missing). Ours, not mpremote's
        fs_readfile: 2 KB of base64 per exec where it evaluates the repr of 256 bytes (a
        binary byte takes 4 characters there), 8x the execs for a file."""
        self.exec(OPEN_FOR_READING % {"path": path})
        data = bytearray()
        try:
            while True:
                piece = base64.b64decode(self.exec(READ_CHUNK % {"size": READ_CHUNK_BYTES}))
                if not piece:
                    break
                data += piece
                if progress:
                    progress(len(piece))
        finally:
            self.exec(CLOSE_READING)
        return bytes(data)

    def sha256(self, paths):
        """{path: hex sha256, or None for a missing file}, computed on the board in one exec.
        Ours, not mpremote's fs_hashfile: that takes three execs a file, and `conc flash`
        compares every file of the firmware before it writes any."""
        code = HASH_FILES % {"paths": list(paths)}
        timeout = DEFAULT_EXEC_TIMEOUT + len(paths)
        return dict(ast.literal_eval(line) for line in self.exec(code, timeout).splitlines() if line)

    def makedirs(self, path):
        """mkdir -p on the board."""
        folder = ""
        for name in [d for d in path.split("/") if d]:
            folder += "/" + name
            with self._guard("creating %s" % folder):
                try:
                    self.transport.fs_mkdir(folder)
                except OSError as exc:
                    if _board_errno(exc) != errno.EEXIST:
                        raise

    def remove(self, path):
        """Delete a file; a missing file is not an error."""
        with self._guard("removing %s" % path):
            try:
                self.transport.fs_rmfile(path)
            except OSError as exc:
                if _board_errno(exc) != errno.ENOENT:
                    raise

    def rename(self, old, new):
        """Rename, replacing `new` (mpremote has no rename)."""
        self.exec(RENAME % {"old": old, "new": new})

    def write_file(self, path, data, progress=None):
        """Write `path` so that it is either the old file or the whole new one, never a part:
        the data goes to a temporary name, its sha256 is checked on the board, then it is
        renamed over `path`. BoardError if the board stored something else. Ours, not
        mpremote's fs_writefile: 1.5 KB of base64 per exec where it sends the repr of 256
        bytes, 2.5x slower, and it writes in place."""
        temp = path + TEMP_SUFFIX
        expected = hashlib.sha256(data).hexdigest()
        self.exec(OPEN_FOR_WRITING % {"path": temp})
        try:
            for start in range(0, len(data), WRITE_CHUNK):
                piece = data[start:start + WRITE_CHUNK]
                self.exec(WRITE_PIECE % {"base64": base64.b64encode(piece)})
                if progress:
                    progress(len(piece))
        finally:
            self.exec(CLOSE_WRITING)
        stored = self.sha256([temp])[temp]
        if stored != expected:
            self.remove(temp)
            raise BoardError("%s was corrupted on its way to the board (sha256 %s, expected %s); "
                             "run the command again" % (path, stored, expected))
        self.rename(temp, path)


def _board_error(err):
    """The BoardError for what a command printed as its error (the board's traceback)."""
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    text = err.replace("\r\n", "\n").strip()
    last = text.splitlines()[-1] if text else "error"
    return BoardError("the board reported %s" % last, text)


def _board_errno(exc):
    """The errno of an OSError raised on the board, which mpremote's fs_* methods raise in the
    place of the TransportExecError carrying its traceback; None for any other exception (a
    failing port raises OSError too)."""
    from mpremote.transport import TransportExecError
    if isinstance(exc, OSError) and isinstance(exc.__context__, TransportExecError):
        return exc.errno
    return None


class _LinkGuard:
    """Turns a dropped link (cable pulled, board reset, port gone) into a CliError."""

    def __init__(self, board):
        self.board = board

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            return False
        from mpremote.transport import TransportError, TransportExecError
        if isinstance(exc, TransportExecError):     # from an fs_* method: the board's traceback
            raise _board_error(exc.error_output) from None
        if _board_errno(exc) is not None:
            raise _board_error(exc.__context__.error_output) from None
        if isinstance(exc, (OSError, TransportError, termios.error)) or \
                type(exc).__name__ == "SerialException":
            port, action = self.board.port, self.board.action
            self.board._close_quietly()
            raise CliError("lost the connection to the board on %s while %s (%s): check the cable, "
                           "then run the command again" % (port, action, _short(exc)),
                           EXIT_DEVICE) from None
        if isinstance(exc, struct.error):
            raise CliError("the board on %s answered something unexpected while %s" %
                           (self.board.port, self.board.action), EXIT_DEVICE) from None
        return False


def _short(exc):
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:120]

