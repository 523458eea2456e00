"""`conc meters`: the board's meter archive (Q/GDW 1376.1 AFN04 F10 measuring points) over USB."""
import csv
import json
import sys

import click

from host_tools import board_api, quantity_values
from host_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, CliError
from host_tools.output import echo_table
from protocol import meter_record
from protocol.errors import ProtocolError

BATCH = 64          # entries per board call: the board holds a batch in RAM (40 bytes each)
LIST_PAGE = 48
PROTOCOLS = ("dlt645", "dlt645-1997", "modbus")
CSV_FIELDS = ("point", "address", "protocol", "bus", "baud", "parity", "map", "password",
              "tariffs", "user_class", "collector", "serial")


ALIASES = {"dlt645-2007": "dlt645", "645": "dlt645", "645-2007": "dlt645", "645-1997": "dlt645-1997"}


def validate(entry, where=""):
    entry = dict(entry)
    if isinstance(entry.get("protocol"), str):
        entry["protocol"] = ALIASES.get(entry["protocol"].lower(), entry["protocol"].lower())
    try:
        return meter_record.validate(entry)
    except ProtocolError as exc:
        raise CliError("%s%s" % (where, exc.reason), EXIT_BAD_INPUT) from None


def list_meters(board):
    """Every archive entry, page by page."""
    out = []
    after = 0
    while True:
        doc = board_api.call(board, "meters_list(%d, %d)" % (after, LIST_PAGE))
        out.extend(doc["meters"])
        if doc["next"] is None:
            return out
        after = doc["next"]


def _key(entry):
    return (entry["bus"], str(entry["address"]))


def check_against(existing, new_entries):
    """Refuse a batch that repeats a point or a bus+address, in itself or against the board."""
    by_key = {_key(e): e["point"] for e in existing}
    replaced = {e["point"] for e in new_entries}
    by_key = {k: p for k, p in by_key.items() if p not in replaced}
    seen_points = set()
    for e in new_entries:
        if e["point"] in seen_points:
            raise CliError("point %d appears twice" % e["point"], EXIT_BAD_INPUT)
        seen_points.add(e["point"])
        other = by_key.get(_key(e))
        if other is not None:
            raise CliError("point %d: bus %d already has a meter at address %s (point %d); "
                           "remove it first or pick another address"
                           % (e["point"], e["bus"], e["address"], other), EXIT_BAD_INPUT)
        by_key[_key(e)] = e["point"]


def apply_batches(board, changes, label="meters"):
    """Send {point: entry or None} in batches of BATCH, with a progress bar."""
    points = sorted(changes)
    total = 0
    with click.progressbar(length=len(points), label=label, file=sys.stderr,
                           show_pos=True) as bar:
        for i in range(0, len(points), BATCH):
            part = {str(p): changes[p] for p in points[i:i + BATCH]}
            doc = board_api.call(board, "meters_apply(%s)" % board_api.literal(part))
            total += doc["changed"]
            bar.update(len(part))
    return total


def exact_values(result):
    """A test result with its values as exact decimal strings and their units beside them
    (the board reports integers in the catalogue's smallest unit)."""
    protocol = result.get("protocol")
    raw = result.get("values") or {}
    return dict(result,
                values={name: quantity_values.exact_text(name, value, protocol)
                        for name, value in raw.items()},
                units={name: quantity_values.unit(name) for name in raw})


def values_text(result):
    """"energy_fwd_total 1500.00 kWh, voltage_a 218.9 V" for a test result."""
    protocol = result.get("protocol")
    return ", ".join("%s %s" % (name, quantity_values.shown(name, value, protocol))
                     for name, value in sorted(result["values"].items()))


@click.group()
def cli():
    """The board's meter archive: which meter (address, protocol, line settings) is at which
    measuring point on which RS-485 bus. Entries are checked here and again on the board, and
    every change replaces the archive atomically; the firmware restarts with it.
    `conc meters test` is the installer's wiring check: it reads every meter once, now.
    """


