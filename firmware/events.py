"""Meter events the poller detects, appended to the ring log as Q/GDW 1376.1 event records.

An EVENT record's payload is the ERC code then the record's data exactly as AFN0E F1/F2 carries
it (protocol/gw376_unit_events.py ERC_FIELDS), so the uplink copies it into a reply untouched:

    ERC31 RS-485 reading failure  time(fmt 15) pn+D15 last-good-time(fmt 15)
                                  forward active(fmt 14) forward reactive(fmt 11, EE: not read)
          raised after events.fail_count consecutive failed reads (D15 = 1), restored by the
          next success (D15 = 0, with the new reading)
    ERC27 reading decreased       time pn+D15 before(fmt 14) after(fmt 14)
    ERC12 meter clock deviation   time pn+D15; raised when |meter - concentrator| exceeds
          events.clock_error_s, restored (D15 = 0) when a later check is back in range
    ERC33 meter status word change  time pn(D15..D12 0) change flags ST1..ST7 (7 x 2 bytes)
                                  status words ST1..ST7 (7 x 2 bytes); raised after each relay
          command with status word 3 (DL/T 645 04000503, bit 4 relay open) read back: its
          change flags = before XOR after (bit 4 alone when the word could not be read before),
          the other six words EE (not read). The standard's record of a relay state change,
          so any master sees the outcome (layout: Q/GDW 1376.1-2013 ERC33, as
          protocol/gw376_unit_events.py ERC_FIELDS has it; cross-checked against a public terminal
          firmware that builds ERC33 from AFN0C F28's 14 bytes of flags + 14 of words).

Timestamps are the wall clock's seconds since 2000 (the record header and format 15 alike).
Energy arrives in 0.01 kWh (the catalogue's unit) and is written to format 14 (0.0001 kWh).
"""
from firmware import meter_state as ms
from firmware import log_records
from protocol import clock_math
from protocol.compat import const

ERC12 = const(12)
ERC27 = const(27)
ERC31 = const(31)
ERC33 = const(33)
STATUS3_RELAY_OPEN = const(0x0010)  # status word 3 bit 4 (protocol.dlt645_items)

RELAY_CONFIRMED = const(0)      # the status word shows the commanded relay state
RELAY_REFUSED = const(1)        # the meter answered abnormally (password, keep-power ...)
RELAY_NO_REPLY = const(2)       # no usable answer to the command
RELAY_UNCONFIRMED = const(3)    # accepted, but status word 3 disagrees or could not be read
RELAY_OUTCOMES = ("confirmed", "refused", "no_reply", "unconfirmed")


class Events:
    def __init__(self, log, wall, state, fail_count=3, clock_error_s=300):
        self.log = log
        self.wall = wall
        self.state = state
        self.fail_count = fail_count
        self.clock_error_s = clock_error_s
        self.buf = bytearray(36)        # the longest record: ERC33, 35 bytes
        self.raised = 0                 # events appended (tests, status)

    # --- encoders (1376.1 data formats into self.buf) ------------------------------------
    def _time15(self, at, seconds):
        self.buf[at:at + 5] = clock_math.format15(seconds)
        return at + 5

    def _pn(self, at, point, start):
        self.buf[at] = point & 0xFF
        self.buf[at + 1] = ((point >> 8) & 0x0F) | (0x80 if start else 0)
        return at + 2

    def _bcd_le(self, at, value, size):
        b = self.buf
        for i in range(size):
            b[at + i] = clock_math.packed_bcd(value % 100)
            value //= 100
        return at + size

    def _no_data(self, at, size):
        for i in range(size):
            self.buf[at + i] = 0xEE
        return at + size

    def _append(self, point, now, erc, end):
        self.raised += 1
        return log_records.append_event(self.log, point, now, erc, memoryview(self.buf)[:end])  # pyright: ignore[reportArgumentType] - append_event takes any buffer

    # --- what the poller reports ---------------------------------------------------------
    def read_ok(self, point, energy, now):
        """A read of `point` succeeded; `energy` is forward active total (0.01 kWh) or None."""
        st = self.state
        flags = st.flags[point]
        if flags & ms.FAIL_RAISED:
            self._erc31(point, now, False, now, energy)
            flags &= ~ms.FAIL_RAISED
        st.fails[point] = 0
        st.last_good[point] = now
        if energy is not None:
            if flags & ms.ENERGY_KNOWN and energy < st.last_energy[point]:
                at = self._time15(0, now)
                at = self._pn(at, point, True)
                at = self._bcd_le(at, st.last_energy[point] * 100, 5)
                at = self._bcd_le(at, energy * 100, 5)
                self._append(point, now, ERC27, at)
            st.last_energy[point] = energy
            flags |= ms.ENERGY_KNOWN
        st.flags[point] = flags

    def read_failed(self, point, now):
        """A read of `point` got no usable answer (after its retries)."""
        st = self.state
        fails = st.fails[point]
        if fails < 255:
            fails += 1
            st.fails[point] = fails
        if fails >= self.fail_count and not st.flags[point] & ms.FAIL_RAISED:
            st.flags[point] |= ms.FAIL_RAISED
            self._erc31(point, now, True, st.last_good[point],
                        st.last_energy[point] if st.flags[point] & ms.ENERGY_KNOWN else None)

    def _erc31(self, point, now, start, last_time, energy):
        at = self._time15(0, now)
        at = self._pn(at, point, start)
        at = self._time15(at, last_time) if last_time else self._no_data(at, 5)
        at = self._bcd_le(at, energy * 100, 5) if energy is not None else self._no_data(at, 5)
        at = self._no_data(at, 4)
        self._append(point, now, ERC31, at)

    def clock_checked(self, point, meter_seconds, now):
        """The meter's clock read `meter_seconds` when the concentrator's read `now`."""
        st = self.state
        off = meter_seconds - now
        bad = off > self.clock_error_s or -off > self.clock_error_s
        was_bad = st.flags[point] & ms.CLOCK_BAD
        if bad != bool(was_bad):
            at = self._time15(0, now)
            at = self._pn(at, point, bad)
            self._append(point, now, ERC12, at)
            if bad:
                st.flags[point] |= ms.CLOCK_BAD
            else:
                st.flags[point] &= ~ms.CLOCK_BAD
        st.flags[point] |= ms.CLOCK_DONE
        return off

    def status_word_3(self, point, before, after, now):
        """ERC33 for status word 3 read back after a relay command (`before`: the word read
        just before the command, or None)."""
        b = self.buf
        at = self._time15(0, now)
        b[at] = point & 0xFF
        b[at + 1] = (point >> 8) & 0x0F
        at += 2
        change = STATUS3_RELAY_OPEN if before is None else before ^ after
        for i in range(28):
            b[at + i] = 0xEE                # words 1, 2, 4..7 and their flags: not read
        b[at + 4] = change & 0xFF
        b[at + 5] = change >> 8
        b[at + 18] = after & 0xFF
        b[at + 19] = after >> 8
        return self._append(point, now, ERC33, at + 28)
