"""The board's raw data partition as a block device for the ring log (firmware/ringlog.py).

    dev = open_data_partition(board)   # board: the parsed board_configs/<board>.json

Every device returned speaks the raw-partition protocol with ONE block = one erase unit:
readblocks(n, buf, off), writeblocks(n, buf, off) (program only), ioctl(4) block count,
ioctl(5) block size, ioctl(6, n) erase block n.

- esp32: the partition labelled data_partition.label, found with esp32.Partition.find
  (4096-byte blocks, the SPI flash sector).
- stm32: pyb.Flash(start=first_block * block_size, len=block_count * block_size), seen in
  erase units of block_size. pyb.Flash itself counts 512-byte blocks and its ioctl(6) does
  nothing on internal flash, so erasing goes through the simple (erase-and-write) protocol.
- qemu (the emulated Cortex-M4F board): mps2.Partition(label), a region of the board's
  file-backed flash (board_configs/qemu_m4/README.md) with NOR rules and 4096-byte blocks.
- linux (the virtual board): a file-backed NOR-flash simulator on the image file named by
  data_partition.label, in image_dir.
"""


class FlashError(OSError):
    pass


def open_data_partition(board, image_dir="."):
    part = board["data_partition"]
    platform = board["platform"]
    block_size = part.get("block_size", 4096)
    if platform == "esp32":
        import esp32  # pyright: ignore[reportMissingImports] - a module of that port only
        found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label=part["label"])
        if not found:
            raise FlashError("no data partition labelled %r in the partition table: "
                             "flash a partition table that has one" % part["label"])
        dev = found[0]
        if dev.ioctl(5, 0) != block_size:
            raise FlashError("partition %r has %d-byte blocks, the board config says %d" % (
                part["label"], dev.ioctl(5, 0), block_size))
        return dev
    if platform == "stm32":
        import pyb  # pyright: ignore[reportMissingImports] - a module of that port only
        flash = pyb.Flash(start=part["first_block"] * block_size,
                          len=part["block_count"] * block_size)
        return Stm32Partition(flash, block_size)
    if platform == "qemu":
        import mps2  # pyright: ignore[reportMissingImports] - a module of that port only
        dev = mps2.Partition(part["label"])
        if dev.ioctl(5, 0) != block_size:
            raise FlashError("partition %r has %d-byte blocks, the board config says %d" % (
                part["label"], dev.ioctl(5, 0), block_size))
        return dev
    if platform == "linux":
        from firmware.hal.norflash import NorFlash
        path = part["label"]
        if image_dir and not path.startswith("/"):
            path = image_dir.rstrip("/") + "/" + path
        return NorFlash(block_size=block_size, block_count=part["block_count"], path=path)
    raise FlashError("no flash driver for platform %r" % platform)


class Stm32Partition:
    """pyb.Flash (512-byte native blocks, return codes) seen as erase-sized blocks that raise."""

    prog_size = 4     # STM32F4 internal flash is programmed in 32-bit words

    def __init__(self, flash, block_size):
        self._flash = flash
        self._native = flash.ioctl(5, 0)
        self._bs = block_size
        self._count = flash.ioctl(4, 0) * self._native // block_size
        self._ff = b"\xff" * self._native

    def _check(self, ret, what, n):
        if ret:
            raise FlashError("flash %s of block %d failed (%r)" % (what, n, ret))

    def readblocks(self, n, buf, off=0):
        at = n * self._bs + off
        self._check(self._flash.readblocks(at // self._native, buf, at % self._native), "read", n)

    def writeblocks(self, n, buf, off=0):
        at = n * self._bs + off
        self._check(self._flash.writeblocks(at // self._native, buf, at % self._native),
                    "write", n)

    def ioctl(self, op, arg=0):
        if op == 4:
            return self._count
        if op == 5:
            return self._bs
        if op == 6:
            first = arg * self._bs // self._native
            for b in range(first, first + self._bs // self._native):
                self._check(self._flash.writeblocks(b, self._ff), "erase", arg)
            self._flash.ioctl(3, 0)
            return 0
        return self._flash.ioctl(op, arg)
