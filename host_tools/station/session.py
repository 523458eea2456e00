"""One logged-in terminal as the master station sees it: its downlink requests and their replies.

    session = TerminalSession(terminal_id, label, area, address, send, password=pw_bytes)
    units = await session.request(0x0C, [(1, 129, None)])     # -> [(pn, fn, data)], all frames
    session.on_reply(frame)                                   # the connection hands replies in

The link rules of the master side of Q/GDW 1376.1 live here:
- PSEQ counts 0..15 per session; a reply is matched to the outstanding request by RSEQ (the
  first frame echoes PSEQ, later frames of a multi-frame reply count up from it). A reply with
  any other RSEQ is a late answer to a request already given up on, and is dropped.
- FCV = 1 and FCB toggles for every new request; a retry after a response timeout resends the
  very same bytes (same PSEQ, same FCB), so the terminal recognises the repeat and answers from
  its cache instead of carrying the request out twice (a trip is not sent to a meter twice).
- Multi-frame replies (FIR/FIN) are reassembled into one list of units.
- AFN00 F2 (all denied) raises Denied; AFN00 F1 returns [] and AFN00 F3 its per-unit items.
- Requests go out one at a time per terminal (terminals serve one request at a time).
- PW (16 bytes) is attached to the AFNs that need it (gw376.needs_pw).

The session knows no sockets: `send(bytes)` is what the connection gives it.
"""
import asyncio
import logging
import time

from protocol import gw376

log = logging.getLogger(__name__)

DEFAULT_RESPONSE_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 2


class SessionError(Exception):
    """A request to a terminal that did not succeed."""


class Denied(SessionError):
    """The terminal answered AFN00 F2: it refused the request (wrong PW, unsupported, ...)."""


class ResponseTimeout(SessionError):
    """No complete answer after the timeout and every retry."""


class SessionClosed(SessionError):
    """The connection ended while the request was outstanding."""


class _Pending:
    __slots__ = ("request", "future", "expect_seq", "units", "afn00")

    def __init__(self, request, future):
        self.request = request
        self.future = future
        self.expect_seq = request.seq
        self.units = []
        self.afn00 = None


class TerminalSession:
    """The downlink side of one terminal's connection (see the module docstring)."""

    def __init__(self, terminal_id, label, area, address, send, password=None, master=0,
                 response_timeout=DEFAULT_RESPONSE_TIMEOUT_S, retries=DEFAULT_RETRIES,
                 clock=time.time):
        self.terminal_id = terminal_id
        self.label = label
        self.area = area
        self.address = address
        self.master = master
        self.password = password            # 16 bytes, or None until loaded
        self.response_timeout = response_timeout
        self.retries = retries
        self.clock = clock
        self._send = send
        self._pseq = 0
        self._fcb = 0
        self._lock = asyncio.Lock()
        self._pending = None
        self.closed = False
        self.session_id = None
        self.ec = None                      # (important, normal) counters last reported (EC)
        self.stats = {"requests": 0, "retries": 0, "timeouts": 0, "denied": 0,
                      "stale_replies": 0}

    # ------------------------------------------------------------------ downlink
    def next_pseq(self):
        seq = self._pseq
        self._pseq = (self._pseq + 1) & 0x0F
        return seq

    def frame(self, afn, units, function=None):
        """A new downlink request frame with the next PSEQ and a toggled FCB."""
        self._fcb ^= 1
        pw = None
        if gw376.needs_pw(afn, gw376.DOWN):
            pw = self.password if self.password is not None else bytes(16)
        return gw376.Frame(afn, list(units), gw376.DOWN, 1, function, self.area, self.address,
                           False, self.master, self.next_pseq(), True, True, False,
                           fcb=self._fcb, fcv=1, pw=pw)

    async def request(self, afn, units, function=None, timeout=None, retries=None):
        """Send a request and return the units of its (reassembled) reply.

        AFN00 F1 (confirmed) returns [], AFN00 F3 [(pn, fn, err)]; AFN00 F2 raises Denied;
        no answer after the retries raises ResponseTimeout.
        """
        timeout = self.response_timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        async with self._lock:
            if self.closed:
                raise SessionClosed("terminal %s is not connected" % self.label)
            request = self.frame(afn, units, function)
            data = gw376.build(request)
            loop = asyncio.get_running_loop()
            pending = _Pending(request, loop.create_future())
            self._pending = pending
            self.stats["requests"] += 1
            try:
                for attempt in range(retries + 1):
                    if attempt:
                        self.stats["retries"] += 1
                        log.info("%s: no answer to AFN%02X PSEQ %d, retry %d", self.label, afn,
                                 request.seq, attempt)
                    self._send(data)
                    try:
                        return await asyncio.wait_for(asyncio.shield(pending.future), timeout)
                    except asyncio.TimeoutError:
                        # a half-received multi-frame reply is asked for again whole
                        pending.units, pending.expect_seq = [], request.seq
                        continue
                self.stats["timeouts"] += 1
                raise ResponseTimeout("terminal %s did not answer AFN%02X within %.1f s (%d "
                                      "tries)" % (self.label, afn, timeout, retries + 1))
            finally:
                self._pending = None

    # ------------------------------------------------------------------ uplink replies
    def on_reply(self, frame):
        """Take a PRM=0 frame from the terminal; True when it belonged to the outstanding request."""
        pending = self._pending
        if pending is None or pending.future.done() or frame.seq != pending.expect_seq or \
                (frame.afn != pending.request.afn and frame.afn != gw376.AFN_CONFIRM):
            self.stats["stale_replies"] += 1
            log.debug("%s: dropped a reply AFN%02X RSEQ %d matching no outstanding request",
                      self.label, frame.afn, frame.seq)
            return False
        if frame.afn == gw376.AFN_CONFIRM and frame.afn != pending.request.afn:
            fns = [fn for _, fn, _ in frame.units]
            if 2 in fns:
                self.stats["denied"] += 1
                pending.future.set_exception(Denied("terminal %s denied AFN%02X %s" % (
                    self.label, pending.request.afn, _describe_units(pending.request.units))))
            elif 3 in fns:
                items = []
                for _, fn, data in frame.units:
                    if fn == 3 and data:
                        items.extend(data.get("items", ()))
                pending.future.set_result(items)
            else:
                pending.future.set_result([])
            return True
        if frame.fir and pending.units:
            pending.units = []          # a fresh first frame (the answer to our retry)
        pending.units.extend(frame.units)
        pending.expect_seq = (frame.seq + 1) & 0x0F
        if frame.fin:
            pending.future.set_result(pending.units)
        return True

    def close(self):
        """The connection ended: fail the outstanding request."""
        self.closed = True
        pending = self._pending
        if pending is not None and not pending.future.done():
            pending.future.set_exception(SessionClosed("terminal %s disconnected" % self.label))


def _describe_units(units):
    return ", ".join("p%d F%d" % (pn, fn) for pn, fn, _ in units)
