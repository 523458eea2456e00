"""A meter relay switched through any 1376.1 terminal: DL/T 645 0x1C by AFN10 F1 forwarding.

    state, detail = await switch(link, point, kind, now)   # kind "trip" / "close"

The standard's way for a master to operate a meter's built-in relay through a terminal that
does not map AFN05 to measuring points (ours does; many do not): the station builds the
DL/T 645-2007 relay command itself (N1 1A trip / 1B permit close, the meter's password from the
archive, valid one day on the station's clock), the terminal forwards it on the meter's port
(AFN10 F1) and returns the meter's answer; then status word 3 (04000503) is read the same way
and bit 4 (relay open) must show the commanded state. Returns ("confirmed" | "failed",
detail); a terminal that denies or does not answer raises the session's error (Denied,
ResponseTimeout), as for AFN05.
"""
import datetime

from protocol import dlt645
from protocol.errors import ProtocolError

STATUS3_DI = 0x04000503
STATUS3_RELAY_OPEN = 0x0010           # bit 4 (protocol.dlt645_items)
FRAME_TIMEOUT_S = 3                   # the meter's answer, as the terminal waits for it
BYTE_TIMEOUT_10MS = 10


async def forward(link, port, data):
    """The meter's reply frame to `data` forwarded on `port`, parsed; None without one."""
    units = await link.request(0x10, [(0, 1, {
        "port": port, "control": 0, "frame_timeout_in_s": 1,
        "frame_timeout": FRAME_TIMEOUT_S, "byte_timeout_10ms": BYTE_TIMEOUT_10MS,
        "data": bytes(data)})])
    for _, fn, value in units:
        if fn == 1 and isinstance(value, dict) and value.get("data"):
            try:
                return dlt645.parse_frame(value["data"])
            except ProtocolError:
                return None
    return None


async def switch(link, point, kind, now):
    """Send the relay command to `point` (a MeasuringPoint) and read status word 3 back."""
    code = dlt645.RELAY_TRIP if kind == "trip" else dlt645.RELAY_PERMIT_CLOSE
    expiry = now + datetime.timedelta(days=1)
    command = dlt645.build_relay(point.meter_address, code,
                                 (expiry.year, expiry.month, expiry.day, expiry.hour,
                                  expiry.minute, expiry.second),
                                 point.meter_password[:8])
    reply = await forward(link, point.port, command)
    if reply is None:
        return "failed", "AFN10 F1: no answer from meter %s to 0x1C" % point.meter_address
    if reply.abnormal:
        return "failed", "AFN10 F1: meter %s refused 0x1C (%s)" % (
            point.meter_address, ", ".join(reply.error_names()) or "error")
    status = await forward(link, point.port, dlt645.build_read(point.meter_address,
                                                               STATUS3_DI))
    if status is None or status.abnormal or status.payload is None or \
            len(status.payload) < 2:
        return "failed", "AFN10 F1: meter %s took 0x1C but status word 3 could not be read" \
            % point.meter_address
    word = status.payload[0] | status.payload[1] << 8
    opened = bool(word & STATUS3_RELAY_OPEN)
    return ("confirmed" if opened == (kind == "trip") else "failed",
            "AFN10 F1: status word 3 = %04X: relay %s" % (word, "open" if opened else "closed"))
