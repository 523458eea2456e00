"""Shared test code for the front end: a station + FrontEnd on loopback, a scripted terminal.

    async with Harness(url, terminals=2, meters=3) as h:      # registers 4101-1, 4101-2
        sim = await h.sim(1)                                  # a SimTerminal, logged in
        raw = await h.raw(2)                                  # a ScriptedTerminal (bytes level)

`run(coro)` runs a test coroutine with a hard timeout (no pytest-asyncio in the project).
"""
import asyncio
import time
import zoneinfo

from protocol import gw376
from protocol.gw376_deframer import Deframer
from sqlalchemy import select

from host_tools.simulators.terminal_swarm import SimTerminal, Swarm
from host_tools.station.collector import CollectorConfig
from host_tools.station.frontend import FrontEnd
from host_tools.station.repository import open_station

ZONE_NAME = "Asia/Shanghai"
ZONE = zoneinfo.ZoneInfo(ZONE_NAME)
AREA = 4101
QUIET = CollectorConfig(None, clock_check_s=None, daily_after=None, tick_s=3600,
                        sync_archive=False, report_every_min=None)


def run(coro, timeout=40):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def eventually(condition, timeout=5.0, what="condition"):
    """Wait until condition() is true (polling), or fail the test."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        await asyncio.sleep(0.01)


class Harness:
    """A station database with registered terminals and a FrontEnd serving it on 127.0.0.1."""

    def __init__(self, url, terminals=1, meters=0, password="00", clock=None,
                 collector=QUIET, **front_options):
        self.url = url
        self.count = terminals
        self.meters = meters
        self.password = password
        self.clock = clock
        self.collector = collector
        # settle_heartbeats 0: the PW-carrying archive download and clock set go out at login
        # (the tests of that rule set it themselves)
        self.front_options = dict({"response_timeout": 0.5, "retries": 2,
                                   "command_poll_s": 0.05, "settle_heartbeats": 0},
                                  **front_options)
        self.station = None
        self.front = None
        self.port = None
        self.ids = {}
        self._clients = []

    async def __aenter__(self):
        options = {"zone": ZONE_NAME}
        if self.clock is not None:
            options["clock"] = self.clock
        self.station = open_station(self.url, **options)
        self.station.add_terminals([(str(AREA), a, self.password, "")
                                    for a in range(1, self.count + 1)])
        for address in range(1, self.count + 1):
            tid = self.station.find_terminal(str(AREA), address).id
            self.ids[address] = tid
            if self.meters:
                self.station.set_measuring_points(tid, [
                    {"pn": pn, "meter_address": "%06d%06d" % (address, pn)}
                    for pn in range(1, self.meters + 1)])
        await self.start()
        return self

    async def start(self):
        await self.start_with(None)

    async def restart(self, link_class=None):
        """Stop the front end and start a new one on the same database (a station restart)."""
        await self.front.close()
        await self.start_with(link_class)

    async def start_with(self, link_class):
        """Start a new FrontEnd on the database (link_class: a Link subclass, or None)."""
        options = dict(self.front_options)
        if self.clock is not None:
            options["clock"] = self.clock
        self.front = FrontEnd(self.station, collector_config=self.collector, **options)
        self.front.link_class = link_class
        self.port = (await self.front.start("127.0.0.1", 0))[1]

    async def __aexit__(self, *exc):
        for client in self._clients:
            client.close()
        await self.front.close()
        self.station.close()

    def user(self, name, role="dispatcher"):
        """The station user `name` (created with `role` and the password "password for NAME"
        the first time), in a database given the business schema."""
        from host_tools.business import users
        from host_tools.business.database import open_business
        engine = open_business(self.url)
        try:
            with engine.begin() as conn:
                found = conn.execute(select(users.users.c.id).where(
                    users.users.c.name == name)).scalar()
                if found:
                    return users.by_id(conn, found)
                return users.add_user(conn, name, "password for %s" % name, role,
                                      int((self.clock or time.time)()))
        finally:
            engine.dispose()

    def command(self, kind, pn, user="alice", address=1, reason=""):
        """Queue a trip or close of meter `pn` of terminal `address` as `conc station trip`
        does, by the dispatcher `user`; returns the command id."""
        from host_tools.business import relay
        from host_tools.business.database import open_business
        who = self.user(user)
        engine = open_business(self.url)
        try:
            with engine.begin() as conn:
                return relay.queue(conn, self.ids[address], pn, kind, who,
                                   int((self.clock or time.time)()), reason=reason)
        finally:
            engine.dispose()

    async def sim(self, address, login=True, **options):
        """A SimTerminal connected (and, unless login=False, logged in) to the front end."""
        swarm = Swarm("127.0.0.1", self.port, 0, zone=ZONE)
        options.setdefault("meters", self.meters or 4)
        options.setdefault("heartbeat_s", 3600)
        terminal = SimTerminal(swarm, AREA, address, zone=ZONE, **options)
        swarm.terminals.append(terminal)
        await swarm.connect(terminal)
        self._clients.append(terminal)
        if login:
            await eventually(lambda: terminal.logged_in or terminal.login_denied,
                             what="login answered")
            if terminal.logged_in:
                await eventually(lambda: self.front.link(self.ids[address]) is not None,
                                 what="session attached")
        return terminal

    async def reconnect(self, terminal):
        """Connect a SimTerminal again (after its connection was closed) and wait for login."""
        terminal.swarm.port = self.port
        await terminal.swarm.connect(terminal)
        await eventually(lambda: terminal.logged_in, what="login again")

    async def raw(self, address=None):
        """A ScriptedTerminal connected to the front end (not logged in)."""
        client = ScriptedTerminal(address)
        await client.connect("127.0.0.1", self.port)
        self._clients.append(client)
        return client

    def link(self, address):
        return self.front.link(self.ids[address])


class ScriptedTerminal:
    """A terminal driven frame by frame by the test: send frames, read what the station sends."""

    def __init__(self, address):
        self.address = address
        self.reader = None
        self.writer = None
        self.deframer = Deframer()
        self.frames = []          # raw frames received, not yet taken
        self.pseq = 0

    async def connect(self, host, port):
        self.reader, self.writer = await asyncio.open_connection(host, port)

    def close(self):
        if self.writer is not None:
            self.writer.close()

    def send(self, frame):
        self.writer.write(gw376.build(frame))

    def send_link(self, fn, area=AREA, address=None, clock=None):
        frame = gw376.link_frame(fn, area, self.address if address is None else address,
                                 self.pseq, clock)
        self.pseq = (self.pseq + 1) & 0x0F
        self.send(frame)
        return frame

    async def receive_raw(self, timeout=2.0):
        """The next whole frame's bytes from the station; None if it closed the connection."""
        while not self.frames:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return None
            self.frames.extend(self.deframer.frames(data))
        return self.frames.pop(0)

    async def receive(self, timeout=2.0):
        raw = await self.receive_raw(timeout)
        return None if raw is None else gw376.parse(raw)

    async def login(self):
        self.send_link(1)
        reply = await self.receive()
        assert reply.afn == 0 and reply.units[0][1] == 1, reply
        return reply
