"""The master's control of the terminal: its clock and its meters' relays (AFN05 F31, F1, F2: in
our mapping AFN05 F1/F2's Pn is the measuring point whose meter relay is tripped / permitted to
close, where the standard's Pn is the terminal's own control round; docs/gw376.md) and
transparent forwarding to its buses (AFN10 F1). Loaded only while one such request is answered
(firmware/terminal.py unloads it again), apart from the settings' administration
(firmware/terminal_admin.py) that a clock set never needs. Every function takes the Terminal as
`term` and returns the reply frames, or None for a denial.
"""
from protocol import clock_math, gw376


# --- AFN05: control ------------------------------------------------------------------------
async def control(term, frame):
    if len(frame.units) != 1:
        return None
    pn, fn, value = frame.units[0]
    if fn == 31:
        if value is None:
            return None
        new = clock_math.to_seconds(value[0], value[1], value[2], value[3], value[4],
                                    value[5])
        old = term.wall.set(new)
        if term.log is not None:
            from firmware.log_records import MARK_CLOCK_SET, append_marker
            append_marker(term.log, new, MARK_CLOCK_SET,
                          bytes((old & 0xFF, (old >> 8) & 0xFF, (old >> 16) & 0xFF,
                                 (old >> 24) & 0xFF)))
        if term.on_clock_set is not None:
            term.on_clock_set(old, new)
        return [gw376.confirm(frame)]
    command = "trip" if fn == 1 else "permit_close" if fn == 2 else None
    if command is None or term.relay is None or pn == 0:
        return None
    start = getattr(term.relay, "count", 0)
    err = term.relay.submit(pn, command)
    if err:
        return None
    outcome = await relay_outcome(term, pn, start)
    if outcome is None or outcome == 0:
        return [gw376.confirm(frame)]      # confirmed, or queued: ERC33 will tell
    return None     # refused by the meter, no reply, or its status word disagrees


async def relay_outcome(term, point, start):
    """Wait (within the master's response timeout) for the outcome of the command queued after
    `start` commands (firmware/relay.py count, last_outcome): 0 confirmed, else why not."""
    if term.kernel is None:
        return None
    relay = term.relay
    waited = 0
    limit = max(1000, term.settings["comm.response_timeout_s"] * 1000 - 2000)
    while waited < limit:
        if relay.count > start and relay.last is not None and relay.last[0] == point:
            return relay.last_outcome
        await term.kernel.time_dly(200)
        waited += 200
    return None


# --- AFN10: transparent forwarding -------------------------------------------------------
async def forward(term, frame):
    if term.forwarder is None or len(frame.units) != 1:
        return None
    _, fn, value = frame.units[0]
    if fn != 1 or value is None:
        return None
    unit = 1000 if value["frame_timeout_in_s"] else 10
    timeout_ms = value["frame_timeout"] * unit or 1000
    data = await term.forwarder.forward(value["port"], value["data"], timeout_ms,
                                        value["byte_timeout_10ms"] * 10 or 100)
    if data is None:                # no such bus, or it is busy with another forward: deny
        return None
    return term._reply(frame, [(0, 1, {"port": value["port"], "data": bytes(data)})])
