"""`conc station serve`: the master station's front end, until stopped."""
import asyncio
import json
import logging

import click

from host_tools.commands.station._common import db_option, opened_station, tz_option
from host_tools.errors import EXIT_BAD_INPUT, EXIT_DEVICE, CliError
from host_tools.station.errors import StationError

FD_RESERVE = 100        # descriptors kept beyond the connections: database, logs, threads


@click.command()
@click.option("--listen", default="0.0.0.0:9000", show_default=True, metavar="HOST:PORT",
              help="Address the concentrators connect to (port 0: any free port, printed).")
@click.option("--read-every", "read_every", type=click.FloatRange(0), default=900,
              show_default=True, metavar="SECONDS",
              help="Real-time reads (AFN0C F129 of every archived meter) per terminal; 0: off.")
@click.option("--clock-check-every", type=click.FloatRange(0), default=3600, show_default=True,
              metavar="SECONDS", help="Terminal clock checks (AFN0C F2; more than 5 s off -> "
              "AFN05 F31); 0: off.")
@click.option("--backfill-days", type=click.IntRange(0, 62), default=3, show_default=True,
              help="Days before yesterday whose missing daily frozen values (AFN0D F161) are "
              "asked for again after 00:30.")
@click.option("--backfill-months", type=click.IntRange(0, 24), default=2, show_default=True,
              help="Months before this one whose missing monthly frozen values (AFN0D F177) "
              "are asked for in the daily round; 0: none.")
@click.option("--archive-sync/--no-archive-sync", default=True, show_default=True,
              help="At login, download archive meters the terminal has not been sent (AFN04 "
              "F10: it REPLACES those points in the terminal's own archive) and verify them "
              "(AFN0A F10). Off: the terminals keep the archive they were configured with.")
@click.option("--report-every", type=click.IntRange(0, 63), default=15, show_default=True,
              metavar="MINUTES", help="At login, set the terminal's timed report tasks (AFN04 "
              "F65..F68): real-time energy, power, voltage, current of every point every "
              "MINUTES, daily frozen energy daily; 0: leave the terminal's own tasks.")
@click.option("--report-form", type=click.Choice(["keep", "standard", "compact"]),
              default="keep", show_default=True,
              help="At login, tell our concentrators how to report (vendor AFN04 F241): "
              "standard Q/GDW 1376.1 units, or compact ring-log records (vendor AFN0D F241, "
              "every stored quantity to the second); keep: as each is configured.")
@click.option("--response-timeout", type=click.FloatRange(0.1), default=10.0, show_default=True,
              metavar="SECONDS", help="Wait for a terminal's answer before a retry.")
