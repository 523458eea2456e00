"""The few names that differ between MicroPython and CPython.

Board code imports `const` from here so CPython can import protocol/ too; on MicroPython the
real `micropython.const` lets the compiler fold the constants away.

`micropython` and the viper pointer casts serve the kernel's hot path (firmware/kernel.py):
MicroPython compiles `@micropython.viper` functions to machine code, where `ptr8(buf)` and
`ptr32(buf)` are casts the compiler resolves (these globals are never looked up there). Run as
plain Python - on CPython, or from a build for a CPU MicroPython has no native emitter for
(host_tools/build.py drops the decorator) - the same functions index the buffers themselves,
so a viper function only ever casts a bytearray to ptr8 and an array('I') to ptr32.
"""
import sys

try:
    import micropython
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value

    class micropython:  # noqa: N801 - stands in for the module
        @staticmethod
        def viper(fn):
            return fn


def ptr8(buf):
    return buf


ptr32 = ptr8

MICROPYTHON = sys.implementation.name == "micropython"
