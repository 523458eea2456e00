# The virtual board's interpreter: this file runs INSIDE the MicroPython unix port
# (`micropython -X heapsize=... agent.py`), never under CPython.
#
# It plays the part of a board's MicroPython runtime below the REPL: it mounts the board's
# littlefs root filesystem from a flash image file, runs boot.py and main.py, and executes the
# code chunks the host-side server (host_tools/vboard/server.py) sends it, all in one persistent
# globals dict, the way a board's REPL shares __main__ with boot.py and main.py. The host server
# owns the pty and the REPL protocol; this process only executes.
#
# Wiring (set up by the server; see docs/virtual-board.md):
#   stdout/stderr  the board's console output, raw; the server adds the REPL framing.
#   stdin          /dev/null (bytes typed while code runs go to the REPL, as on a board).
#   CONC_VBOARD    environment: JSON with the image paths, the attached serial devices, the
#                  numbers of two pipes: cmd_fd (server -> agent) and evt_fd (agent -> server),
#                  and where the ROMFS segment is mapped (rom_address, rom_size: the launcher,
#                  host_tools/vboard/rom_segment.py, maps romfs.img outside the heap).
# Messages on both pipes: 1 byte kind, 4 bytes little-endian length, payload.
#   server -> agent: b"x" exec a raw-REPL chunk, b"s" exec a friendly-REPL line ("single"
#                    mode: expression values are printed), b"b" boot (payload b"1": run main.py
#                    too), b"q" quit cleanly (soft reset: the server starts a new interpreter).
#   agent -> server: b"R" ready (payload: JSON {"banner": ..., "note": ...}: the REPL banner and
#                    a note for the console, e.g. that the root filesystem was formatted),
#                    b"B" busy: a command has started (the server holds a Ctrl-C until then),
#                    b"D" done (payload: status byte b"0" ok, b"E" error, b"S" soft reset
#                    requested by sys.exit()/machine.soft_reset(); then the error text).
# Ctrl-C arrives as SIGINT, which the unix port turns into KeyboardInterrupt.
import gc
import io
import json
import os
import select
import struct
import sys
import vfs

_config = json.loads(os.getenv("CONC_VBOARD"))
_cmd = open("/dev/fd/%d" % _config["cmd_fd"], "rb")
_evt = open("/dev/fd/%d" % _config["evt_fd"], "wb")
_cmd_poll = select.poll()
_cmd_poll.register(_cmd, select.POLLIN)
# The host filesystem, unmounted: after the root is swapped for littlefs, plain open() sees only
# the board's flash, as on a real board; the HAL reaches serial devices through vboard.open().
_host = vfs.VfsPosix("/")


