"""The few names that differ between MicroPython and CPython.

Board code imports `const` from here so CPython can import protocol/ too; on MicroPython the
real `micropython.const` lets the compiler fold the constants away.

`viper`, `ptr8` and `ptr32` serve the kernel's hot path (firmware/kernel.py). In the source, a
function marked `@viper` is plain Python that indexes a bytearray (`ptr8(buf)`) and an
array('I') (`ptr32(buf)`): that is how CPython, and MicroPython from the source or from a
bytecode build, run it. For a board CPU with a native emitter, host_tools/build.py compiles the
mark as `@micropython.viper`: machine code, where `ptr8` and `ptr32` are the compiler's pointer
casts (these globals are then never looked up).
"""
import sys

try:
    from micropython import const  # pyright: ignore[reportAssignmentType] - the stubs' const is positional-only
except ImportError:  # CPython

    def const(value):
        return value


def viper(fn):
    return fn


def ptr8(buf):
    return buf


ptr32 = ptr8

MICROPYTHON = sys.implementation.name == "micropython"