@click.option("--retries", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Retries of a request that got no answer (the same frame again).")
@click.option("--idle-timeout", type=click.FloatRange(1), default=2760.0, show_default=True,
              metavar="SECONDS", help="Close a connection silent this long while its heartbeat "
              "period is unknown (3 missed 15-minute heartbeats + slack); once two heartbeats "
              "have come, the limit is 3 of its periods + 30 s.")
@click.option("--login-timeout", type=click.FloatRange(1), default=30.0, show_default=True,
              metavar="SECONDS", help="Close a connection that has not logged in this long.")
@click.option("--max-connections", type=click.IntRange(1), default=None, metavar="N",
              help="Connections held at most; more are closed at once (default: the open-file "
              "limit less 100, kept for the database and logs).")
@click.option("--max-pending-per-ip", type=click.IntRange(0), default=0, show_default=True,
              metavar="N", help="Connections per IP address that have not sent a login "
              "frame yet; 0: no limit (terminals behind a carrier NAT share one address).")
@click.option("--takeover-after", "stale_s", type=click.FloatRange(1), default=30.0,
              show_default=True, metavar="SECONDS",
              help="PostgreSQL with several serve processes: a process not heard from this long "
              "is taken as dead; its sessions are ended and its pending commands carried out "
              "by the process its terminals reconnect to (each process beats every "
              "SECONDS/10, at most 2 s).")
@click.option("--master", type=click.IntRange(0, 127), default=0, show_default=True,
              help="This station's master address (A3).")
@click.option("--stats-every", type=click.FloatRange(0), default=60, show_default=True,
              metavar="SECONDS", help="Print a status line this often; 0: never.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the address bound and the status lines as JSON objects.")
@click.option("-v", "--verbose", count=True,
              help="Log sessions: logins, session ends, denials (-v); and every frame, its "
              "direction, hex and a one-line summary (-vv), to stderr.")
@click.option("--capture", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Append every frame in and out to FILE with its time, terminal and "
              "direction (hex lines; `conc decode --file FILE` explains them). Holds the PW "
              "of downlink frames, as the link does: created 0600.")
@db_option
@tz_option
def cli(listen, read_every, clock_check_every, backfill_days, backfill_months, archive_sync,
        report_every, report_form, response_timeout, retries, idle_timeout, login_timeout,
        max_connections, max_pending_per_ip, stale_s, master, stats_every, as_json, verbose, capture,
        db_url, zone):
    """Serve concentrators over TCP: the master side of Q/GDW 1376.1.

    Registered terminals (`conc station terminals add`) log in and are confirmed; unknown A1/A2
    are denied and logged (`conc station status`, the denied_logins table). Heartbeats are
    confirmed; active uploads are stored, then confirmed, each reading once however often it is
    re-sent. At login the station sets the terminal's timed report tasks (AFN04 F65..F68,
    --report-every). Per terminal the station reads its clock and sets it when more than 5 s off, reads
    real-time energy every --read-every seconds, daily frozen energy after 00:30 (with gap
    backfill), and events whenever the terminal signals ACD. Operator commands given with
    `conc station trip` / `close` are picked up from the database and carried out here.

    Limits against hostile or broken peers (docs/station-frontend.md): a connection must send
    its login within --login-timeout, at most --max-connections are held (and, if set,
    --max-pending-per-ip per address before their login), a connection sending more than 16
    bad frames a minute is closed; bad frames and denials are counted and logged once per peer
    and minute.

    Stop with Ctrl-C or SIGTERM: sessions are closed and pending writes committed. On SQLite
    one `serve` per database: a second one is refused (exit 3) while the first runs. On
    PostgreSQL several may serve one database (docs/station-frontend.md): each holds the
    terminals connected to it and executes their commands; give the terminals every
    station's address (main and backup) so they reconnect to another when one stops.

    \b
    Examples:
      conc station serve --listen 0.0.0.0:9000 --db sqlite:///station.db
      conc station serve -vv --capture frames.txt ...   # then: conc decode --file frames.txt
      conc sim terminals --count 100 --connect 127.0.0.1:9000   # a load test
    """
    from host_tools.station.collector import CollectorConfig
    from host_tools.station.db import redact
    from host_tools.station.frontend import FrontEnd
    from host_tools.station.serving import (parse_listen, raise_fd_limit, run_until_signalled,
                                            sole_front_end)

    from host_tools.station.framelog import FrameTap

    # -v: the station's session lines; -vv: its frames too (other libraries stay at INFO)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose >= 2:
        logging.getLogger("host_tools.station").setLevel(logging.DEBUG)
    try:
        tap = FrameTap(log_frames=verbose >= 2, capture=capture)
    except OSError as exc:
        raise CliError("cannot write the capture file %s: %s" % (capture, exc.strerror),
                       EXIT_BAD_INPUT) from None
    try:
        host, port = parse_listen(listen)
    except StationError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    limit = raise_fd_limit()
    if max_connections is None:
        max_connections = max(1, limit - FD_RESERVE)
    with opened_station(db_url, create=True, zone=zone) as station:
        front = FrontEnd(station, master=master, response_timeout=response_timeout,
                         retries=retries, idle_timeout=idle_timeout,
                         login_timeout=login_timeout, max_connections=max_connections,
                         stale_s=stale_s, beat_s=min(2.0, stale_s / 10),
                         max_pending_per_ip=max_pending_per_ip,
                         collector_config=CollectorConfig(
                             realtime_interval_s=read_every or None,  # pyright: ignore[reportArgumentType] - None takes the default
                             clock_check_s=clock_check_every or None,  # pyright: ignore[reportArgumentType] - None takes the default
                             backfill_days=backfill_days, backfill_months=backfill_months,
                             sync_archive=archive_sync,
                             report_every_min=report_every or None,  # pyright: ignore[reportArgumentType] - None takes the default
                             report_form=None if report_form == "keep" else report_form),
                         frame_tap=tap if tap.active else None)

        def started(bound):
            if as_json:
                click.echo(json.dumps({"listening": "%s:%d" % bound, "fd_limit": limit,
                                       "max_connections": max_connections}))
            else:
                click.echo("listening on %s:%d (database %s, up to %d connections; open-file "
                           "limit %d)" % (bound[0], bound[1], redact(db_url), max_connections,
                                          limit))

        def report():
            line = dict(front.stats, online=len(front.links))
            click.echo(json.dumps(line) if as_json else " ".join(
                "%s=%s" % item for item in line.items()))

        try:
            with sole_front_end(station):
                asyncio.run(run_until_signalled(front, host, port, started, stats_every or None,
                                                report))
        except OSError as exc:
            raise CliError("cannot listen on %s:%d: %s" % (host, port, exc.strerror or exc),
                           EXIT_DEVICE) from None
        finally:
            tap.close()
