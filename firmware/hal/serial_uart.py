"""A serial port on machine.UART with an RS-485 direction pin (ESP32, STM32). The interface is
firmware/hal/serial.py's.
"""
import sys

from firmware.hal.serial import Echo, Port, bits_per_char


class UartPort(Port):
    """machine.UART with an RS-485 direction pin (ESP32, STM32)."""

    def __init__(self, uart, tx, rx, de=None, de_active_high=True, baud=2400, parity="E",
                 stop_bits=1, echo=False):
        import machine
        par = None if parity == "N" else (0 if parity == "E" else 1)
        if sys.platform == "esp32":
            self.uart = machine.UART(uart, baudrate=baud, bits=8, parity=par, stop=stop_bits,
                                     tx=tx, rx=rx, timeout=0, rxbuf=512)
        else:
            self.uart = machine.UART(uart, baudrate=baud, bits=8, parity=par, stop=stop_bits,  # pyright: ignore[reportCallIssue] - the ESP32 UART takes these (the stubs' overloads do not match)
                                     timeout=0, read_buf_len=512)
        self.de = machine.Pin(de, machine.Pin.OUT) if de is not None else None
        self.de_on = 1 if de_active_high else 0
        if self.de is not None:
            self.de.value(1 - self.de_on)
        self.char_us = bits_per_char(parity, stop_bits) * 1000000 // baud
        self.pollable = self.uart
        self._echo = Echo() if echo else None

    def _read(self, buf):
        # UART.readinto returns None when nothing is waiting; any() avoids the timeout path.
        return self.uart.readinto(buf) if self.uart.any() else 0

    def _send(self, buf):
        import time
        if self.de is not None:
            self.de.value(self.de_on)
        n = self.uart.write(buf)
        # Hold the bus until the last stop bit is out, then release it at once: a meter may
        # answer after as little as 20 ms, and a late release would collide with its reply.
        if hasattr(self.uart, "flush"):
            self.uart.flush()
        else:
            while not self.uart.txdone():
                pass
        time.sleep_us(self.char_us)
        if self.de is not None:
            self.de.value(1 - self.de_on)
        return n

    def close(self):
        self.uart.deinit()
