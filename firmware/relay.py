"""Remote relay control of DL/T 645-2007 meters: a command queue per bus, confirmation, event.

    err = poller.relay.submit(point, "trip")        # or "permit_close", "direct_close", an N1 code
    # OS_ERR_NONE queued; OS_ERR_Q_FULL (8 waiting on that bus); ProtocolError for an unknown
    # command (it names the known ones), ValueError for a point with no meter on a polled bus

The uplink (AFN05) and USB commands feed `submit`; the point's bus task carries the command out
between two meters (or at once when idle): 0x1C with the meter's password from the archive and
an expiry a day ahead on the concentrator's clock, then status word 3 (04000503) is read and
bit 4 (relay open) must show the commanded state (trip: open; close: closed). Permit-close
lets the customer close the relay by a button press, so "closed" is confirmed only when the
meter reports it closed; otherwise the outcome is "unconfirmed". Status word 3 is read before
the command too, and the word read back is recorded as the standard's ERC33 (meter status word
change, firmware/events.py), reported like any other event, so any master sees the relay state.
`count` and `last` tell the uplink the outcome of the command it queued (AFN05 is answered with
it when it comes within the master's timeout).
"""
from firmware import events as ev
from firmware.bus_link import OK
from firmware.meter_reader import P2007
from protocol.compat import const

STATUS3_DI = const(0x04000503)
STATUS3_RELAY_OPEN = const(0x0010)      # bit 4 (protocol.dlt645_items.STATUS3_RELAY_OPEN)


class RelayControl:
    def __init__(self, poller):
        self.poller = poller
        self.last = None            # (point, command, outcome name, status word 3)
        self.count = 0              # commands carried out
        self.last_outcome = None    # RELAY_* of the last one

    def submit(self, point, command):
        from protocol import dlt645     # relay commands are rare: the codec loads on demand
        code = dlt645.relay_command_code(command)
        p = self.poller
        bus = p.archive.bus(point) if point <= p.state.points else 0
        bp = p.buses.get(bus)
        if bp is None:
            raise ValueError("measuring point %r has no meter on a polled bus" % (point,))
        return p.kernel.q_post(bp.queue, point << 8 | code)

    async def execute(self, bus_poller, point, code):
        from protocol import dlt645
        p = self.poller
        entry = p.archive.get(point)
        outcome = ev.RELAY_NO_REPLY
        status3 = None
        before = None
        if entry is None or entry["protocol"] != "dlt645":
            outcome = ev.RELAY_REFUSED
        else:
            link = bus_poller.link
            frame = dlt645.build_relay(entry["address"], code, _tomorrow(p.wall.now()),
                                       entry["password"])
            slot = bus_poller.slot_of(point)
            link.set_meter(slot)
            before = await bus_poller.reader.read_value(P2007, slot, STATUS3_DI, 2, 2)
            if await link.command645(frame, dlt645.RELAY, 16) == OK:
                if link.abnormal:
                    outcome = ev.RELAY_REFUSED
                    status3 = link.error
                else:
                    status3 = await bus_poller.reader.read_value(P2007, slot, STATUS3_DI, 2, 2)
                    opened = status3 is not None and bool(status3 & STATUS3_RELAY_OPEN)
                    want_open = code == dlt645.RELAY_TRIP
                    outcome = (ev.RELAY_CONFIRMED if status3 is not None and opened == want_open
                               else ev.RELAY_UNCONFIRMED)
        if outcome == ev.RELAY_CONFIRMED or outcome == ev.RELAY_UNCONFIRMED and \
                status3 is not None:
            p.events.status_word_3(point, before, status3, p.wall.now())
        self.last = (point, code, ev.RELAY_OUTCOMES[outcome], status3)
        self.last_outcome = outcome
        self.count += 1
        return outcome


def _tomorrow(now):
    from protocol import clock_math
    return clock_math.from_seconds(now + 86400)[:6]
