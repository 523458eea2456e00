"""`conc sim meters`: simulated electricity meters on one serial line, until stopped."""
import json
import os
from datetime import datetime

import click

from host_tools.errors import EXIT_BAD_INPUT, EXIT_DEVICE, CliError
from host_tools.output import echo_table
from host_tools.signals import stop_requested
from host_tools.simulators import sim_config
from host_tools.simulators.serial_line import describe_missing_port

PROTOCOL_CHOICES = ["dlt645", "dlt645-1997", "modbus"]


def _parse_start(ctx, param, value):
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("give a date-time like 2026-03-01T23:58:00") from None


@click.command()
@click.option("--port", envvar="CONC_SIM_PORT", metavar="PATH",
              help="Serve a real serial device (a USB RS-485 adapter). Default: create a pty "
                   "pair and print the device path clients should open. (Env CONC_SIM_PORT, "
                   "not CONC_PORT: that names the board, which must never be taken over.)")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Meters and bus from a .json or .toml file (see docs/meter-simulator.md).")
@click.option("--meters", "meter_count", type=click.IntRange(1, 2040), default=None,
              help="Without --config: this many meters at addresses 1..N.  [default: 1]")
@click.option("--protocol", "protocols", type=click.Choice(PROTOCOL_CHOICES), multiple=True,
              help="Without --config: meter protocol; repeat to mix (meters take them in "
                   "turn).  [default: dlt645]")
@click.option("--baud", type=click.IntRange(50, 4000000), default=None,
              help="Bus baud rate (over the file).  [default: 2400]")
@click.option("--parity", type=click.Choice(["N", "E", "O"], case_sensitive=False), default=None,
              help="Bus parity: 8E1 bytes take 11 bits on the wire, 8N1 10.  [default: E]")
@click.option("--turnaround-ms", type=click.FloatRange(0, 10000), default=None,
              help="Silence between a request's last byte and the reply.  [default: 30]")
@click.option("--speed", type=click.FloatRange(0, min_open=True), default=None,
              help="Simulated time runs this many times faster (energy, freezes, clocks); "
                   "byte timing stays real.  [default: 1]")
@click.option("--start", callback=_parse_start, default=None, metavar="DATETIME",
              help="Simulated start time, e.g. 2026-03-01T23:58:00.  [default: now]")
@click.option("--seed", type=int, default=None, help="Seed for noise and fault draws.")
@click.option("--trace", is_flag=True,
              help="Print every request and reply (hex) with injected faults to stderr.")
@click.option("--json", "as_json", is_flag=True,
              help="First line: a JSON object (device, wire format, meters); on exit the bus "
                   "statistics as JSON.")
def cli(port, config_file, meter_count, protocols, baud, parity, turnaround_ms, speed, start,
        seed, trace, as_json):
    """Simulated meters on one serial line: DL/T 645-2007/1997 and Modbus.

    Meters of mixed protocols (DL/T 645-2007, DL/T 645-1997, Modbus SDM120/SDM630 style)
    share one bus at one wire format. The first line printed is the device to open (a pty slave such as /dev/pts/7 unless --port
    is given); the simulator then answers until SIGINT or SIGTERM. Meters accumulate energy
    from a daily load profile into tariff registers, freeze at midnight, keep a drifting clock,
    obey relay commands, and fail on purpose when their `faults` say so.

    \b
    Examples:
      conc sim meters --meters 8 --protocol dlt645 --protocol modbus --baud 9600
      conc sim meters --config bench.toml --speed 3600 --json
      conc sim meters --port /dev/ttyUSB1 --config shop.json
    """
    from host_tools.simulators.meter_bus import MeterSimulator

    bus = {"baud": baud, "parity": parity.upper() if parity else None,
           "turnaround_ms": turnaround_ms, "speed": speed, "start": start, "seed": seed}
    try:
        if config_file:
            if meter_count or protocols:
                raise CliError("--meters/--protocol describe meters without a file; put them "
                               "in --config %s instead" % config_file, EXIT_BAD_INPUT)
            config = sim_config.load_file(config_file)
            sim_config.override_bus(config, bus)
        else:
            config = sim_config.from_options(meter_count or 1, protocols or ("dlt645",), **bus)
        simulator = MeterSimulator(config, port=port)
    except sim_config.SimConfigError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    except ValueError as exc:
        raise CliError("bad simulator setting: %s" % exc, EXIT_BAD_INPUT) from None

    if trace:
        simulator.on_transaction = _print_transaction  # pyright: ignore[reportAttributeAccessIssue] - the simulator calls it when set
    if port and not os.path.exists(port):
        raise CliError(describe_missing_port(port), EXIT_DEVICE)
    try:
        simulator.start()
    except OSError as exc:
        raise CliError("cannot open %s: %s" % (port, exc), EXIT_DEVICE) from None

    with stop_requested() as stopped:
        try:
            _announce(simulator, as_json)
            while not stopped.wait(0.2):
                if simulator.error is not None:
                    raise CliError("the simulator stopped: %s" % simulator.error)
        finally:
            simulator.stop()
    _report(simulator, as_json)


def _print_transaction(transaction):
    stamp = datetime.fromtimestamp(transaction.time).strftime("%H:%M:%S.%f")[:-3]
    reply = transaction.reply.hex(" ") if transaction.reply else "(silent)"
    faults = " [%s]" % ", ".join(transaction.faults) if transaction.faults else ""
    click.echo("%s  -> %s\n              <- %s%s" % (stamp, transaction.request.hex(" "), reply,
                                                  faults), err=True)


def _announce(simulator, as_json):
    meters = [{"protocol": m.protocol, "address": m.address,
               "map": getattr(m.handler, "map", None) and m.handler.map.name}
              for m in simulator.meters]
    if as_json:
        click.echo(json.dumps({"device": simulator.device_path, "baud": simulator.wire.baud,
                               "format": str(simulator.wire).split(" ", 1)[1],
                               "turnaround_ms": simulator.turnaround_s * 1000,
                               "speed": getattr(simulator.clock, "speed", None),
                               "meters": meters}))
    else:
        click.echo(simulator.device_path)
        click.echo("%d meter(s) at %s, turnaround %g ms, time x%g; Ctrl-C stops" % (
            len(meters), simulator.wire, simulator.turnaround_s * 1000,
            getattr(simulator.clock, "speed", 1)),
            err=True)
        echo_table(["protocol", "address", "map"],
                   [[m["protocol"], m["address"], m["map"]] for m in meters], err=True)


def _report(simulator, as_json):
    stats = simulator.stats()
    if as_json:
        click.echo(json.dumps(stats))
        return
    total = sum(m["requests"] for m in stats["meters"])
    click.echo("stopped: %d request(s) to meters, %d unaddressed, %d noise byte(s), "
               "%d collision(s), bus busy %.1f s" % (
                   total, stats["unanswered_requests"], stats["noise_bytes"],
                   stats["collisions"], stats["bus_busy_s"]), err=True)