@cli.command(name="list")
@board_api.port_option
@board_api.json_option
def list_(port, as_json):
    """Print the archive."""
    with board_api.open_board(port) as board:
        entries = list_meters(board)
    if as_json:
        click.echo(json.dumps(entries, indent=1))
    elif entries:
        echo_table(["point", "bus", "address", "protocol", "baud", "parity", "map"],
                   [[e["point"], e["bus"], e["address"], e["protocol"], e["baud"], e["parity"],
                     e["map"]] for e in entries])
    else:
        click.echo("no meters configured (add them with `conc meters add` or `import`)")


@cli.command()
@click.option("--point", type=int, required=True, help="Measuring point 1..2040.")
@click.option("--address", required=True,
              help="DL/T 645: up to 12 digits (zero-padded); Modbus: unit id 1..247.")
@click.option("--protocol", type=click.Choice(PROTOCOLS + ("dlt645-2007",)), default="dlt645",
              show_default=True, help="dlt645 is DL/T 645-2007.")
@click.option("--bus", type=int, default=1, show_default=True, help="RS-485 bus (port) number.")
@click.option("--baud", type=int, help="Default: 2400 (dlt645), 1200 (1997), 9600 (modbus).")
@click.option("--parity", type=click.Choice(["N", "E", "O"]),
              help="Default: E for DL/T 645, N for Modbus.")
@click.option("--map", "map_name", help="Modbus register map (protocol/maps), e.g. sdm630.")
@click.option("--password", help="DL/T 645 password: level + 6 digits, e.g. 02000000.")
@click.option("--replace", is_flag=True, help="Overwrite a meter already at this point.")
@board_api.port_option
def add(point, address, protocol, bus, baud, parity, map_name, password, replace, port):
    """Add one meter, e.g. `conc meters add --point 1 --address 000000000001 --bus 1`."""
    entry = {"point": point, "address": address, "protocol": protocol, "bus": bus}
    for key, value in (("baud", baud), ("parity", parity), ("map", map_name),
                       ("password", password)):
        if value is not None:
            entry[key] = value
    entry = validate(entry)
    with board_api.open_board(port) as board:
        existing = list_meters(board)
        if not replace and any(e["point"] == point for e in existing):
            raise CliError("point %d is already in use; give --replace to overwrite it" % point,
                           EXIT_BAD_INPUT)
        check_against(existing, [entry])
        doc = board_api.call(board, "meters_apply(%s)" % board_api.literal({str(point): entry}))
    click.echo("point %d: %s meter %s on bus %d (%d meters)" % (
        point, protocol, entry["address"], bus, doc["count"]))


@cli.command()
@click.argument("points", type=int, nargs=-1, required=True)
@board_api.port_option
def remove(points, port):
    """Remove the meters at POINTS."""
    with board_api.open_board(port) as board:
        existing = {e["point"] for e in list_meters(board)}
        missing = [p for p in points if p not in existing]
        if missing:
            raise CliError("no meter at point(s) %s" % ", ".join(map(str, missing)),
                           EXIT_BAD_INPUT)
        doc = board_api.call(board, "meters_apply(%s)" % board_api.literal(
            {str(p): None for p in points}))
    click.echo("removed %d meter(s); %d left" % (len(points), doc["count"]))


