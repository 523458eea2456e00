"""A NOR-flash simulator behind the raw-partition block protocol of esp32.Partition / pyb.Flash.

Used by the store's tests (RAM-backed) and by the virtual board (file-backed image). Runs
unchanged on MicroPython and CPython.

Block protocol (what the ring log and littlefs call):
    readblocks(n, buf, off=0)   read len(buf) bytes at block n + off
    writeblocks(n, buf, off)    PROGRAM len(buf) bytes at block n + off: bits only go 1 -> 0
    writeblocks(n, buf)         erase the blocks buf covers, then program them (simple protocol)
    ioctl(4, 0) block count, ioctl(5, 0) block size, ioctl(6, n) erase block n (-> 0xFF)

NOR rules it enforces, so a bug in the caller shows up in tests rather than on a board:
- programming can only clear bits; asking for a 1 over a 0 raises ProgramError (real flash would
  silently keep the 0 and corrupt the data);
- writes must be aligned to, and a multiple of, `prog_size` (1 for SPI NOR; 8..32 for MCU flash);
- every erase is counted per block (`erase_counts`), every programmed byte in `bytes_programmed`.

Power cuts: `cut_after(n)` lets exactly n more "flash steps" complete (one step = one byte
programmed, or one block erase); the next step is interrupted and raises PowerCut. An interrupted
program leaves the byte in flight with only some of its bits cleared (with scatter=True, every
byte the write had still to program: a page program has no byte order); an interrupted erase
leaves the block with random bits set (what a half-erased NOR cell reads back as). After a cut the device
stays dark (every call raises PowerCut) until `power_on()`. Randomness comes from a small
xorshift generator seeded by `seed`, so a cut replays identically on both interpreters.

    flash = NorFlash(block_size=4096, block_count=256)          # RAM-backed, erased
    flash = NorFlash(block_size=4096, block_count=256, path="data.img")   # file-backed image
"""
from array import array

from protocol.compat import const

IOCTL_INIT = const(1)
IOCTL_DEINIT = const(2)
IOCTL_SYNC = const(3)
IOCTL_BLOCK_COUNT = const(4)
IOCTL_BLOCK_SIZE = const(5)
IOCTL_BLOCK_ERASE = const(6)

_CHUNK = const(256)   # file-backed: bytes handled per read-modify-write step


class PowerCut(Exception):
    """The simulated supply failed: the operation in flight did not complete."""


class ProgramError(Exception):
    """The caller asked the flash for something NOR cannot do (a caller bug, not a cut)."""


