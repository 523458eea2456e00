"""Modbus RTU meters on a bus: the read transaction and the plan read through a register map.

Loaded by firmware/meter_reader.py the first time a Modbus meter is polled, so a bus of
DL/T 645 meters never holds this code (nor protocol/modbus_map.py). A meter's map
(protocol/maps/<name>.json) is loaded once per map name and the plan's quantities it holds are
grouped into as few read requests as the map allows; each request waits for exactly the reply
length the request implies (5 + 2 x registers, 5 for an exception), with the same timeouts,
silence rule and retries as DL/T 645 (firmware/bus_link.py).
"""
from firmware.kernel import OS_IO_READ
from firmware.bus_link import NO_REPLY, OK
from firmware.unloading import forget_tables
from protocol import modbus_map
from protocol.modbus import crc16


async def transact(link, request, unit, function, count):
    """Send a read request; OK with the reply in link.mb[:link.mb_len] (exception: abnormal)."""
    expect = 5 + 2 * count
    timeout = link.timeout_ms(len(request), expect)
    mb = link.mb
    if mb is None:
        mb = link.mb = bytearray(256)
    rx = link.rx
    clock = link.clock
    for attempt in range(link.retries + 1):
        if attempt:
            link.retried += 1
        link.drain()
        link.requests += 1
        link.port.write(request)
        t0 = clock.ticks_ms()
        last = t0
        fill = 0
        while True:
            n = link.port.readinto(rx)
            if n:
                for i in range(n):
                    if fill < len(mb):
                        mb[fill] = rx[i]
                        fill += 1
                last = clock.ticks_ms()
                # skip bytes until our unit id starts the reply (line noise, garbage)
                while fill and mb[0] != unit:
                    for i in range(fill - 1):
                        mb[i] = mb[i + 1]
                    fill -= 1
                want = 5 if fill >= 2 and mb[1] & 0x80 else expect
                if fill >= want:
                    if crc16(mb, 0, want) == 0 and mb[1] & 0x7F == function:
                        link.abnormal = bool(mb[1] & 0x80)
                        link.error = mb[2] if link.abnormal else 0
                        if link.abnormal or mb[2] == 2 * count:
                            link.mb_len = want
                            link.replies += 1
                            link.wire_bytes += len(request) + want
                            return OK
                    link.garbled += 1
                    break
            now = clock.ticks_ms()
            left = timeout - clock.ticks_diff(now, t0)
            if n and left > 0:
                continue                    # more may be waiting; a babbling line ends at the
                                            # deadline
            if fill:
                quiet = link.gap_ms - clock.ticks_diff(now, last)
                if quiet <= 0:
                    link.garbled += 1
                    break
                left = min(left, quiet)
            if left <= 0:
                link.timeouts += 1
                break
            await link.k.io_wait(link.port.pollable, OS_IO_READ, left)
    return NO_REPLY


async def read(reader, slot, names, kind):
    """Read the plan's quantities (`names`) the meter's map holds; OK or NO_REPLY."""
    link = reader.link
    name = bytes(slot[26:34]).rstrip(b"\0").decode() or "sdm120"
    plans = reader._maps.get(name)
    if plans is None:
        plans = reader._maps[name] = []
    # Each plan (real-time, midnight) reads its own blocks of one map; its names are compiled
    # once at boot, so the list itself tells the plans apart, and a look-up allocates nothing.
    cached = None
    for planned, blocks in plans:
        if planned is names:
            cached = blocks
            break
    if cached is None:
        from firmware import quantities as qs
        regmap = modbus_map.load_map(name)
        wanted = [n for n in names if n in regmap.names()]
        cached = []
        for block in regmap.read_plan(wanted):
            cached.append((block, tuple(qs.quantity(item.name) for item in block.items)))
        plans.append((names, cached))
        forget_tables()
    unit = slot[6]
    if not cached:
        return OK               # the meter's map holds none of the plan's quantities
    for block, quantities in cached:
        err = await transact(link, block.request(unit), unit, block.function, block.count)
        if err != OK:
            break
        reader.answered += 1
        if link.abnormal:
            continue
        for i in range(len(quantities)):
            item = block.items[i]
            q = quantities[i]
            if q:
                reader._put(kind, q, item.scaled(link.mb, 3 + 2 * (item.register - block.start)))
    return OK if reader.answered else NO_REPLY
