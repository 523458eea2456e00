"""The flash image files of a virtual board: its state, kept across runs in one folder.

`root.img` holds the littlefs root filesystem (what `conc flash` and `mpremote fs` write);
`romfs.img` the ROMFS segment (the firmware's code, mapped outside the heap: rom_segment.py); the
data partition image (named by the board config's `data_partition.label`) holds the ring
log. Both start fully erased (0xFF), as new NOR flash. A lock file stops two virtual boards
from sharing one folder, which would corrupt both filesystems.
"""
import fcntl
import os
from pathlib import Path

from host_tools.errors import EXIT_DEVICE, CliError

ERASED_CHUNK = b"\xff" * 65536
ROOT_IMAGE = "root.img"
ROOT_BLOCK_SIZE = 4096
ROOT_BLOCKS = 256          # 1 MiB root filesystem, about what an ESP32 leaves for littlefs
LOCK_FILE = ".lock"
ROM_IMAGE = "romfs.img"    # host_tools/vboard/rom_segment.py maps it
ROM_SIZE = 1024 * 1024     # as qemu_m4's ROMFS region


def _create_erased(path, size):
    """Create `path` as `size` bytes of 0xFF, atomically: a crash never leaves a short image."""
    tmp = path.with_name(path.name + ".new")
    with open(tmp, "wb") as f:
        left = size
        while left:
            chunk = ERASED_CHUNK[:min(left, len(ERASED_CHUNK))]
            f.write(chunk)
            left -= len(chunk)
    os.replace(tmp, path)


class BoardImages:
    """The image folder of one virtual board; `lock()` before use, `unlock()` after."""

    def __init__(self, directory, board_config):
        self.directory = Path(directory).resolve()
        part = board_config["data_partition"]
        self.data_block_size = part["block_size"]
        self.data_blocks = part.get("block_count", 256)
        self.root = self.directory / ROOT_IMAGE
        self.root_blocks = ROOT_BLOCKS
        self.root_block_size = ROOT_BLOCK_SIZE
        self.rom = self.directory / ROM_IMAGE
        self.data = self.directory / part["label"]
        self._lock_fd = None

    def lock(self):
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError("cannot create the image folder %s: %s" % (self.directory, exc.strerror),
                           EXIT_DEVICE) from None
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise CliError("the images in %s are in use by another virtual board (pid %s): stop it, "
                           "or give this one its own --image folder" % (self.directory, owner),
                           EXIT_DEVICE) from None
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())
        self._lock_fd = fd

    def unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def ensure(self):
        """Create missing images (erased); existing ones are kept as they are: that is the
        board's state. A wrong-sized data image is an error, not something to 'fix'."""
        if not self.root.exists():
            _create_erased(self.root, ROOT_BLOCKS * ROOT_BLOCK_SIZE)
        if not self.rom.exists():
            _create_erased(self.rom, ROM_SIZE)
        data_size = self.data_blocks * self.data_block_size
        if not self.data.exists():
            _create_erased(self.data, data_size)
        elif self.data.stat().st_size != data_size:
            raise CliError("%s is %d bytes but the board config's data partition is %d blocks of "
                           "%d bytes: use another --image folder or delete the image to start "
                           "afresh" % (self.data, self.data.stat().st_size, self.data_blocks,
                                       self.data_block_size), EXIT_DEVICE)
