"""Restart the board (AFN01 F1 hardware reset from the master station).

ESP32 and STM32: machine.reset(). The virtual board (unix port, no machine.reset): sys.exit(),
which the virtual board's agent turns into a soft reset that runs boot.py and main.py again.
"""
import sys


def reset():
    try:
        import machine
        machine.reset()
    except (ImportError, AttributeError):
        sys.exit()
