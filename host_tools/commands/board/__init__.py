"""Boards without hardware: run the concentrator firmware on a virtual board.

A virtual board is the MicroPython unix port behind a pty that speaks the REPL protocol of a
USB-attached board, so `conc flash`, the other USB commands and mpremote work on it unchanged.
"""
