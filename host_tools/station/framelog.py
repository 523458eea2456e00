"""Every frame the front end receives and sends, for the engineer debugging a terminal.

    taps = FrameTap(log_frames=True, capture="session.txt", clock=time.time)
    taps.frame("4101-42", "in", raw)        # Link calls this for each whole frame in and out
    taps.close()

- `log_frames` (`conc station serve -vv`): one DEBUG line per frame on the
  `host_tools.station.frames` logger: the terminal, the direction (`in` from the terminal,
  `out` to it), the bytes as hex and a one-line summary (AFN, Fn list, function), the same
  summary `conc decode` prints.
- `capture` (`--capture FILE`): one line per frame, `HEX  # TIME TERMINAL DIRECTION`, appended
  and flushed as it happens. `#` starts a comment for `conc decode`, so `conc decode --file
  FILE` (or `--json`) explains the whole session later, frame by frame, in order.

The PW travels in downlink frames (AUX) and is kept in the capture, as on the wire: a capture
file is as sensitive as the link itself (created 0600).
"""
import datetime
import logging
import os
import time

log = logging.getLogger("host_tools.station.frames")


def summary(raw):
    """One line naming what a 1376.1 frame is, e.g. `up AFN02 link test p0 F3 heartbeat (link
    test)`: direction, AFN, each unit's Pn, Fn and name, the C function."""
    from protocol import gw376
    from protocol.errors import ProtocolError
    try:
        frame = gw376.parse(raw)
    except ProtocolError as exc:
        return "unreadable: %s" % exc
    from protocol.gw376_describe import describe
    fields = describe(frame)
    units = ", ".join(("p%s F%d %s" % (u["pn"], u["fn"], u["name"])).rstrip()
                      for u in fields["units"]) or "no units"
    return "%s AFN%s %s %s (%s)%s" % (fields["direction"], fields["afn"], fields["afn_name"],
                                      units, fields["function_name"],
                                      " ACD" if frame.acd else "")


class FrameTap:
    """Frame lines for `-vv` and the `--capture` file (see the module docstring)."""

    def __init__(self, log_frames=False, capture=None, clock=time.time):
        self.log_frames = log_frames
        self.clock = clock
        self.file = None
        if capture:
            fd = os.open(capture, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self.file = os.fdopen(fd, "a", buffering=1, encoding="ascii")

    @property
    def active(self):
        return self.log_frames or self.file is not None

    def frame(self, terminal, direction, raw):
        if self.file is not None:
            at = datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc)
            self.file.write("%s  # %s %s %s\n" % (bytes(raw).hex().upper(),
                                                   at.isoformat(timespec="milliseconds"),
                                                   terminal, direction))
        if self.log_frames and log.isEnabledFor(logging.DEBUG):
            log.debug("%s %-3s %s  %s", terminal, direction, bytes(raw).hex().upper(),
                      summary(raw))

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None