class NorFlash:
    def __init__(self, block_size=4096, block_count=256, prog_size=1, path=None, seed=1,
                 scatter=False):
        if block_size <= 0 or block_count <= 0 or prog_size <= 0 or block_size % prog_size:
            raise ValueError("bad flash geometry: block_size must be a multiple of prog_size")
        self.block_size = block_size
        self.block_count = block_count
        self.prog_size = prog_size
        self.scatter = scatter
        self.size = block_size * block_count
        self.erase_counts = array("I", [0] * block_count)
        self.bytes_programmed = 0
        self.erases = 0
        self._budget = -1          # flash steps left before the cut; -1: no cut armed
        self._after_erases = 0     # erases to wait for before the budget starts counting
        self._pending = -1
        self._erase_cut = -1       # erases left before the one a cut interrupts; -1: none
        self._dark = False
        self.last_cut = None       # "program" or "erase": what the last power cut interrupted
        self._rand = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1
        self._ff = b"\xff" * min(block_size, _CHUNK)
        self._file = None
        if path is None:
            self.mem = bytearray(self.size)
            self._mv = memoryview(self.mem)
            for n in range(block_count):
                self._fill_ff(n * block_size)
        else:
            self.mem = None
            self._scratch = bytearray(_CHUNK)
            self._open_image(path)

    # -- image file -------------------------------------------------------------------------
    def _open_image(self, path):
        try:
            f = open(path, "r+b")
        except OSError:
            f = open(path, "w+b")
        f.seek(0, 2)
        have = f.tell()
        if have > self.size:
            f.close()
            raise ValueError("flash image %s holds %d bytes, more than the %d configured" % (
                path, have, self.size))
        while have < self.size:        # a new or short image reads as erased flash
            f.write(self._ff[:min(len(self._ff), self.size - have)])
            have = f.tell()
        f.flush()
        self._file = f

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- power ------------------------------------------------------------------------------
    def cut_after(self, steps, after_erases=0):
        """Arm a power cut: `steps` more bytes/erases complete, the next one is interrupted.
        With after_erases=k the count starts once k more erases have completed."""
        self._after_erases = after_erases
        self._pending = steps
        self._budget = steps if after_erases <= 0 else -1

    def cut_at_erase(self, k):
        """Arm a power cut in the middle of the k-th erase from now (0 = the next one)."""
        self._erase_cut = k

    def power_on(self):
        """Restore power after a cut (the flash keeps whatever state the cut left)."""
        self._dark = False
        self._budget = -1
        self._after_erases = 0
        self._erase_cut = -1

    @property
    def steps_left(self):
        """Steps before the armed cut, or -1 when none is armed."""
        return self._budget

    def _random_byte(self):
        x = self._rand
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rand = x
        return x & 0xFF

    def _check_power(self):
        if self._dark:
            raise PowerCut("flash is without power")

    def _cut(self, what):
        self.last_cut = what
        self._dark = True
        self._budget = -1
        raise PowerCut("power cut")

    # -- block protocol ---------------------------------------------------------------------
    def ioctl(self, op, arg=0):
        if op == IOCTL_BLOCK_COUNT:
            return self.block_count
        if op == IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == IOCTL_BLOCK_ERASE:
            self.erase(arg)
            return 0
        if op == IOCTL_SYNC:
            if self._file is not None:
                self._file.flush()
            return 0
        if op == IOCTL_INIT or op == IOCTL_DEINIT:
            return 0
        return None

    def _address(self, n, length, off):
        if n < 0 or off < 0:
            raise ValueError("negative block or offset")
        addr = n * self.block_size + off
        if addr + length > self.size:
            raise ValueError("access past the end of the flash (block %d offset %d length %d)" % (
                n, off, length))
        return addr

    def readblocks(self, n, buf, off=0):
        self._check_power()
        length = len(buf)
        addr = self._address(n, length, off)
        if self._file is None:
            if length <= 32:      # short reads (headers) byte by byte: slicing allocates
                mem = self.mem
                for i in range(length):
                    buf[i] = mem[addr + i]  # pyright: ignore[reportOptionalSubscript] - the in-memory image exists when no file backs the flash
            else:
                buf[:] = self._mv[addr:addr + length]
        else:
            self._file.seek(addr)
            self._file.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        self._check_power()
        if off is None:           # simple protocol: erase-then-write whole blocks
            if len(buf) % self.block_size:
                raise ProgramError("a write without offset must cover whole blocks")
            for i in range(len(buf) // self.block_size):
                self.erase(n + i)
            off = 0
        length = len(buf)
        addr = self._address(n, length, off)
        step = self.prog_size
        if step > 1 and (addr % step or length % step):
            raise ProgramError("write of %d bytes at %d is not aligned to the %d-byte program unit" % (
                length, addr, step))
        if self._file is None:
            self._program(self.mem, addr, buf, 0, length, addr)
            return
        done = 0
        scratch = self._scratch
        f = self._file
        while done < length:
            k = min(_CHUNK, length - done)
            window = memoryview(scratch)[:k]
            f.seek(addr + done)
            f.readinto(window)
            try:
                self._program(scratch, 0, buf, done, k, addr + done)
            finally:
                f.seek(addr + done)
                f.write(window)
            done += k

    def _program(self, mem, mi, buf, bi, k, addr):
        """Program k bytes of buf[bi:] over mem[mi:]; `addr` only names the place in errors."""
        budget = self._budget
        stop = k
        if 0 <= budget < k:
            stop = budget
        for i in range(stop):
            old = mem[mi + i]
            new = buf[bi + i]
            if new & ~old & 0xFF:
                raise ProgramError("programming 0x%02x over 0x%02x at address %d sets bits "
                                   "(erase first)" % (new, old, addr + i))
            mem[mi + i] = new
        self.bytes_programmed += stop
        if stop < k:
            # The byte in flight: some of the bits it had to clear are cleared, the rest not.
            # Scattered: a page program has no order, so every byte still due is like that.
            for i in range(stop, k if self.scatter else stop + 1):
                old = mem[mi + i]
                mem[mi + i] = old & ~(old & ~buf[bi + i] & self._random_byte())
            self._cut("program")
        if budget >= 0:
            self._budget = budget - k

    def erase(self, n):
        """Erase block n to 0xFF (ioctl 6). Counts one flash step."""
        self._check_power()
        if not 0 <= n < self.block_count:
            raise ValueError("erase of block %d outside 0..%d" % (n, self.block_count - 1))
        addr = n * self.block_size
        self.erase_counts[n] += 1
        self.erases += 1
        if self._budget == 0 or self._erase_cut == 0:
            self._half_erase(addr)
            self._cut("erase")
        if self._budget > 0:
            self._budget -= 1
        if self._erase_cut > 0:
            self._erase_cut -= 1
        if self._after_erases > 0:
            self._after_erases -= 1
            if self._after_erases == 0:
                self._budget = self._pending
        if self._file is None:
            self._fill_ff(addr)
        else:
            f = self._file
            f.seek(addr)
            left = self.block_size
            while left:
                k = min(left, len(self._ff))
                f.write(self._ff if k == len(self._ff) else self._ff[:k])
                left -= k

    def _fill_ff(self, addr):
        ff = self._ff
        step = len(ff)
        end = addr + self.block_size
        while addr + step <= end:
            self.mem[addr:addr + step] = ff  # pyright: ignore[reportOptionalSubscript] - the in-memory image exists when no file backs the flash
            addr += step
        if addr < end:
            self.mem[addr:end] = ff[:end - addr]  # pyright: ignore[reportOptionalSubscript] - the in-memory image exists when no file backs the flash

    def _half_erase(self, addr):
        # An interrupted erase: each bit is either already back to 1 or still what it was.
        if self._file is None:
            mem = self.mem
            for i in range(addr, addr + self.block_size):
                mem[i] |= self._random_byte()  # pyright: ignore[reportOptionalSubscript] - the in-memory image exists when no file backs the flash
            return
        step = len(self._ff)
        window = memoryview(self._scratch)[:step]
        for base in range(addr, addr + self.block_size, step):
            k = min(step, addr + self.block_size - base)
            self._file.seek(base)
            self._file.readinto(window)
            for i in range(k):
                window[i] |= self._random_byte()
            self._file.seek(base)
            self._file.write(window[:k])
