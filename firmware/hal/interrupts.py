"""Ctrl-C held off while the firmware writes what must not be cut (its stop marker).

A board raises KeyboardInterrupt between any two bytecodes when Ctrl-C arrives on its REPL UART,
and the USB transport sends several while it waits for the raw REPL (host_tools/usb.py): one
landing in the middle of the stop marker means a remount and a second try, and enough of them
leave no marker at all. micropython.kbd_intr(-1) makes Ctrl-C an ordinary character until it
is turned back on, so the REPL reads it afterwards and nothing is lost.

The unix port (the virtual board) is left alone: there kbd_intr(-1) gives SIGINT its default
action, which kills the interpreter, and the virtual board's agent delivers Ctrl-C only while the
interpreter waits in a system call, never inside a write (host_tools/vboard/agent_process.py).
"""
import sys

import micropython

CTRL_C = 3

# Chosen once here, not tested in the functions: MicroPython raises a pending KeyboardInterrupt
# at the next branch, and hold() must reach kbd_intr(-1) without one (concentrator.stopped()).
if sys.platform != "linux":
    def hold():
        micropython.kbd_intr(-1)

    def release():
        micropython.kbd_intr(CTRL_C)
else:
    def hold():
        pass

    def release():
        pass