class FileBlockDevice:
    """A NOR-flash partition kept in an image file, with the extended block protocol littlefs
    uses: readblocks/writeblocks at a byte offset inside a block, ioctl 6 erases a block.

    Every write is a write(2) straight to the file, so killing the process (a power cut) loses
    nothing that the filesystem had already written."""

    def __init__(self, path, block_size, block_count):
        self.file = _host.open(path, "r+b")
        self.block_size = block_size
        self.block_count = block_count

    def readblocks(self, block, buf, offset=0):
        self.file.seek(block * self.block_size + offset)
        self.file.readinto(buf)

    def writeblocks(self, block, buf, offset=None):
        if offset is None:   # the simple interface: whole blocks, erase implied
            for i in range(len(buf) // self.block_size):
                self.ioctl(6, block + i)
            offset = 0
        self.file.seek(block * self.block_size + offset)
        self.file.write(buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.block_count
        if op == 5:
            return self.block_size
        if op == 6:
            erased = b"\xff" * 256
            self.file.seek(arg * self.block_size)
            for _ in range(self.block_size // 256):
                self.file.write(erased)
            return 0
        if op == 3:
            self.file.flush()
        return 0


# A Ctrl-C (SIGINT) meant for a command can land in the agent's own code just after the
# command ended: the KeyboardInterrupt is raised at the next bytecode jump, or in a system call
# that the signal interrupted. The helpers below absorb it without losing or duplicating a byte,
# so the protocol never loses its frame. Measured: a blocking read(2) interrupted this way loses
# the bytes it had read, so reads only start once poll() says the data is there, and waiting
# happens in poll(), which consumes nothing.

_interrupted = [False]   # a KeyboardInterrupt landed in the agent's own code since the last check


def _send(kind, payload=b""):
    message = kind + struct.pack("<I", len(payload)) + payload
    try:
        # One write(2) of <= 4096 bytes to a pipe the server keeps draining: it neither blocks
        # nor splits. A KeyboardInterrupt raised here comes after the write (measured: the unix
        # port raises it even after a successful call), so it is noted, never retried, which
        # would send the message twice.
        _evt.write(message)
    except KeyboardInterrupt:
        _interrupted[0] = True


def _read_exactly(n):
    # The KeyboardInterrupt is raised at a jump or in an interrupted read(2) (which consumed
    # nothing). The bytes a read returns are appended in the same statement, before any jump,
    # so an interrupt never loses them; the loop then carries on where it was.
    data = b""
    while True:
        try:
            while len(data) < n:
                _cmd_poll.poll()   # wait here, where an interrupt costs nothing
                before = len(data)
                data += _cmd.read(n - before)
                if len(data) == before:
                    sys.exit(0)   # the server is gone: power off
            return data
        except KeyboardInterrupt:
            pass


def _absorb_interrupt():
    # A KeyboardInterrupt still pending from the last command is raised at this loop's jumps,
    # here, rather than inside the next command.
    try:
        for _ in range(2):
            pass
    except KeyboardInterrupt:
        pass


def _recv():
    header = _read_exactly(5)
    length = struct.unpack("<I", header[1:])[0]
    payload = _read_exactly(length)
    _absorb_interrupt()
    return header[:1], payload


class _Module:
    """A module-like object for sys.modules (the unix port cannot create module instances)."""


def _install_vboard_module():
    # `import vboard` in the firmware's linux HAL: what is attached to this virtual board.
    module = _Module()
    buses = {}
    for number, path in _config["buses"].items():
        buses[int(number)] = path
    module.buses = buses
    module.modem = _config["modem"]
    module.data_image = _config["data_image"]
    module.image_dir = _config["image_dir"]
    module.open = _host.open
    sys.modules["vboard"] = module


class _WatchedDevice(io.IOBase):
    """A serial device whose writes tell the fast clock a request is on the wire (its answer
    then takes real time). select.poll reaches the host file through ioctl(GET_FILENO)."""

    def __init__(self, file, clock):
        self.file = file
        self.clock = clock

    def write(self, buf):
        self.clock.exchange()
        return self.file.write(buf)

    def readinto(self, buf):
        return self.file.readinto(buf)

    def read(self, n=-1):
        return self.file.read(n)

    def fileno(self):
        return self.file.fileno()

    def ioctl(self, request, arg):
        if request == 10:               # MP_STREAM_GET_FILENO (py/stream.h)
            return self.file.fileno()
        return -1

    def close(self):
        self.file.close()


_clock = [None]     # the fast clock, when `conc board run --clock-start` asked for one


def _install_clock():
    """`conc board run --clock-start`: the firmware runs on firmware/vclock.py's FastClock,
    put where it imports its clock (firmware.hal.clock), resuming from the offset kept in the
    host file the server created (a soft reset or a power cut keeps the board's calendar)."""
    cfg = _config.get("clock")
    if not cfg:
        return
    try:
        import firmware.hal
        from firmware.vclock import FastClock
    except ImportError:
        return              # no firmware flashed yet: nothing runs on the clock
    path = cfg["file"]
    try:
        with _host.open(path, "r") as f:
            offset = int(f.read().strip())
        state = _host.open(path, "r+")
    except (OSError, ValueError) as exc:
        sys.stdout.write("vboard: the clock file %s is unreadable (%r): the board runs on the "
                         "host's clock\r\n" % (path, exc))
        return

    def save(offset_ms):
        state.seek(0)
        state.write("%020d\n" % offset_ms)

    clock = FastClock(offset, cfg.get("until_ms"), save)
    firmware.hal.clock = clock
    sys.modules["firmware.hal.clock"] = clock
    _clock[0] = clock


def _attach_devices():
    """Make the attached devices openable by their paths, as they would be on a board running
    Linux: open() of a bus or modem device path, or of the data partition's label (e.g.
    "data.img"), reaches the host file; every other path stays on the board's flash.

    Only these exact paths: mounting the host's /dev would let `mpremote rm -r :` reach it."""
    import builtins
    devices = {}
    for path in list(_config["buses"].values()) + [_config["modem"]]:
        if path:
            devices[path] = path
    serial = set(devices)
    label = _config["data_label"]
    devices[label] = devices["/" + label.lstrip("/")] = _config["data_image"]
    flash_open = builtins.open

    def open(file, mode="r", *args, **kwargs):
        host_path = devices.get(file) if isinstance(file, str) else None
        if host_path is None:
            return flash_open(file, mode, *args, **kwargs)
        if _clock[0] is not None and host_path in serial:
            return _WatchedDevice(_host.open(host_path, mode), _clock[0])
        return _host.open(host_path, mode)

    builtins.open = open


def _mount_root():
    """Mount littlefs at / (as an ESP32 does); format a blank or unreadable image.

    Returns a note for the console when something had to be done."""
    device = FileBlockDevice(_config["root_image"], _config["block_size"], _config["root_blocks"])
    note = ""
    try:
        root = vfs.VfsLfs2(device)
    except OSError:
        blank = bytearray(16)
        device.readblocks(0, blank)
        if blank != b"\xff" * 16:
            note = "vboard: the root filesystem did not mount; formatting it\r\n"
        vfs.VfsLfs2.mkfs(device)
        root = vfs.VfsLfs2(device)
    vfs.umount("/")
    vfs.mount(root, "/")
    os.chdir("/")
    return note


class _RomSegment:
    """The board's ROMFS segment, as a port with MICROPY_VFS_ROM_IOCTL offers it: memory the
    interpreter reads in place (its bytes stay outside the heap) and the host keeps in the image
    file. The unix port has no vfs.rom_ioctl, so `vfs` is replaced in sys.modules by a module
    with the real one's names plus rom_ioctl, which `conc flash` uses to read back the image."""

    ERASE_BLOCK = 4096

    def __init__(self, address, size):
        import uctypes
        self.memory = uctypes.bytearray_at(address, size)   # no copy: the mapped file

    def rom_ioctl(self, op, *args):
        memory = self.memory
        if op == 1:                     # number of segments
            return 1
        if args and args[0] != 0:       # one segment, id 0
            return -22                  # EINVAL, as the ports answer
        if op == 2:                     # the segment
            return memoryview(memory)
        if op == 3:                     # prepare to write args[1] bytes: erase them
            length = args[1]
            if length > len(memory):
                return -22
            erased = b"\xff" * self.ERASE_BLOCK
            for off in range(0, length, self.ERASE_BLOCK):
                end = min(off + self.ERASE_BLOCK, len(memory))
                memory[off:end] = erased[:end - off]
            return 1                    # the smallest write: any byte
        if op == 4:                     # write args[2] at offset args[1] (erased there first)
            offset, data = args[1], args[2]
            if offset < 0 or offset + len(data) > len(memory):
                return -22
            memory[offset:offset + len(data)] = data
            return 0
        if op == 5:
            return 0
        return -22

    def install(self):
        """`vfs` with rom_ioctl, and the image mounted at /rom when the segment holds one."""
        import vfs as real
        module = _Module()
        for name in dir(real):
            if not name.startswith("__"):
                setattr(module, name, getattr(real, name))
        module.rom_ioctl = self.rom_ioctl
        sys.modules["vfs"] = module
        try:
            real.mount(real.VfsRom(memoryview(self.memory)), "/rom")
        except OSError:                 # erased, or not an image: the code is on / then
            return False
        return True


class SoftReset(Exception):
    pass


def _error_text(exc):
    buf = io.StringIO()
    sys.print_exception(exc, buf)
    return buf.getvalue().encode()


def _run(code_or_path, globals_, mode):
    """Execute one chunk; return (status, error text). `mode` is "exec", "single" or "file"."""
    try:
        if mode == "file":
            with open(code_or_path, "rb") as f:
                source = f.read()
            code = compile(source, code_or_path, "exec")
        else:
            code = compile(code_or_path, "<stdin>", mode)
        source = None
        exec(code, globals_)
    except SystemExit:   # sys.exit() and machine.soft_reset() on a board: a soft reset
        return b"S", b""
    except BaseException as exc:   # noqa - every failure is reported, as a board's REPL does
        return b"E", _error_text(exc)
    return b"0", b""


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _boot(globals_, run_main):
    # As a board's main.c: boot.py, then main.py only when the REPL is the friendly one.
    for name in ("boot.py", "main.py") if run_main else ("boot.py",):
        if not _exists(name):
            continue
        status, error = _run(name, globals_, "file")
        if status == b"S":
            return status, b""
        if error:
            # A board prints the script's traceback and goes to the REPL; a failed boot.py
            # means main.py does not run (ports' main.c).
            sys.stdout.write(error.decode())
            break
    return b"0", b""


def _serve(globals_):
    while True:
        kind, payload = _recv()
        if kind == b"q":
            # As a board's soft reset (gc_sweep_all): files left open are closed by their
            # finalisers, which writes their data out, before the filesystem goes away.
            globals_.clear()
            for name in list(sys.modules):
                if name != "vboard":
                    del sys.modules[name]
            gc.collect()
            vfs.umount("/")
            sys.exit(0)
        status, error = b"0", b""
        _interrupted[0] = False   # any interrupt so far was meant for the previous command
        try:
            _send(b"B")   # from here on a Ctrl-C interrupts this command
            if _interrupted[0]:
                raise KeyboardInterrupt
            if kind == b"b":
                status, error = _boot(globals_, payload == b"1")
            elif kind == b"x":
                status, error = _run(payload, globals_, "exec")
            elif kind == b"s":
                status, error = _run(payload, globals_, "single")
            payload = None
        except KeyboardInterrupt as exc:   # a Ctrl-C just before the command or just after it
            status, error = b"E", _error_text(exc)
        # The end of a long traceback is the part that says what happened; the whole message
        # must stay within one atomic pipe write.
        _send(b"D", status + error[-4000:])


def main():
    note = _mount_root()
    _install_vboard_module()
    _attach_devices()
    sys.path[:] = ["", ".frozen", "/lib"]
    if _config.get("rom_address"):
        # where a port mounts its ROMFS at boot (extmod/vfs.c): /rom and /rom/lib after /lib
        if _RomSegment(_config["rom_address"], _config["rom_size"]).install():
            sys.path.extend(("/rom", "/rom/lib"))
    _install_clock()        # after /rom: the clock's module is part of the firmware
    globals_ = {"__name__": "__main__"}
    gc.collect()
    version = "%d.%d.%d" % sys.implementation.version[:3]
    banner = "MicroPython v%s on conc virtual board; %s with heap %d KB" % (
        version, sys.implementation._machine, _config["heap_kb"])
    _send(b"R", json.dumps({"banner": banner, "note": note}).encode())
    while True:
        try:
            _serve(globals_)
        except KeyboardInterrupt:
            # A Ctrl-C meant for the command that just ended, landing between its report and
            # the next command: nothing was lost, carry on.
            pass


main()
