"""Pure codecs shared by the concentrator firmware and the host tools.

No I/O and no clocks: everything here runs unchanged on CPython and MicroPython.
"""
