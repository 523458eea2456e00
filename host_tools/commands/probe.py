"""`conc probe`: read meters straight from a PC's USB RS-485 adapter (the lab engineer's tool).

The reading itself is host_tools/meter_link.py (`MeterLink`); this module checks the arguments
before the port is touched and prints what came back.
"""
import json

import click

from host_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, CliError
from host_tools.output import echo_table
from host_tools.meter_link import PROTOCOLS, Abnormal, MeterLink, NoReply, resolve_dlt645_item
from protocol import dlt645
from protocol.errors import ProtocolError

MODBUS_TYPES = ("float32", "u16", "s16", "u32", "s32")


def _parse_ids(text):
    try:
        if "-" in text:
            low, high = (int(x) for x in text.split("-", 1))
        else:
            low = high = int(text)
    except ValueError:
        raise CliError("--ids %r: give a Modbus id range like 1-247" % text, EXIT_BAD_INPUT) \
            from None
    if not 1 <= low <= high <= 247:
        raise CliError("--ids %r: ids run 1..247, low to high" % text, EXIT_BAD_INPUT)
    return range(low, high + 1)


def _parse_register(text):
    try:
        value = int(text, 0)
    except (TypeError, ValueError):
        raise CliError("--register %r: give a register number (30 or 0x1E)" % text,
                       EXIT_BAD_INPUT) from None
    if not 0 <= value <= 0xFFFF:
        raise CliError("--register %r is not 0..65535" % text, EXIT_BAD_INPUT)
    return value


@click.command()
@click.option("--port", envvar="CONC_PORT", required=True, metavar="PORT",
              help="Serial device of the RS-485 adapter (env CONC_PORT).")
@click.option("--protocol", type=click.Choice(sorted(PROTOCOLS)), default="dlt645",
              show_default=True, help="Meter protocol; it chooses the default wire format.")
@click.option("--baud", type=click.IntRange(300, 4000000), default=None,
              help="Baud rate [default: 2400 for dlt645, 1200 for dlt645-1997, 9600 modbus].")
@click.option("--parity", type=click.Choice(["N", "E", "O"], case_sensitive=False), default=None,
              help="Parity [default: E for DL/T 645, N for Modbus]; 8 data bits, 1 stop bit.")
@click.option("--address", metavar="A",
              help="Meter address: 12 digits for DL/T 645 (shorter is zero-padded; AA bytes "
                   "are wildcards), a unit id 1..247 for Modbus.")
@click.option("--item", "items", multiple=True, metavar="DI|NAME",
              help="What to read; repeatable. DL/T 645: a DI (00010000, 1997: 9010) or a "
                   "catalogue name (energy_fwd_total, freeze_daily_energy_fwd:2 = two days "
                   "back). Modbus: an item of --map. [default: energy_fwd_total]")
@click.option("--register", metavar="ADDR", help="Modbus: read this register (0-based, e.g. "
                                                 "0x48) instead of a map item.")
@click.option("--type", "kind", type=click.Choice(MODBUS_TYPES), default="float32",
              show_default=True, help="Modbus: value type at --register.")
@click.option("--function", type=click.Choice(["3", "4"]), default="4", show_default=True,
              help="Modbus: 4 reads input registers, 3 holding registers.")
@click.option("--map", "map_name", default="sdm120", show_default=True,
              help="Modbus register map for --item names (protocol/maps/<name>.json).")
@click.option("--scan", is_flag=True,
              help="Find meters: DL/T 645 asks a lone meter its address (wildcard read); "
                   "Modbus tries every id of --ids.")
@click.option("--ids", default="1-247", show_default=True, help="Modbus ids to try with --scan.")
@click.option("--retries", type=click.IntRange(0, 10), default=1, show_default=True,
              help="Resends after no reply or an unusable reply.")
@click.option("--turnaround-ms", type=click.IntRange(1, 10000), default=None,
              help="How long a meter may think before answering [default: 500 DL/T 645, "
                   "250 Modbus].")
@click.option("--json", "as_json", is_flag=True, help="Print the readings as one JSON object.")
def cli(port, protocol, baud, parity, address, items, register, kind, function, map_name, scan,
        ids, retries, turnaround_ms, as_json):
    """Read meters straight from a USB RS-485 adapter, or find them with --scan.

    \b
    Examples:
      conc probe --port /dev/ttyUSB0 --address 151230011061 --item energy_fwd_total
      conc probe --port /dev/ttyUSB0 --address 1 --item 0001FF00 --item voltage_block --json
      conc probe --port /dev/ttyUSB0 --protocol dlt645-1997 --address 3 --item 9010
      conc probe --port /dev/ttyUSB0 --protocol modbus --address 2 --item energy_fwd_total
      conc probe --port /dev/ttyUSB0 --protocol modbus --address 2 --register 0x48
      conc probe --port /dev/ttyUSB0 --scan
      conc probe --port /dev/ttyUSB0 --protocol modbus --scan --ids 1-10

    Exit status: 0 all read; 1 a meter did not answer or answered with an error; 3 the port
    is missing or busy; 2/4 bad arguments.
    """
    default_baud, default_parity, default_turnaround = PROTOCOLS[protocol]
    baud = baud or default_baud
    parity = (parity or default_parity).upper()
    turnaround_ms = turnaround_ms or default_turnaround
    version = 1997 if protocol == "dlt645-1997" else 2007
    is_modbus = protocol == "modbus"

    target = None
    if not scan:
        if address is None:
            raise click.UsageError("give --address (or --scan to find meters)")
        target = _check_address(address, is_modbus)
    plan = _plan(is_modbus, version, items, register, kind, function, map_name, scan)
    id_range = _parse_ids(ids) if (scan and is_modbus) else None

    link = MeterLink(port, baud, parity, turnaround_ms, retries)
    try:
        if scan:
            _scan(link, protocol, version, id_range, plan, as_json)
        else:
            _read(link, protocol, version, target, plan, as_json)
    finally:
        link.close()


