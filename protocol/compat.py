"""The few names that differ between MicroPython and CPython.

Board code imports `const` from here so CPython can import protocol/ too; on MicroPython the
real `micropython.const` lets the compiler fold the constants away.
"""
import sys

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


MICROPYTHON = sys.implementation.name == "micropython"
