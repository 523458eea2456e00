"""ROMFS images (MicroPython's VfsRom, mounted at /rom): the firmware's .mpy files packed so a
board executes their bytecode in place, from flash, instead of loading it into its heap.

    image = build_image({"firmware/main.mpy": b"...", ...})
    deploy(board, image)          # over the REPL with vfs.rom_ioctl, unless it is there already

The image format is mpremote's VfsRomWriter (the pinned mpremote package): the same writer
`mpremote romfs build` uses.
"""
import base64
import hashlib

WRITE_CHUNK = 2048     # bytes per vfs.rom_ioctl write over the REPL (sent as base64)


def build_image(files):
    """The ROMFS image of {path with '/': bytes}: folders as the paths say, sorted."""
    from mpremote.romfs import VfsRomWriter
    tree = {}
    for path, data in files.items():
        node = tree
        parts = path.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = data
    writer = VfsRomWriter()

    def add(node):
        for name in sorted(node):
            if isinstance(node[name], dict):
                writer.opendir(name)
                add(node[name])
                writer.closedir()
            else:
                writer.mkfile(name, node[name])

    add(tree)
    return writer.finalise()


def board_image_digest(board, length):
    """sha256 (hex) of the first `length` bytes of the board's ROMFS segment; None without one."""
    code = ("import vfs, hashlib, binascii\ntry:\n _r = vfs.rom_ioctl(2, 0)\nexcept Exception:\n"
            " _r = None\nprint(None if _r is None or len(_r) < %d else "
            "binascii.hexlify(hashlib.sha256(_r[:%d]).digest()).decode())\ndel _r" % (length, length))
    text = board.exec(code).strip()
    return None if text == "None" else text


def segment_size(board):
    return int(board.eval("len(__import__('vfs').rom_ioctl(2, 0))"))


def deploy(board, image, writer=None, progress=None):
    """Put `image` in the board's ROMFS segment unless it holds it already; True if written.
    `writer(image)` writes it another way (the emulated board's flash file); by default it
    goes over the REPL with vfs.rom_ioctl."""
    if board_image_digest(board, len(image)) == hashlib.sha256(image).hexdigest():
        return False
    size = segment_size(board)
    if len(image) > size:
        raise ValueError("the ROMFS image is %d bytes, the board's ROMFS segment %d" % (
            len(image), size))
    # /rom must not be in use while its bytes change: unmounted here, mounted again at reset
    board.exec("import vfs\ntry:\n vfs.umount('/rom')\nexcept OSError:\n pass")
    if writer is not None:
        writer(image)
    else:
        min_write = int(board.eval("__import__('vfs').rom_ioctl(3, 0, %d)" % len(image)))
        padded = image + b"\xff" * (-len(image) % max(min_write, 1))
        for off in range(0, len(padded), WRITE_CHUNK):
            chunk = base64.b64encode(padded[off:off + WRITE_CHUNK]).decode()
            board.exec("import vfs, binascii\nvfs.rom_ioctl(4, 0, %d, binascii.a2b_base64(%r))"
                       % (off, chunk))
            if progress:
                progress(min(WRITE_CHUNK, len(image) - off))
        board.eval("__import__('vfs').rom_ioctl(5, 0)")
    if board_image_digest(board, len(image)) != hashlib.sha256(image).hexdigest():
        raise OSError("the board's ROMFS segment does not read back as the image written")
    return True
