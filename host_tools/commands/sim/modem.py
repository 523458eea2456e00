"""`conc sim modem`: a GPRS modem on a serial line, bridging its TCP data to a real host."""
import json
import os
from datetime import datetime

import click

from host_tools.errors import EXIT_BAD_INPUT, EXIT_DEVICE, CliError
from host_tools.signals import stop_requested
from host_tools.simulators.serial_line import describe_missing_port


def _parse_target(ctx, param, value):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise click.BadParameter("give HOST:PORT, e.g. 127.0.0.1:7000")
    return host, int(port)


@click.command()
@click.option("--connect", "target", required=True, callback=_parse_target, metavar="HOST:PORT",
              help="Where the modem's TCP connection really goes (the master station), "
                   "whatever address the firmware dials.")
@click.option("--port", envvar="CONC_SIM_MODEM_PORT", metavar="PATH",
              help="Serve a real serial device. Default: create a pty pair and print the "
                   "device path the board's modem UART should open.")
@click.option("--dialect", type=click.Choice(["sim800", "quectel"]), default="sim800",
              show_default=True, help="AT command family: SIM800 (CIP...) or Quectel (QI...).")
@click.option("--baud", type=click.IntRange(1200, 921600), default=115200, show_default=True,
              help="UART speed (ptys ignore it; a real adapter uses it).")
@click.option("--link-bps", type=click.IntRange(0), default=40000, show_default=True,
              help="GPRS link rate in bit/s for the data path (0: unlimited).")
@click.option("--fault", "faults", multiple=True, metavar="NAME[=VALUE]",
              help="Inject a fault; repeatable: sim_missing, registration=denied|roaming|"
                   "searching, csq99, activate_fail, connect_fail, drop_after=S, silent_after=S, "
                   "reg_lost_after=S, garble=PCT, late_ms=MS, urc_noise=PCT.")
@click.option("--seed", type=int, default=None, help="Seed for the random faults.")
@click.option("--trace", is_flag=True,
              help="Print every AT command the board sends, with its time, on stderr.")
@click.option("--json", "as_json", is_flag=True,
              help="First line a JSON object {\"device\": ...}; on exit the statistics as JSON.")
def cli(target, port, dialect, baud, link_bps, faults, seed, trace, as_json):
    """A simulated GPRS modem (SIM800 or Quectel AT commands) on a serial line.

    The first line printed is the device to open (a pty slave unless --port is given). The
    modem answers AT commands, opens its TCP connection to --connect when the board dials,
    and passes data both ways at --link-bps, until SIGINT or SIGTERM. Faults reproduce what
    field modems do: a missing SIM, lost registration, a PDP context that dies without a word.

    \b
    Examples:
      conc sim modem --connect 127.0.0.1:7000
      conc sim modem --connect 127.0.0.1:7000 --dialect quectel --fault silent_after=120
      conc sim modem --connect 127.0.0.1:7000 --trace     # what the firmware asks, and when
    """
    from host_tools.simulators.at_modem import Faults, start_modem
    try:
        fault_set = Faults.parse(faults)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    if port and not os.path.exists(port):
        raise CliError(describe_missing_port(port), EXIT_DEVICE)
    try:
        modem = start_modem(target, port, dialect, fault_set, link_bps, baud, seed,
                            _print_command if trace else None)
    except OSError as exc:
        raise CliError("cannot open %s: %s" % (port, exc), EXIT_DEVICE) from None
    with stop_requested() as stopped:
        _serve(modem, stopped, target, dialect, link_bps, as_json)
    if as_json:
        click.echo(json.dumps(modem.stats))
    else:
        click.echo("stopped: %(commands)d command(s), %(connects)d connection(s), "
                   "%(bytes_up)d byte(s) up, %(bytes_down)d down" % modem.stats, err=True)


def _print_command(line):
    stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
    click.echo("%s  %s" % (stamp, line), err=True)


def _serve(modem, stopped, target, dialect, link_bps, as_json):
    try:
        if as_json:
            click.echo(json.dumps({"device": modem.line.device_path, "dialect": dialect,
                                   "connect": "%s:%d" % target, "link_bps": link_bps}))
        else:
            click.echo(modem.line.device_path)
            click.echo("%s modem -> %s:%d at %d bit/s; Ctrl-C stops" % (
                dialect, target[0], target[1], link_bps), err=True)
        stopped.wait()
    finally:
        modem.stop()
