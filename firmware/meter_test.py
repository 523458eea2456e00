"""`conc meters test`: one meter read once, now, with the poller's own read transaction, and
what went wrong in words an installer can act on.

    result = read_once(reader, point, entry, slot, plan, clock)      # async: the result dict

    result = await poller.tester.test(point, timeout_ms)    # through the running bus task

In the running firmware the bus belongs to its task (firmware/poller.py), so a test waits for
it as a forward does (firmware/forwarding.py): the caller (firmware/usb_api.py, in the heap of
the firmware a `conc` command has just interrupted) asks the point's bus task
(BusPoller.ask_test) and pends on a semaphore; the bus task reads the meter between two meters of its cycle, on the port
it already holds, and posts the semaphore. Nothing is logged: a test read is not a reading.

Loaded on the first test.
"""
from firmware.bus_link import OK
from protocol.compat import const

_QUEUE_SLACK_MS = const(5000)   # the bus may be in the middle of a meter's retries


async def read_once(reader, point, entry, slot, plan, clock):
    """Read the real-time plan of the meter at `point` (`entry`: its archive entry, `slot`:
    its archive slot) once; the result document `conc meters test` prints."""
    from firmware import quantities as qs
    out = {"point": point, "bus": entry["bus"], "address": entry["address"],
           "protocol": entry["protocol"], "ok": False, "latency_ms": None, "values": {}}
    link = reader.link
    state = reader.state
    before = link.stats()
    # a wiring check gets the retries even for a meter the poller has given up retrying
    fails = state.fails[point]
    state.fails[point] = 0
    t0 = clock.ticks_ms()
    try:
        err = await reader.read(point, slot[1], slot, plan, qs.REALTIME)
    finally:
        state.fails[point] = fails
    out["latency_ms"] = clock.ticks_diff(clock.ticks_ms(), t0)
    values = {}
    for i in range(reader.count):
        values[qs.describe(reader.items[i])[1]] = reader.values[i]
    out["values"] = values
    after = link.stats()
    out["requests"] = after["requests"] - before["requests"]
    out["replies"] = after["replies"] - before["replies"]
    if err == OK and not link.abnormal:
        out["ok"] = True
    elif err == OK:
        out["problem"] = "the meter refused the request (error bits 0x%02x)" % link.error
    elif after["garbled"] > before["garbled"]:
        out["problem"] = "garbled replies (%d): check baud, parity and wiring" % (
            after["garbled"] - before["garbled"])
    elif after["stray"] > before["stray"]:
        out["problem"] = "replies from another address (%d): check the address" % (
            after["stray"] - before["stray"])
    else:
        out["problem"] = "no reply: check the address, wiring (A/B) and baud rate"
    return out


class MeterTest:
    """The poller's side of `conc meters test` (Poller.tester)."""

    def __init__(self, poller):
        self.poller = poller
        self._done = poller.kernel.sem_create(0)
        self._request = None        # [point, entry, result]

    async def test(self, point, timeout_ms):
        """The result of reading `point` through its bus task; None when the bus task did not
        get to it within timeout_ms (or another test is waiting)."""
        p = self.poller
        k = p.kernel
        entry = p.archive.get(point)
        if entry is None:
            return {"point": point, "ok": False, "problem": "no meter at point %d" % point}
        bp = p.buses.get(entry["bus"])
        if bp is None:
            return {"point": point, "bus": entry["bus"], "address": entry["address"],
                    "ok": False, "problem": "bus %d has no device attached" % entry["bus"]}
        if self._request is not None:
            return None
        request = [point, entry, None]
        self._request = request
        if bp.ask_test():                       # the queue is full of relay commands
            self._request = None
            return None
        await k.sem_pend(self._done, timeout_ms + _QUEUE_SLACK_MS)
        self._request = None
        return request[2]

    async def execute(self, bus_poller):
        """The bus task's side: read the meter, wake the caller."""
        request = self._request
        if request is None or request[1]["bus"] != bus_poller.bus:
            return                  # withdrawn meanwhile
        p = self.poller
        point = request[0]
        request[2] = await read_once(bus_poller.reader, point, request[1],
                                     bus_poller.slot_of(point), p.plans.realtime, p.clock)
        if self._request is request:
            p.kernel.sem_post(self._done)
