"""Fault injection for one simulated meter: what goes wrong, how often, and a tally of it.

Field buses fail in a handful of ways a poller must survive, each configurable per meter:

| key | effect |
|---|---|
| `no_reply_pct` | the meter stays silent |
| `bad_checksum_pct` | the reply's checksum (645 CS / Modbus CRC) is wrong |
| `slow_reply_ms`, `slow_reply_pct` | the reply starts that much later than the turnaround |
| `garbage_pct`, `garbage_mode` | random bytes instead of the reply (`replace`), or before it (`prefix`) |
| `wrong_address_pct` | a well-formed reply, but from another address |
| `stuck` | the metering is stuck: energy never moves and instantaneous values freeze |

Percentages are drawn from the meter's own seeded random generator, so a run is repeatable; 0
and 100 are exact. `FaultInjector.counts` tallies each fault actually injected, so a test can
check that what its client saw matches what happened on the wire.
"""
import random

FAULT_KINDS = ("no_reply", "bad_checksum", "slow_reply", "garbage", "wrong_address", "stuck")
GARBAGE_MODES = ("replace", "prefix")

_PERCENT_KEYS = ("no_reply_pct", "bad_checksum_pct", "slow_reply_pct", "garbage_pct",
                 "wrong_address_pct")


class FaultSpec:
    """Which faults a meter has. Built from a config dict with `FaultSpec.from_dict`."""

    def __init__(self, no_reply_pct=0.0, bad_checksum_pct=0.0, slow_reply_ms=0.0,
                 slow_reply_pct=None, garbage_pct=0.0, garbage_mode="replace",
                 wrong_address_pct=0.0, stuck=False):
        self.no_reply_pct = float(no_reply_pct)
        self.bad_checksum_pct = float(bad_checksum_pct)
        self.slow_reply_ms = float(slow_reply_ms)
        # A delay given without a percentage applies to every reply.
        if slow_reply_pct is None:
            slow_reply_pct = 100.0 if self.slow_reply_ms > 0 else 0.0
        self.slow_reply_pct = float(slow_reply_pct)
        self.garbage_pct = float(garbage_pct)
        self.garbage_mode = garbage_mode
        self.wrong_address_pct = float(wrong_address_pct)
        self.stuck = bool(stuck)
        for key in _PERCENT_KEYS:
            value = getattr(self, key)
            if not 0.0 <= value <= 100.0:
                raise ValueError("%s must be 0..100, not %r" % (key, value))
        if self.slow_reply_ms < 0:
            raise ValueError("slow_reply_ms cannot be negative")
        if garbage_mode not in GARBAGE_MODES:
            raise ValueError("garbage_mode must be one of %s, not %r"
                             % (", ".join(GARBAGE_MODES), garbage_mode))

    KEYS = _PERCENT_KEYS + ("slow_reply_ms", "garbage_mode", "stuck")

    @classmethod
    def from_dict(cls, values):
        """From a config table; unknown keys are a ValueError naming them."""
        unknown = sorted(set(values) - set(cls.KEYS))
        if unknown:
            raise ValueError("unknown fault %s; known: %s"
                             % (", ".join(unknown), ", ".join(cls.KEYS)))
        return cls(**values)

    def to_dict(self):
        return {key: getattr(self, key) for key in self.KEYS}


class ReplyPlan:
    """What happens to one reply: silence, or the reply with these alterations."""

    __slots__ = ("silent", "bad_checksum", "delay_s", "garbage", "wrong_address")

    def __init__(self):
        self.silent = False
        self.bad_checksum = False
        self.delay_s = 0.0
        self.garbage = None         # None, or (mode, bytes)
        self.wrong_address = False


class FaultInjector:
    """Draws the faults for each reply of one meter and counts them."""

    def __init__(self, spec=None, seed=0):
        self.spec = spec or FaultSpec()
        self.rng = random.Random("faults/%s" % (seed,))
        self.counts = dict.fromkeys(FAULT_KINDS, 0)

    def _happens(self, percent):
        if percent <= 0:
            return False
        if percent >= 100:
            return True
        return self.rng.random() * 100.0 < percent

    def plan(self):
        """Decide the fate of the next reply."""
        spec = self.spec
        plan = ReplyPlan()
        if self._happens(spec.no_reply_pct):
            plan.silent = True
            self.counts["no_reply"] += 1
            return plan
        if self._happens(spec.slow_reply_pct):
            plan.delay_s = spec.slow_reply_ms / 1000.0
            self.counts["slow_reply"] += 1
        if self._happens(spec.garbage_pct):
            junk = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(3, 17)))
            plan.garbage = (spec.garbage_mode, junk)  # pyright: ignore[reportAttributeAccessIssue] - set by the fault spec
            self.counts["garbage"] += 1
            if spec.garbage_mode == "replace":
                return plan
        if self._happens(spec.wrong_address_pct):
            plan.wrong_address = True
            self.counts["wrong_address"] += 1
        if self._happens(spec.bad_checksum_pct):
            plan.bad_checksum = True
            self.counts["bad_checksum"] += 1
        return plan
