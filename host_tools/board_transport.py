"""mpremote's SerialTransport, reading a command's answer in bulk.

mpremote reads the answer of every command one byte per call; a board's answer of a few
kilobytes (a chunk of pulled rows, a piece of a file) then costs the host more time than its
transfer (10x for long answers). BoardTransport reads what the port holds at once and keeps
everything else of mpremote's: entering raw-paste mode, its fallback to the plain raw REPL,
exec/eval and the fs_* file methods, which all run through `follow`.
"""
import time

from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

PROMPT = b">"   # the raw REPL's prompt, sent after each answer


class BoardTransport(SerialTransport):
    def __init__(self, device, baudrate=115200):
        super().__init__(device, baudrate=baudrate)
        # Whether the bulk read of the last answer took the next '>' prompt along.
        self.prompt_read = False

    def read_until(self, min_num_bytes, ending, timeout=10, data_consumer=None,
                   timeout_overall=None):
        # A command waits for the prompt first (exec_raw_no_follow): it may have been read.
        if ending == PROMPT and self.prompt_read:
            self.prompt_read = False
            return PROMPT
        # Anything else the host waits for (a banner, a soft reboot) comes with a new prompt.
        self.prompt_read = False
        return super().read_until(min_num_bytes, ending, timeout, data_consumer,
                                  timeout_overall)

    def follow(self, timeout, data_consumer=None):
        """(output, error) of a command: output up to \\x04, error up to the next \\x04;
        `data_consumer` gets the output as it comes. TransportError after `timeout` seconds
        of silence."""
        serial = self.serial
        buf = bytearray()
        streamed = 0
        last = time.monotonic()
        while True:
            first = buf.find(b"\x04")
            if data_consumer is not None:
                end = len(buf) if first < 0 else first
                if end > streamed:
                    data_consumer(bytes(buf[streamed:end]))
                    streamed = end
            if first >= 0:
                second = buf.find(b"\x04", first + 1)
                if second >= 0:
                    break
            chunk = serial.read(serial.in_waiting or 1)  # pyright: ignore[reportAttributeAccessIssue] - a pyserial port
            if chunk:
                buf += chunk
                last = time.monotonic()
            elif time.monotonic() - last > timeout:
                raise TransportError("timeout waiting for the board's answer")
        # After its answer the board sends only the prompt; it may have come along.
        self.prompt_read = buf[second + 1:second + 2] == PROMPT
        return bytes(buf[:first]), bytes(buf[first + 1:second])
