"""Transparent forwarding (Q/GDW 1376.1 AFN10 F1): bytes from the master station sent on a local
bus as they are, and whatever comes back.

    data = await poller.forward(bus, data, timeout_ms, byte_timeout_ms)
    # the reply's bytes (b"" when nothing came back), or None: no polled bus of that number,
    # another forward still waiting, or the bus task did not get to it in time

The bus belongs to its task (firmware/poller.py), so a forward waits for it as a relay command
does: the caller's task (the uplink) asks the bus task through its queue
(BusPoller.ask_forward) and pends on a semaphore; the bus task carries the request out between two meters (at once when idle), at the
bus's own line settings, and posts the semaphore. The reply ends after `byte_timeout_ms` of
silence following its first byte, at `timeout_ms` when nothing comes, or at MAX_REPLY bytes.
A caller that stops waiting (its pend timed out) leaves nothing behind: a bus task that comes
to the request later finds it withdrawn.

Loaded on the first forward: the master station asks for one rarely.
"""
from firmware.kernel import OS_IO_READ
from protocol.compat import const

MAX_REPLY = const(255)          # the AFN10 F1 reply carries a 2-byte length; one frame is plenty
_QUEUE_SLACK_MS = const(5000)   # the bus may be in the middle of a meter's retries


class Forwarder:
    def __init__(self, poller):
        self.poller = poller
        self._done = poller.kernel.sem_create(0)
        self._request = None        # [bus, data, timeout_ms, byte_timeout_ms, reply]
        self.forwarded = 0

    async def forward(self, bus, data, timeout_ms, byte_timeout_ms):
        k = self.poller.kernel
        bp = self.poller.buses.get(bus)
        if bp is None or self._request is not None:
            return None
        request = [bus, bytes(data), timeout_ms, byte_timeout_ms, None]
        self._request = request
        if bp.ask_forward():                    # the queue is full of relay commands
            self._request = None
            return None
        await k.sem_pend(self._done, timeout_ms + _QUEUE_SLACK_MS)
        self._request = None
        return request[4]

    async def execute(self, bus_poller):
        """The bus task's side: send the waiting request, collect the reply, wake the caller."""
        request = self._request
        if request is None or request[0] != bus_poller.bus:
            return                  # withdrawn meanwhile
        request[4] = await _exchange(bus_poller.link, request[1], request[2], request[3])
        self.forwarded += 1
        if self._request is request:
            self.poller.kernel.sem_post(self._done)


async def _exchange(link, data, timeout_ms, byte_timeout_ms):
    port = link.port
    clock = link.clock
    buf = link.rx
    link.drain()
    port.write(data)
    reply = bytearray()
    t0 = clock.ticks_ms()
    last = None                     # when the latest byte came
    while len(reply) < MAX_REPLY:
        n = port.readinto(buf)
        now = clock.ticks_ms()
        if n:
            reply.extend(buf[:n])
            last = now
            continue
        if last is None:
            left = timeout_ms - clock.ticks_diff(now, t0)
        else:
            left = byte_timeout_ms - clock.ticks_diff(now, last)
        if left <= 0:
            break
        await link.k.io_wait(port.pollable, OS_IO_READ, left)
    return bytes(reply[:MAX_REPLY])
