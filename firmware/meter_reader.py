"""One meter's plan items read by protocol, over the bus's BusLink (firmware/bus_link.py):
- DL/T 645-2007: block DIs; a meter answering a block with "no requested data" is remembered in
  MeterState.flags (NO_BLOCKS) and read through the block's single DIs from then on;
- DL/T 645-1997: the 2-byte DIs of the same quantities;
- Modbus RTU: the meter's register map (protocol/maps), grouped into as few reads as it allows
  (firmware/modbus_reader.py, loaded when the first Modbus meter is polled).
Results land in `items` / `values` / `count` (item ids of firmware/quantities.py) ready for
firmware.log_records.append_readings.
"""
from firmware import meter_state as ms
from firmware.bus_link import NO_REPLY, OK
from protocol.compat import const

P2007 = const(30)       # protocol codes of the archive slot (protocol/meter_record.py)
_P1997 = const(1)
PMODBUS = const(200)

_MAX_VALUES = const(40)
_ENERGY_FWD_TOTAL = const(1)    # firmware/quantities.py ENERGY_FWD_TOTAL


class MeterReader:
    """Reads plan items from one meter at a time over a BusLink."""

    def __init__(self, link, state):
        self.link = link
        self.state = state
        self.items = [0] * _MAX_VALUES
        self.values = [0] * _MAX_VALUES
        self.count = 0
        self.energy = None          # forward active total of the last read, 0.01 kWh
        self.answered = 0           # replies in the last read (0: the meter is silent)
        self._maps = {}             # Modbus map name -> [(plan names, [(block, quantities)])]

    def _put(self, kind, q, value):
        c = self.count
        if c < _MAX_VALUES:
            self.items[c] = kind * 64 + q
            self.values[c] = value
            self.count = c + 1
        if q == _ENERGY_FWD_TOTAL and value is not None:
            self.energy = value

    async def read(self, point, protocol, slot, plan, kind):
        """Read `plan` (firmware/plan_compile.compile_items) from the meter of `slot`; OK or
        NO_REPLY."""
        self.count = 0
        self.energy = None
        self.answered = 0
        link = self.link
        link.set_meter(slot)
        if self.state.fails[point]:
            # Most likely still dead: one attempt, no retry, so it costs the bus one timeout a
            # cycle (its first item only, see below) until it answers again; retries are for
            # the noise that garbles a live meter's reply.
            link.retries = 0
        if protocol == PMODBUS:
            from firmware import modbus_reader     # loaded once a Modbus meter is polled
            return await modbus_reader.read(self, slot, plan[2], kind)
        version = 2007 if protocol == P2007 else 1997
        entries = plan[0] if version == 2007 else plan[1]
        if not entries:
            return OK               # nothing of the plan exists in this protocol
        flags = self.state.flags
        for entry in entries:
            singles = entry[5]
            if singles is not None and flags[point] & ms.NO_BLOCKS and version == 2007:
                for single in singles:
                    self._prepare(single, version)
                    if await link.transact645() != OK:
                        break
                    self._take(single, version, kind)
            else:
                self._prepare(entry, version)
                err = await link.transact645()
                if err == OK:
                    self._take(entry, version, kind)
                if (err == OK and singles is not None and self.link.abnormal
                        and self.link.error & 0x02 and version == 2007):
                    # "no requested data" to a block: read its elements one by one from now on
                    flags[point] |= ms.NO_BLOCKS
                    for single in singles:
                        self._prepare(single, version)
                        if await link.transact645() != OK:
                            break
                        self._take(single, version, kind)
            if not self.answered:
                break               # a silent meter: do not spend the bus on its other items
        return OK if self.answered else NO_REPLY

    def _prepare(self, entry, version):
        self.link.prepare645(entry[0], entry[1] * entry[2], version)

    def _take(self, entry, version, kind):
        """Store the values of the reply to `entry` (a link.transact645() that returned OK)."""
        link = self.link
        size, count, signed, q = entry[1], entry[2], entry[3], entry[4]
        dsize = 4 if version == 2007 else 2
        self.answered += 1
        if link.abnormal:
            return OK
        at = link.payload_at(dsize)
        length = link.length
        n = length // size
        if n * size != length:
            return OK               # not whole elements: nothing trustworthy in it
        limit = 5 if count > 1 and n > 5 else n     # total + 4 tariffs at most
        link.bad = False
        first = self.count
        for i in range(limit):
            value = link.element(at + i * size, size, signed)
            if link.bad:
                self.count = first      # not BCD: drop the reply's values
                return OK
            self._put(kind, q + i, value)
        return OK

    async def read_entry(self, protocol, slot, entry, kind):
        """Read one compiled entry (e.g. a frozen-history DI) into items/values: OK or NO_REPLY."""
        self.count = 0
        self.energy = None
        self.answered = 0
        self.link.set_meter(slot)
        version = 2007 if protocol == P2007 else 1997
        self._prepare(entry, version)
        err = await self.link.transact645()
        if err == OK:
            self._take(entry, version, kind)
        return err

    async def read_value(self, protocol, slot, di, size, signed):
        """One element (clock, status word): its value, or None: no data (all EE), no reply
        (link.abnormal False) or an abnormal answer (link.abnormal True, link.error its bits).
        For 2007 `di` is the 4-byte DI, for 1997 the 2-byte one."""
        link = self.link
        link.set_meter(slot)
        link.abnormal = False
        version = 2007 if protocol == P2007 else 1997
        if await link.read645(di, size, version) != OK or link.abnormal:
            return None
        at = link.payload_at(4 if version == 2007 else 2)
        if link.length < size:
            return None
        link.bad = False
        value = link.element(at, size, signed)
        return None if link.bad else value

    def raw(self, offset):
        """Byte `offset` of the last payload, unscrambled (date/time fields)."""
        return (self.link.df.buf[offset] - 0x33) & 0xFF
