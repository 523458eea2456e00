"""One simulated electricity meter: what it measures, accumulates, remembers and obeys.

The model is protocol-free: DL/T 645 and Modbus handlers (meter_protocols.py) read its registers
and drive its relay and clock. Everything happens on the simulation clock (clock.py) passed in,
so a test can run a week in a second and still compare what a client read with what the meter
holds.

Behaviour, chosen to look like a residential meter on a Chinese or European bus:

- Load: `base_load_kw` times a daily shape (24 hourly multipliers, linearly interpolated; the
  default has a night trough and morning/evening peaks). Energy is the exact integral of that
  load in steps of at most a minute; the relay being open, or the meter stuck, stops it.
- Tariffs: time of day on the meter's own clock chooses the register (1 sharp, 2 peak, 3 flat,
  4 valley) that the energy goes to; the total is kept as its own register, as meters do.
- Instantaneous values (voltage, current, power, power factor, frequency) carry a little noise
  on every read.
- The meter clock has an offset and a drift (ppm) against true time, and is set by broadcast time.
- Daily freeze at the meter clock's midnight: the registers and the freeze time go to a history of
  `HISTORY_DAYS` days, newest first (DL/T 645-2007 05060001/05060101 with DI0 = n).
- Relay: trip / close with keep-power protection; status word 3 shows it (bit 4 open, bit 6 the
  last command was a trip, bit 7 pre-trip alarm).

Values are handed out as `Decimal`s already cut to the resolution the meter displays (energy
0.01 kWh, voltage 0.1 V, current 0.001 A, power 0.0001 kW, power factor 0.001), so a value read
over the wire can be compared for equality with `last_served`.
"""
import math
import random
import threading
from collections import deque
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from protocol.dlt645 import (RELAY_ALARM, RELAY_ALARM_RELEASE, RELAY_DIRECT_CLOSE,
                             RELAY_KEEP_POWER, RELAY_KEEP_POWER_RELEASE, RELAY_PERMIT_CLOSE,
                             RELAY_TRIP)

TARIFF_SHARP = 1
TARIFF_PEAK = 2
TARIFF_FLAT = 3
TARIFF_VALLEY = 4
TARIFF_NAMES = {"sharp": TARIFF_SHARP, "peak": TARIFF_PEAK, "flat": TARIFF_FLAT,
                "valley": TARIFF_VALLEY}

# Start "HH:MM" -> tariff; each period runs until the next one (and the last one until midnight).
DEFAULT_TARIFF_SCHEDULE = (
    ("00:00", TARIFF_VALLEY), ("08:00", TARIFF_FLAT), ("10:00", TARIFF_PEAK),
    ("12:00", TARIFF_FLAT), ("14:00", TARIFF_PEAK), ("17:00", TARIFF_SHARP),
    ("19:00", TARIFF_PEAK), ("22:00", TARIFF_FLAT),
)

# Multiplier of the base load at each hour 00..23 (a household: night trough, two peaks).
RESIDENTIAL_SHAPE = (
    0.45, 0.40, 0.38, 0.37, 0.38, 0.45, 0.70, 1.10, 1.20, 0.95, 0.85, 0.90,
    1.00, 0.90, 0.80, 0.80, 0.90, 1.30, 1.70, 1.80, 1.60, 1.30, 0.90, 0.60,
)
FLAT_SHAPE = (1.0,) * 24

HISTORY_DAYS = 62          # DL/T 645-2007 keeps the last 62 daily freezes
MAX_STEP_S = 60.0          # integration step: tariff periods start on whole minutes
SAMPLE_PERIOD = timedelta(seconds=1)

ENERGY_RESOLUTION = Decimal("0.01")
VOLTAGE_RESOLUTION = Decimal("0.1")
CURRENT_RESOLUTION = Decimal("0.001")
POWER_RESOLUTION = Decimal("0.0001")
PF_RESOLUTION = Decimal("0.001")
FREQUENCY_RESOLUTION = Decimal("0.01")

# Relay control commands are DL/T 645-2007's 0x1C N1 codes, named by the codec.


class RelayRefused(Exception):
    """A relay command the meter will not carry out (e.g. trip while keep-power is on)."""


def energy(value_kwh):
    """kWh float -> the register a meter shows: whole hundredths, never rounded up.

    The nano-kWh nudge absorbs float summation error (180 one-minute steps of 2 kW add up to
    5.999999999 kWh, which must still show 6.00, as a pulse-counting meter would).
    """
    return Decimal(repr(value_kwh + 1e-9)).quantize(ENERGY_RESOLUTION, rounding=ROUND_FLOOR)


def _cut(value, resolution):
    return Decimal(repr(value)).quantize(resolution, rounding=ROUND_HALF_EVEN)