def _check_address(address, is_modbus):
    if is_modbus:
        try:
            unit = int(address, 0)
        except ValueError:
            unit = -1
        if not 1 <= unit <= 247:
            raise CliError("--address %r: a Modbus unit id is 1..247" % address, EXIT_BAD_INPUT)
        return unit
    text = address.strip().upper()
    try:
        dlt645.address_bytes(text)
    except ProtocolError:
        raise CliError("--address %r: a DL/T 645 address is up to 12 digits (AA bytes as "
                       "wildcards)" % address, EXIT_BAD_INPUT) from None
    return text.zfill(12) if text.isdigit() else text


def _plan(is_modbus, version, items, register, kind, function, map_name, scan):
    """What to read, checked before the port is touched: [(label, reader args)]."""
    if is_modbus:
        from protocol import modbus_map
        if register is not None:
            if items:
                raise CliError("give --item or --register, not both", EXIT_BAD_INPUT)
            return [("register", {"register": _parse_register(register), "kind": kind,
                                  "function": int(function)})]
        try:
            register_map = modbus_map.load_map(map_name)
            names = items or ("energy_fwd_total",)
            return [("item", {"item": register_map.item(name)}) for name in names]
        except ProtocolError as exc:
            raise CliError(str(exc), EXIT_BAD_INPUT) from None
    if register is not None:
        raise CliError("--register is for Modbus meters; DL/T 645 reads --item", EXIT_BAD_INPUT)
    keys = items or (("9010",) if version == 1997 else ("energy_fwd_total",))
    for key in keys:
        try:
            resolve_dlt645_item(key, version)
        except ProtocolError as exc:
            raise CliError("--item: %s" % exc, EXIT_BAD_INPUT) from None
    return [("dlt645", {"key": key}) for key in keys]


def _read_one(link, protocol, version, target, kind_and_args):
    kind, args = kind_and_args
    if kind == "dlt645":
        return link.dlt645_read(target, args["key"], version)
    return link.modbus_read(target, **args)


def _read(link, protocol, version, target, plan, as_json):
    readings = []
    failures = []
    for step in plan:
        try:
            reading, latency, attempts = _read_one(link, protocol, version, target, step)
            reading.update(ok=True, latency_ms=round(latency * 1000, 1), attempts=attempts)
        except (NoReply, Abnormal) as exc:
            label = step[1].get("key") or getattr(step[1].get("item"), "name", None) or \
                "register 0x%04X" % step[1]["register"]
            reading = {"item": label, "ok": False, "error": exc.detail}
            failures.append("%s: %s" % (label, exc.detail))
        readings.append(reading)
    if not as_json:
        echo_table(["item", "di/register", "value", "latency ms", "tries"],
                   [_reading_row(r) for r in readings if r["ok"]])
    if as_json:
        click.echo(json.dumps({"port": link.port, "protocol": protocol, "baud": link.baud,
                               "parity": link.parity, "address": target,
                               "readings": readings}, indent=None))
    if failures:
        who = "unit %s" % target if protocol == "modbus" else "meter %s" % target
        raise CliError("%s on %s: %s" % (who, link.port, "; ".join(failures)), EXIT_FAILED)


def _reading_row(reading):
    key = reading.get("di") or (
        "fn%d 0x%04X" % (reading["function"], reading["register"]) if "register" in reading
        else "")
    value = reading["value"] + (" " + reading["unit"] if reading.get("unit") else "")
    return [reading["item"], key, value, reading["latency_ms"], reading["attempts"]]


def _scan(link, protocol, version, id_range, plan, as_json):
    found = []
    if protocol != "modbus":
        try:
            address, latency = link.read_address(version)
        except NoReply as exc:
            if "undecodable" in exc.detail:
                raise CliError("replies to the wildcard read were garbled: more than one meter "
                               "on the bus? (read-address finds a lone meter; give --address)",
                               EXIT_FAILED) from None
            raise CliError("no DL/T 645-%d meter answered the wildcard read on %s at %d %s1"
                           % (version, link.port, link.baud, link.parity), EXIT_FAILED) from None
        except Abnormal as exc:
            raise CliError("a meter answered the wildcard read with an %s" % exc.detail,
                           EXIT_FAILED) from None
        found.append({"address": address, "latency_ms": round(latency * 1000, 1)})
    else:
        link.retries = 0            # a scan asks each id once
        probe_item = plan[0][1]
        for unit in id_range:
            try:
                _, latency, _ = link.modbus_read(unit, **probe_item)
                found.append({"address": unit, "latency_ms": round(latency * 1000, 1)})
            except Abnormal as exc:       # an exception reply still proves a meter is there
                found.append({"address": unit, "note": exc.detail})
            except NoReply:
                continue
    if as_json:
        click.echo(json.dumps({"port": link.port, "protocol": protocol, "found": found}))
    else:
        for meter in found:
            extra = ("%.1f ms" % meter["latency_ms"]) if "latency_ms" in meter else meter["note"]
            click.echo("found %s %s  (%s)" % (protocol, meter["address"], extra))
    if not found:
        raise CliError("no Modbus meter answered ids %d-%d on %s at %d %s1" % (
            id_range[0], id_range[-1], link.port, link.baud, link.parity), EXIT_FAILED)
