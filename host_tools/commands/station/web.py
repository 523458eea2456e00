"""`conc station web`: the operator console in the browser, a process of its own beside
`conc station serve` on the same database."""
import json
import logging
import secrets
import socket
import time

import click

from host_tools.commands.station._common import cli_error, db_option, tz_option
from host_tools.errors import EXIT_DEVICE, CliError

SECRET_KEY = "console.session_secret"       # business_settings row made at the first start


@click.command()
@click.option("--listen", default="127.0.0.1:8000", show_default=True, metavar="HOST:PORT",
              help="Address the console serves on (port 0: any free port, printed). Keep it "
              "on 127.0.0.1 behind an HTTPS proxy unless the network is trusted.")
@click.option("--https", "https_only", is_flag=True,
              help="The console is reached over HTTPS (a proxy in front): session cookies are "
              "marked Secure.")
@click.option("--secret", envvar="CONC_CONSOLE_SECRET", default=None, metavar="TEXT",
              help="Key that signs session cookies (env CONC_CONSOLE_SECRET; default: a random "
              "key kept in the database, so sessions survive a restart).")
@click.option("--alarm-poll", "alarm_poll_s", type=click.FloatRange(0.1), default=0.5,
              show_default=True, metavar="SECONDS", help="How often new terminal events are "
              "turned into alarms.")
@click.option("--rules-every", "rules_s", type=click.FloatRange(1), default=30,
              show_default=True, metavar="SECONDS",
              help="How often the station rules (offline, unconfirmed trips...) are applied.")
@click.option("--no-alarms", is_flag=True, help="Do not raise alarms in this process (another "
              "console process on the same database does).")
@click.option("--json", "as_json", is_flag=True, help="Print the address served as JSON.")
@click.option("-v", "--verbose", count=True, help="Log requests (-v) to stderr.")
@db_option
@tz_option
def cli(listen, https_only, secret, alarm_poll_s, rules_s, no_alarms, as_json, verbose, db_url,
        zone):
    """Serve the operator console: dashboard, live alarms with sound, terminals, meters, remote
    trip/close, events and commands, with logins and roles (docs/console.md).

    Log in with a station user (`conc station users add`). The console raises alarms from the
    events `conc station serve` stores and from the station rules; trip and close given here are
    carried out by the running `conc station serve`. The JSON API is under /api/.

    Stop with Ctrl-C or SIGTERM.

    \b
    Example:
      conc station web --listen 127.0.0.1:8000 --db sqlite:///station.db
      # then open http://127.0.0.1:8000 in a browser
    """
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from host_tools.business.database import open_business
    from host_tools.console.app import create_app
    from host_tools.station.errors import StationError
    from host_tools.station.serving import parse_listen
    from host_tools.station.times import station_zone

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        host, port = parse_listen(listen)
        station_tz = station_zone(zone)
        engine = open_business(db_url, create=False)
    except StationError as exc:
        raise cli_error(exc) from None
    except SQLAlchemyError as exc:
        raise CliError("cannot open the station database: %s" % exc.__class__.__name__,
                       EXIT_DEVICE) from None
    secret = secret or _stored_secret(engine)
    app = create_app(engine, station_tz, secret, https_only=https_only,
                     alarm_poll_s=alarm_poll_s, rules_s=rules_s, watch=not no_alarms)
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        raise CliError("cannot listen on %s: %s" % (listen, exc.strerror or exc), EXIT_DEVICE) \
            from None
    bound = sock.getsockname()
    url = "http://%s:%d" % (bound[0], bound[1])
    click.echo(json.dumps({"listening": url}) if as_json else "console on %s" % url)
    config = uvicorn.Config(app, log_level="info" if verbose else "warning",
                            access_log=bool(verbose), timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])


def _stored_secret(engine):
    from sqlalchemy import insert, select

    from host_tools.business.tables import settings
    with engine.begin() as conn:
        value = conn.execute(select(settings.c.value).where(settings.c.key == SECRET_KEY)).scalar()
        if value is None:
            value = json.dumps(secrets.token_urlsafe(48))
            conn.execute(insert(settings).values(key=SECRET_KEY, value=value,
                                                 updated_at=int(time.time())))
    return json.loads(value)