def parse_schedule(schedule):
    """[("HH:MM", tariff)...] -> sorted [(minute of day, tariff)], validated."""
    periods = []
    for start, tariff in schedule:
        hours, _, minutes = str(start).partition(":")
        minute = int(hours) * 60 + int(minutes or 0)
        if not 0 <= minute < 1440:
            raise ValueError("tariff period start %r is not a time of day" % (start,))
        if isinstance(tariff, str):
            if tariff not in TARIFF_NAMES:
                raise ValueError("unknown tariff %r; use %s or 1..4"
                                 % (tariff, "/".join(TARIFF_NAMES)))
            tariff = TARIFF_NAMES[tariff]
        if tariff not in (1, 2, 3, 4):
            raise ValueError("tariff %r is not 1..4" % (tariff,))
        periods.append((minute, tariff))
    if not periods:
        raise ValueError("a tariff schedule needs at least one period")
    periods.sort()
    return periods


class LoadProfile:
    """Active power drawn at a time of day: base load times an interpolated daily shape."""

    def __init__(self, base_kw, shape=RESIDENTIAL_SHAPE):
        if len(shape) != 24:
            raise ValueError("a daily load shape has 24 hourly values, not %d" % len(shape))
        if base_kw < 0 or min(shape) < 0:
            raise ValueError("load cannot be negative")
        self.base_kw = float(base_kw)
        self.shape = tuple(float(x) for x in shape)

    def power_kw(self, when):
        hour = when.hour + when.minute / 60.0 + when.second / 3600.0
        low = int(hour) % 24
        frac = hour - int(hour)
        return self.base_kw * (self.shape[low] * (1 - frac) + self.shape[(low + 1) % 24] * frac)


class FrozenDay:
    """One daily freeze: when (meter clock) and the forward/reverse active registers then."""

    __slots__ = ("time", "forward_kwh", "reverse_kwh")

    def __init__(self, time, forward_kwh, reverse_kwh):
        self.time = time
        self.forward_kwh = forward_kwh      # (total, t1, t2, t3, t4) Decimals
        self.reverse_kwh = reverse_kwh

    def __repr__(self):
        return "FrozenDay(%s, %s)" % (self.time.isoformat(), self.forward_kwh[0])


