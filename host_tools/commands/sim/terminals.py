"""`conc sim terminals`: a swarm of simulated concentrators connecting to a master station."""
import asyncio
import json
import logging
import signal
import time

import click

from host_tools.errors import EXIT_BAD_INPUT, EXIT_DEVICE, CliError


@click.command()
@click.option("--count", type=click.IntRange(1, 60000), default=1, show_default=True,
              help="How many concentrators (one TCP connection each).")
@click.option("--connect", required=True, metavar="HOST:PORT[,HOST:PORT...]",
              help="The station's front end (`conc station serve --listen`); several, comma-"
              "separated (front ends on one PostgreSQL): the terminals are spread over them "
              "and a terminal that cannot reach one dials the next.")
@click.option("--area", type=click.IntRange(0, 9999), default=4101, show_default=True,
              help="A1 (area code) of every terminal.")
@click.option("--first-address", type=click.IntRange(1, 65534), default=1, show_default=True,
              help="A2 of the first terminal; the others count up from it.")
@click.option("--password", default="00", show_default=True, metavar="HEX",
              help="The terminals' PW in hex (zero-padded to 16 bytes), checked on control.")
@click.option("--meters", type=click.IntRange(0, 2040), default=8, show_default=True,
              help="Meters (measuring points 1..N) behind each terminal.")
@click.option("--heartbeat-s", type=click.FloatRange(0.1), default=60, show_default=True,
              help="Heartbeat period (AFN02 F3).")
@click.option("--upload-every", "upload_every", type=click.FloatRange(0.1), default=None,
              metavar="SECONDS", help="Actively upload every meter's energy (CON set) this "
              "often; unconfirmed uploads are re-sent after a reconnect.")
@click.option("--upload-format", type=click.Choice(["f241", "units"]), default="f241",
              show_default=True, help="f241: numbered ring-log records (AFN0D vendor unit F241) "
              "as the concentrator firmware's compact mode uploads; units: AFN0C F129 energy "
              "units.")
@click.option("--standard-only", is_flag=True,
              help="Speak only standard Q/GDW 1376.1 units, as a third-party terminal: uploads "
              "as AFN0C F129 (--upload-format units), events as ERC 33, and, without "
              "--upload-every, uploads as the station's report tasks (AFN04 F65/F67) ask.")
@click.option("--backlog-days", type=click.FloatRange(0), default=None, metavar="DAYS",
              help="With --upload-every: each upload is the next 15-minute reading round of a "
              "backlog starting this many days ago (an outage being caught up), until now.")
@click.option("--clock-offset-s", type=float, default=0.0, show_default=True,
              help="Terminal clocks run this far off (the station sets them when > 5 s).")
@click.option("--ramp", type=click.FloatRange(1), default=1000, show_default=True,
              metavar="PER_S", help="New connections per second while starting.")
@click.option("--duration", type=click.FloatRange(0), default=None, metavar="SECONDS",
              help="Stop after this long (default: until Ctrl-C / SIGTERM).")
@click.option("--reconnect-s", type=click.FloatRange(0), default=5, show_default=True,
              help="Redial a dropped (or refused) terminal after this many seconds, then "
              "twice as long after each failure up to 60 s, until it is connected again.")
@click.option("--stats-every", type=click.FloatRange(0), default=10, show_default=True,
              metavar="SECONDS", help="Print a status line this often; 0: only at the end.")
@click.option("--json", "as_json", is_flag=True, help="Status lines and the summary as JSON.")
def cli(count, connect, area, first_address, password, meters, heartbeat_s, upload_every,
        upload_format, standard_only, backlog_days, clock_offset_s, ramp, duration, reconnect_s,
        stats_every, as_json):
    """Simulate many Q/GDW 1376.1 concentrators against a station, for load tests.

    Each terminal logs in (AFN02 F1), sends heartbeats, answers the station's reads (AFN0C F2
    clock, F33/F129 energy, AFN0D F161 daily frozen, AFN0A F10 archive, AFN09 F1 version, AFN0E
    events), carries out trip/close (AFN05 F1/F2, PW checked, then an ERC 60 relay event) and
    clock sync (AFN05 F31), and optionally uploads readings. The summary counts logins,
    heartbeats sent and confirmed, and heartbeat confirmation latency (p50/p99).

    Register the terminals first, e.g.
    `conc station terminals add --area 4101 --address 1 --count 100 --password 00`.

    \b
    Example:
      conc sim terminals --count 100 --connect 127.0.0.1:9000 --heartbeat-s 60
      conc sim terminals --standard-only --connect 127.0.0.1:9000   # a third-party terminal
    """
    from host_tools.simulators.terminal_swarm import Swarm
    from host_tools.station.errors import StationError
    from host_tools.station.terminal_registry import normalise_password
    from host_tools.station.serving import parse_listen, raise_fd_limit
    from host_tools.station.times import station_zone

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        targets = [parse_listen(part) for part in connect.split(",")]
        targets = [("127.0.0.1" if h == "0.0.0.0" else h, p) for h, p in targets]
        host, port = targets[0]
        pw = bytes.fromhex(normalise_password(password))
    except StationError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    if standard_only:
        upload_format = "units"
    if upload_every and upload_format == "f241" and meters > 255:
        raise CliError("--upload-format f241 carries up to 255 records per upload: use --meters "
                       "255 or fewer, or --upload-format units", EXIT_BAD_INPUT)
    if first_address + count - 1 > 65534:
        raise CliError("--first-address + --count goes past A2 65534", EXIT_BAD_INPUT)
    limit = raise_fd_limit(count + 256)
    if limit < count + 20:
        raise CliError("the open-file limit (%d) is too low for %d connections: raise it "
                       "(ulimit -n)" % (limit, count), EXIT_DEVICE)

    def emit(report):
        click.echo(json.dumps(report) if as_json else " ".join(
            "%s=%s" % item for item in report.items()))

    async def main():
        swarm = Swarm(host, port, count, area=area, first_address=first_address, meters=meters,
                      heartbeat_s=heartbeat_s, upload_every_s=upload_every, password=pw,
                      zone=station_zone(), reconnect_s=reconnect_s,
                      clock_offset_s=clock_offset_s,
                      backlog_s=backlog_days * 86400 if backlog_days else None,
                      upload_format=upload_format, targets=targets)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        started = time.monotonic()
        await swarm.start(ramp_per_s=ramp)
        if swarm.stats["connected"] == 0:
            raise CliError("no terminal could connect to %s: is `conc station serve` "
                           "listening there?" % ", ".join("%s:%d" % t for t in targets),
                           EXIT_DEVICE)
        while not stop.is_set():
            left = None if duration is None else duration - (time.monotonic() - started)
            if left is not None and left <= 0:
                break
            wait = min(x for x in (left, stats_every or None, 3600) if x is not None)
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except asyncio.TimeoutError:
                if stats_every:
                    emit(swarm.report())
        return await swarm.close()

    emit(asyncio.run(main()))
