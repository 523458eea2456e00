"""Ctrl-C held off while the firmware writes what must not be cut (its stop marker).

A board raises KeyboardInterrupt when Ctrl-C arrives on its REPL UART, and the USB transport
sends several while it waits for the raw REPL (host_tools/usb.py): one landing in the middle of
the stop marker would cut it short. micropython.kbd_intr(-1) makes Ctrl-C an ordinary character
until it is turned back on, so the REPL reads it afterwards and nothing is lost.

kbd_intr(-1) stops only the Ctrl-Cs still to come. One that arrived before it is pending, and
MicroPython raises a pending exception at the next jump of the bytecode, whichever code that is:
the `except KeyboardInterrupt` clause that catches the first Ctrl-C begins with one (the test
of the exception's type), and a second Ctrl-C raised there leaves the handler before it has
written anything. hold() therefore takes a pending one itself, where it is expected.

The unix port (the virtual board) keeps Ctrl-C on: there kbd_intr(-1) gives SIGINT its default
action, which kills the interpreter, and the virtual board's agent delivers Ctrl-C only while the
interpreter waits in a system call, never inside a write (host_tools/vboard/agent_process.py).
"""
import sys

import micropython

CTRL_C = 3
_ONCE = (0,)


def _take_pending():
    # The loop's jump back is where MicroPython raises a KeyboardInterrupt still pending.
    try:
        for _ in _ONCE:
            pass
    except KeyboardInterrupt:
        pass


# Chosen once here, not tested in the functions: a test is a jump, and hold() must reach
# kbd_intr(-1) and then _take_pending() before any jump of its own.
if sys.platform != "linux":
    def hold():
        """Ctrl-C off until release(); a Ctrl-C pending from before is taken here."""
        micropython.kbd_intr(-1)
        _take_pending()

    def release():
        micropython.kbd_intr(CTRL_C)
else:
    def hold():
        """(The unix port keeps Ctrl-C on; a Ctrl-C pending is still taken here.)"""
        _take_pending()

    def release():
        pass