class MeterModel:
    """A meter's physics and registers; thread-safe (the bus thread and tests both read it)."""

    def __init__(self, address, clock, protocol="dlt645", base_load_kw=1.0,
                 shape=RESIDENTIAL_SHAPE, phases=1, nominal_voltage=220.0, power_factor=0.95,
                 tariff_schedule=DEFAULT_TARIFF_SCHEDULE, energy_kwh=0.0, tariff_kwh=None,
                 reverse_kwh=0.0, drift_ppm=0.0, clock_offset_s=0.0, supports_blocks=True,
                 supports_freeze=True, password="02000000", relay_open=False, seed=0,
                 noise=True, name=None, preamble=0):
        if phases not in (1, 3):
            raise ValueError("phases must be 1 or 3, not %r" % (phases,))
        self.address = address
        self.protocol = protocol
        self.name = name or "%s %s" % (protocol, address)
        self.clock = clock
        self.profile = LoadProfile(base_load_kw, shape)
        self.phases = phases
        self.nominal_voltage = float(nominal_voltage)
        self.power_factor = float(power_factor)
        self.tariffs = parse_schedule(tariff_schedule)
        self.drift = float(drift_ppm) * 1e-6
        self.supports_blocks = bool(supports_blocks)
        self.supports_freeze = bool(supports_freeze)
        self.password = password.upper()       # "LLPPPPPP": level, then P2 P1 P0 digits
        self.preamble = preamble                # FE bytes before each DL/T 645 reply
        self.noise = noise
        self.stuck = False
        self.rng = random.Random("%s/%s" % (seed, address))
        self._lock = threading.RLock()
        # Registers in float kWh; handed out cut to the display resolution.
        if tariff_kwh is None:
            tariff_kwh = [energy_kwh * share for share in (0.10, 0.30, 0.35, 0.25)]
        if len(tariff_kwh) != 4:
            raise ValueError("tariff_kwh needs 4 values (sharp, peak, flat, valley)")
        self._forward = [float(energy_kwh)] + [float(x) for x in tariff_kwh]
        self._reverse = [float(reverse_kwh), 0.0, 0.0, float(reverse_kwh), 0.0]
        self.relay_open = bool(relay_open)
        self.relay_trip_commanded = bool(relay_open)
        self.keep_power = False
        self.alarm = False
        self.history = deque(maxlen=HISTORY_DAYS)
        self.last_served = {}           # item -> value last sent to a client
        self.broadcast_times = 0
        now = clock.now()
        self._sim_time = now
        self._clock_base_sim = now
        self._clock_base_meter = now + timedelta(seconds=clock_offset_s)
        self._meter_date = self._meter_time_at(now).date()
        self._stuck_snapshot = None
        self._sample = None
        self._sample_time = now

    # --- the meter clock -------------------------------------------------------------------

    def _meter_time_at(self, sim_time):
        elapsed = (sim_time - self._clock_base_sim).total_seconds()
        return self._clock_base_meter + timedelta(seconds=elapsed * (1.0 + self.drift))

    def _sim_time_of(self, meter_time):
        elapsed = (meter_time - self._clock_base_meter).total_seconds()
        return self._clock_base_sim + timedelta(seconds=elapsed / (1.0 + self.drift))

    def meter_time(self):
        """The meter's own clock now (offset and drift included)."""
        with self._lock:
            self.update()
            return self._meter_time_at(self._sim_time)

    def set_meter_time(self, when):
        """Broadcast time (0x08): the meter clock jumps to `when` and drifts on from there."""
        with self._lock:
            self.update()
            self._clock_base_sim = self._sim_time
            self._clock_base_meter = when
            self._meter_date = when.date()      # a backward jump does not freeze twice
            self.broadcast_times += 1

    def clock_error_s(self):
        """Meter clock minus true (simulated) time, in seconds."""
        with self._lock:
            self.update()
            return (self._meter_time_at(self._sim_time) - self._sim_time).total_seconds()

    # --- accumulation ----------------------------------------------------------------------

    def tariff_at(self, meter_time):
        minute = meter_time.hour * 60 + meter_time.minute
        current = self.tariffs[-1][1]           # before the first start: the day's last period
        for start, tariff in self.tariffs:
            if start <= minute:
                current = tariff
            else:
                break
        return current

    def load_kw(self, sim_time):
        """Active power the installation draws at `sim_time` (0 while the relay is open)."""
        if self.relay_open:
            return 0.0
        return self.profile.power_kw(sim_time)

    def update(self):
        """Bring the registers up to the clock's present: integrate the load, freeze at midnight."""
        with self._lock:
            now = self.clock.now()
            while self._sim_time < now:
                step_end = min(now, self._sim_time + timedelta(seconds=MAX_STEP_S))
                next_midnight = datetime.combine(self._meter_date + timedelta(days=1),
                                                 datetime.min.time())
                midnight_sim = self._sim_time_of(next_midnight)
                # Decided once per step, not by comparing clocks again afterwards: float
                # rounding in the drift could otherwise leave the meter a microsecond short
                # of midnight forever.
                crossing = midnight_sim <= step_end
                if crossing:
                    step_end = max(midnight_sim, self._sim_time)
                self._accumulate(self._sim_time, step_end)
                self._sim_time = step_end
                if crossing:
                    self._freeze(next_midnight)
                    self._meter_date = next_midnight.date()

    def _accumulate(self, start, end):
        seconds = (end - start).total_seconds()
        if seconds <= 0 or self.stuck or self.relay_open:
            return
        middle = start + (end - start) / 2
        kwh = self.profile.power_kw(middle) * seconds / 3600.0
        self._forward[0] += kwh
        self._forward[self.tariff_at(self._meter_time_at(middle))] += kwh

    def _freeze(self, meter_time):
        if not self.supports_freeze:
            return
        if self.history and self.history[0].time >= meter_time:
            return      # the clock was set back over midnight: that day is frozen already
        self.history.appendleft(FrozenDay(meter_time, tuple(energy(x) for x in self._forward),
                                          tuple(energy(x) for x in self._reverse)))

    # --- what a client can read ------------------------------------------------------------

    def forward_active_kwh(self):
        """(total, sharp, peak, flat, valley) as the meter shows them."""
        with self._lock:
            self.update()
            return tuple(energy(x) for x in self._forward)

    def reverse_active_kwh(self):
        with self._lock:
            self.update()
            return tuple(energy(x) for x in self._reverse)

    def combined_active_kwh(self):
        """Combined active energy (forward + reverse, the common factory setting)."""
        return self.combined_active_block()[0]

    def combined_active_block(self):
        """(total, t1..t4) of combined active energy."""
        with self._lock:
            self.update()
            return tuple(energy(f + r) for f, r in zip(self._forward, self._reverse, strict=True))

    def reactive_kwh(self):
        """Forward reactive energy (kvarh): the active energy at the meter's power factor."""
        with self._lock:
            self.update()
            tan_phi = math.sqrt(max(0.0, 1.0 / (self.power_factor ** 2) - 1.0))
            return energy(self._forward[0] * tan_phi)

    def frozen_day(self, n):
        """The n-th previous daily freeze (1 = last), or None when the meter holds none."""
        with self._lock:
            self.update()
            if 1 <= n <= len(self.history):
                return self.history[n - 1]
            return None

    def instantaneous(self):
        """Voltages, currents, power, power factor and frequency now, with measurement noise.

        A dict: voltage_v (3), current_a (3), phase_power_kw (3), active_power_kw,
        power_factor, frequency_hz; phases a single-phase meter lacks read 0.
        """
        with self._lock:
            self.update()
            if self.stuck and self._stuck_snapshot is not None:
                return dict(self._stuck_snapshot)
            # A meter refreshes its measurements about once a second: reads within the same
            # simulated second (the parts of one block, a total and its phases) agree.
            if self._sample is None or self._sim_time - self._sample_time >= SAMPLE_PERIOD:
                self._sample = self._measure()
                self._sample_time = self._sim_time
            values = dict(self._sample)
            if self.stuck:
                self._stuck_snapshot = dict(values)
            return values

    def _measure(self):
        gauss = self.rng.gauss if self.noise else (lambda mu, sigma: mu)
        total_kw = self.load_kw(self._sim_time)
        if total_kw > 0:
            total_kw *= max(0.0, gauss(1.0, 0.01))
        pf = min(1.0, max(0.0, gauss(self.power_factor, 0.005))) if total_kw > 0 else 1.0
        voltages, currents, powers = [], [], []
        for phase in range(3):
            if phase >= self.phases:
                voltages.append(0.0)
                currents.append(0.0)
                powers.append(0.0)
                continue
            volts = gauss(self.nominal_voltage, self.nominal_voltage * 0.008)
            phase_kw = total_kw / self.phases
            amps = phase_kw * 1000.0 / (volts * pf) if phase_kw > 0 and pf > 0 else 0.0
            voltages.append(volts)
            currents.append(amps)
            powers.append(phase_kw)
        return {
            "voltage_v": tuple(_cut(v, VOLTAGE_RESOLUTION) for v in voltages),
            "current_a": tuple(_cut(a, CURRENT_RESOLUTION) for a in currents),
            "phase_power_kw": tuple(_cut(p, POWER_RESOLUTION) for p in powers),
            "active_power_kw": _cut(total_kw, POWER_RESOLUTION),
            "power_factor": _cut(pf, PF_RESOLUTION),
            "frequency_hz": _cut(gauss(50.0, 0.02), FREQUENCY_RESOLUTION),
        }

    def status_word(self, n):
        """DL/T 645-2007 status word n (1..7) as a 16-bit int."""
        with self._lock:
            if n == 3:
                word = 0
                if self.relay_open:
                    word |= 1 << 4
                if self.relay_trip_commanded:
                    word |= 1 << 6
                if self.alarm:
                    word |= 1 << 7      # pre-trip alarm (smart-meter amendment to 2007)
                return word
            return 0

    def set_stuck(self, stuck):
        """Stuck metering: energy stops and instantaneous values freeze where they are."""
        with self._lock:
            self.update()
            self.stuck = bool(stuck)
            self._stuck_snapshot = None

    # --- control ---------------------------------------------------------------------------

    def check_password(self, password):
        """`password` as protocol.dlt645 parses it: "LLPPPPPP" (level, then the password)."""
        return str(password).upper() == self.password

    def relay_command(self, command):
        """Carry out a 0x1C N1 command; RelayRefused when the meter will not."""
        with self._lock:
            self.update()           # energy up to now counts at the old relay state
            self._sample = None     # currents and power change at once
            if command == RELAY_TRIP:
                if self.keep_power:
                    raise RelayRefused("keep-power protection is on")
                self.relay_open = True
                self.relay_trip_commanded = True
            elif command in (RELAY_PERMIT_CLOSE, RELAY_DIRECT_CLOSE):
                # "Permit close" lets the customer press the button; the simulated customer
                # presses it at once.
                self.relay_open = False
                self.relay_trip_commanded = False
            elif command == RELAY_ALARM:
                self.alarm = True
            elif command == RELAY_ALARM_RELEASE:
                self.alarm = False
            elif command == RELAY_KEEP_POWER:
                self.keep_power = True
                self.relay_open = False
                self.relay_trip_commanded = False
            elif command == RELAY_KEEP_POWER_RELEASE:
                self.keep_power = False
            else:
                raise RelayRefused("unknown relay command 0x%02X" % command)

    def serve(self, item, value):
        """Record what was sent for `item` (handlers call this) and return the value."""
        self.last_served[item] = value
        return value

    def __repr__(self):
        return "MeterModel(%s %s)" % (self.protocol, self.address)