def read_csv(path):
    """Entries of a CSV with a header row (columns: CSV_FIELDS; point and address needed)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return _read_entries(path, f)
    except UnicodeDecodeError as exc:
        raise CliError("%s is not UTF-8 text (byte %d): save the CSV as UTF-8"
                       % (path, exc.start), EXIT_BAD_INPUT) from None
    except csv.Error as exc:
        raise CliError("%s is not a readable CSV (%s)" % (path, exc), EXIT_BAD_INPUT) from None


def _read_entries(path, f):
    entries = []
    reader = csv.DictReader(f)
    if not reader.fieldnames or "point" not in reader.fieldnames or \
            "address" not in reader.fieldnames:
        raise CliError("%s needs a header row with at least point and address (columns: %s)"
                       % (path, ", ".join(CSV_FIELDS)), EXIT_BAD_INPUT)
    unknown = [c for c in reader.fieldnames if c not in CSV_FIELDS]
    if unknown:
        raise CliError("%s: unknown column(s) %s; known: %s" % (
            path, ", ".join(unknown), ", ".join(CSV_FIELDS)), EXIT_BAD_INPUT)
    for row in reader:
        line = reader.line_num
        if None in row:         # DictReader keeps fields beyond the header under None
            raise CliError("%s line %d has more fields than the header (%d): remove them or "
                           "name their columns" % (path, line, len(reader.fieldnames)),
                           EXIT_BAD_INPUT)
        entry = {k: v.strip() for k, v in row.items() if v is not None and v.strip()}
        entries.append(validate(entry, "%s line %d: " % (path, line)))
    return entries


@cli.command(name="import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--replace", is_flag=True, help="Overwrite meters already at the same points.")
@board_api.port_option
def import_(csv_file, replace, port):
    """Add the meters of CSV_FILE (header: point,address,protocol,bus,baud,parity,map,...).
    Every row is checked before anything is sent; sent in batches of 64."""
    entries = read_csv(csv_file)
    with board_api.open_board(port) as board:
        existing = list_meters(board)
        if not replace:
            taken = sorted({e["point"] for e in existing} & {e["point"] for e in entries})
            if taken:
                raise CliError("point(s) %s are already in use; give --replace to overwrite"
                               % ", ".join(map(str, taken[:10])), EXIT_BAD_INPUT)
        check_against(existing, entries)
        apply_batches(board, {e["point"]: e for e in entries}, "importing")
        count = len(list_meters(board))
    click.echo("imported %d meter(s); %d in the archive" % (len(entries), count))


@cli.command()
@click.option("--point", "points", type=int, multiple=True,
              help="Only this point (repeatable); default: every meter.")
@board_api.port_option
@board_api.json_option
def test(points, port, as_json):
    """Read each meter once through the board, now, with the poller's own read code: shows
    the values (with their units and the catalogue's decimals, as `conc station readings`
    shows them), the latency and what went wrong (the installer's wiring check). Exit 1 when
    a meter did not answer properly. --json gives each value as an exact decimal string, its
    unit under "units".

    A running firmware keeps its buses: each read goes through the bus task that holds the
    meter's bus, between two meters of its cycle. A board whose firmware does not run is
    tested after a soft reset, with the buses opened for the test.

    \b
    Examples:
      conc meters test
      conc meters test --point 3 --json
    """
    results = []
    with board_api.open_board(port, soft_reset=False) as board:
        if not board_api.call(board, "bus_task_ready()").get("ready"):
            board.soft_reset()          # no firmware to go through: a clean heap instead
        wanted = list(points) or [e["point"] for e in list_meters(board)]
        if not wanted:
            raise CliError("no meters configured: add some with `conc meters add` first",
                           EXIT_BAD_INPUT)
        with click.progressbar(wanted, label="reading", file=sys.stderr,
                               show_pos=True) as bar:
            for point in bar:
                results.append(board_api.call(board, "test_read(%d)" % point, timeout=60))
    failed = [r for r in results if not r.get("ok")]
    if as_json:
        click.echo(json.dumps([exact_values(r) for r in results], indent=1))
    else:
        echo_table(["point", "bus", "address", "result", "latency ms", "values"],
                   [[r["point"], r.get("bus"), r.get("address"), "ok" if r.get("ok") else "FAIL",
                     r.get("latency_ms"), values_text(r) if r.get("ok") else r.get("problem")]
                    for r in results])
        click.echo("%d of %d meter(s) answered" % (len(results) - len(failed), len(results)))
    if failed:
        raise CliError("%d meter(s) failed the test" % len(failed), EXIT_FAILED)
