"""What an unknown or misbehaving peer may cost the front end: admission limits, quiet logs,
denials counted per peer and minute.

    guard = Guard(log, max_connections=60000, max_pending_per_ip=16)
    refusal = guard.admit(ip)            # None, or why the connection is refused
    guard.left_pending(ip)               # the connection logged in or went away
    guard.log.warning("bad checksum", ip, "%s: %d frames with a bad checksum", name, n)
    first = guard.denials.note(ip, "4101", 7, "not a registered terminal")

A hostile peer must not turn its frames into rows, log lines or tasks one for one: whatever
it sends, the station's work and memory stay bounded by these limits, and the real terminals
keep being served.

- Admission: at most `max_connections` open at once (below the open-file limit, so the
  listening socket never meets EMFILE and the database and log files keep their descriptors),
  and, when set, at most `max_pending_per_ip` connections per IP that have not sent a login
  frame yet. Off by default: GPRS terminals behind a carrier's NAT share an address and
  reconnect together after a station restart, and refusing them makes them redial into an
  already loaded station. Connections past their login frame are not counted per IP: they
  are bounded by the registry (one per terminal).
- `QuietLog`: one line per condition per peer per period (60 s); the next line says how many
  were left out. Its memory is bounded: beyond `max_keys` peers a condition is logged for all
  peers at once ("*").
- `Denials`: refused logins and frames, counted per (IP, reason) and minute. The first of a
  minute is written at once (one `denied_logins` row, as before), the others become one row
  "... (N more in 60 s)" when the minute ends.
"""
import time

PERIOD_S = 60.0
MAX_KEYS = 4096


def peer_ip(peer):
    """The IP of a peer written HOST:PORT (IPv6 hosts keep their colons)."""
    host, sep, _ = peer.rpartition(":")
    return host if sep else peer


class QuietLog:
    """A logger's lines rate-limited per (condition, peer) (see the module docstring)."""

    def __init__(self, logger, period_s=PERIOD_S, max_keys=MAX_KEYS, clock=time.monotonic):
        self.logger = logger
        self.period_s = period_s
        self.max_keys = max_keys
        self.clock = clock
        self._seen = {}         # (condition, peer) -> [logged at, left out since]

    def log(self, level, condition, peer, message, *args, **kwargs):
        """Log message % args unless this condition was logged for this peer within the period;
        True when the line went out."""
        now = self.clock()
        key = (condition, peer)
        seen = self._seen.get(key)
        if seen is None and len(self._seen) >= self.max_keys:
            self._prune(now)
            if len(self._seen) >= self.max_keys:
                key = (condition, "*")
                seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.period_s:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            message += " (%d more like it in the last %.0f s)" % (seen[1], self.period_s)
        self._seen[key] = [now, 0]
        self.logger.log(level, message, *args, **kwargs)
        return True

    def warning(self, condition, peer, message, *args):
        return self.log(30, condition, peer, message, *args)

    def info(self, condition, peer, message, *args):
        return self.log(20, condition, peer, message, *args)

    def _prune(self, now):
        for key in [k for k, (at, _) in self._seen.items() if now - at >= self.period_s]:
            del self._seen[key]


class Denials:
    """Refused logins and frames, counted per (IP, reason) and minute (module docstring)."""

    def __init__(self, period_s=PERIOD_S, max_keys=MAX_KEYS, clock=time.monotonic):
        self.period_s = period_s
        self.max_keys = max_keys
        self.clock = clock
        self._window = {}       # (ip, reason) -> [area_code, address, count] of this minute
        self._started = clock()
        self.ready = []         # rows to write: (peer, area_code, address, reason)

    def note(self, ip, area_code, address, reason):
        """Count one denial; True when it is the first of its kind this minute (its row is
        queued in `ready` at once)."""
        self.roll()
        key = (ip, reason)
        entry = self._window.get(key)
        if entry is None and len(self._window) >= self.max_keys:
            key = ("*", reason)
            entry = self._window.get(key)
        if entry is None:
            self._window[key] = [area_code, address, 1]
            self.ready.append((ip if key[0] != "*" else "(many)", area_code, address, reason))
            return True
        entry[2] += 1
        return False

    def roll(self, force=False):
        """At the end of a minute (or when forced: shutting down) queue one row for each kind
        that came more than once."""
        now = self.clock()
        if not force and now - self._started < self.period_s:
            return
        for (ip, reason), (area_code, address, count) in self._window.items():
            if count > 1:
                self.ready.append((ip if ip != "*" else "(many)", area_code, address,
                                   "%s (%d more in %.0f s)" % (reason, count - 1,
                                                               now - self._started)))
        self._window = {}
        self._started = now

    def take(self):
        rows, self.ready = self.ready, []
        return rows


class Guard:
    """Admission limits and the quiet log and denial counts that go with them."""

    def __init__(self, logger, max_connections=None, max_pending_per_ip=0,
                 clock=time.monotonic):
        self.max_connections = max_connections
        self.max_pending_per_ip = max_pending_per_ip
        self.log = QuietLog(logger, clock=clock)
        self.denials = Denials(clock=clock)
        self.open = 0
        self._pending = {}      # ip -> connections not logged in yet

    def admit(self, ip):
        """None when a new connection from `ip` may stay (it is then counted), else why not."""
        if self.max_connections is not None and self.open >= self.max_connections:
            return "the station holds its limit of %d connections" % self.max_connections
        pending = self._pending.get(ip, 0)
        if self.max_pending_per_ip and pending >= self.max_pending_per_ip:
            return "%d connections from %s are not logged in yet" % (pending, ip)
        self._pending[ip] = pending + 1
        self.open += 1
        return None

    def left_pending(self, ip):
        """A counted connection logged in or went away before it did."""
        pending = self._pending.get(ip, 0) - 1
        if pending > 0:
            self._pending[ip] = pending
        else:
            self._pending.pop(ip, None)

    def closed(self):
        """A counted connection went away."""
        self.open -= 1
