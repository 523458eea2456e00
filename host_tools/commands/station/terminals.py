"""`conc station terminals`: the registry of concentrators the station accepts, and their meters.

A terminal is known by its A1 area code and A2 address (written AREA-ADDRESS, e.g. 4101-1) or by
its name. Its password (the 16-byte PW the station sends in control frames) is stored sealed
with the station's key file (CONC_STATION_KEY; docs/station.md) and never printed. Its meter archive is what the front end downloads with AFN04 F10.
"""
import json

import click

from host_tools.commands.station._common import (db_option, echo_json, json_time, opened_station,
                                                 show_time)
from host_tools.output import echo_table
from host_tools.errors import EXIT_BAD_INPUT, EXIT_USAGE, CliError
from host_tools.station.terminal_registry import check_address

PROTOCOLS = {"dlt645-1997": 1, "ac-sampling": 2, "dlt645-2007": 30}
PROTOCOL_NAMES = {code: name for name, code in PROTOCOLS.items()}

PASSWORD_HELP = ("The terminal's PW: up to 32 hex digits (16 bytes, in wire order; shorter is "
                 "padded with 00 bytes). Asked for without echo when not given.")


def protocol_name(code):
    return PROTOCOL_NAMES.get(code, str(code))


def _terminal_json(terminal, points=None):
    record = {"id": terminal.id, "terminal": terminal.label, "area_code": terminal.area_code,
              "address": terminal.address, "name": terminal.name, "status": terminal.status,
              "last_seen": json_time(terminal.last_seen_at),
              "registered": json_time(terminal.created_at)}
    if points is not None:
        record["meters"] = points
    return record


@click.group()
def cli():
    """Register, list and remove the terminals (concentrators) the station accepts, and manage
    their meter archives.

    \b
    Examples:
      conc station terminals add --area 4101 --address 1 --name north-yard
      conc station terminals add-meter 4101-1 --pn 1 --meter 000000000001 --port 2
      conc station terminals list
      conc station terminals allow 4101-1 10.8.0.0/16      # logins only from that network
      conc station terminals remove 4101-1
    """


@cli.command("add")
@click.option("--area", required=True, help="A1 area code, 4 decimal digits (e.g. 4101).")
@click.option("--address", required=True, help="A2 terminal address 1..65534 (or hex as 0x...).")
@click.option("--password", prompt="Terminal password (hex)", hide_input=True,
              confirmation_prompt=True, help=PASSWORD_HELP)
@click.option("--name", default="", help="A short name to refer to the terminal by.")
@click.option("--count", type=click.IntRange(1, 65534), default=1, show_default=True,
              help="Register this many terminals at consecutive addresses from --address, with "
              "the same password (e.g. for a load test with `conc sim terminals`).")
@click.option("--json", "as_json", is_flag=True, help="Print the new terminal as JSON.")
@db_option
def add(area, address, password, name, count, as_json, db_url):
    """Register a terminal: it may then log in, and the station may control it."""
    if count > 1 and name:
        raise CliError("--name names one terminal: leave it out with --count", EXIT_BAD_INPUT)
    with opened_station(db_url, create=True) as station:
        if count == 1:
            terminal = station.add_terminal(area, address, password, name=name)
        else:
            first = check_address(address)
            if first + count - 1 > 65534:
                raise CliError("--address %d with --count %d goes past 65534" % (first, count),
                               EXIT_BAD_INPUT)
            station.add_terminals([(area, a, password, "") for a in range(first, first + count)])
            last = station.find_terminal(area, first + count - 1)
            click.echo("registered %d terminals %s-%d .. %s" % (
                count, last.area_code, first, last.label))  # pyright: ignore[reportOptionalMemberAccess] - the terminal was just registered
            return
    if as_json:
        echo_json(_terminal_json(terminal))
    else:
        click.echo("registered terminal %s%s" % (
            terminal.label, " (%s)" % terminal.name if terminal.name else ""))  # pyright: ignore[reportOptionalMemberAccess] - the terminal was just registered


@cli.command("import")
@click.argument("file", type=click.File("r"))
@db_option
def import_(file, db_url):
    """Register terminals and their meter archives from a JSON file (`-` reads stdin).

    
    The file is a list of terminals:
      [{"area": "4101", "address": 1, "password": "00", "name": "north-yard",
        "meters": [{"pn": 1, "meter": "000000000001", "protocol": "dlt645-2007",
                    "port": 2, "baud": 2400, "tariffs": 4}]}]
    Meter keys besides pn and meter are optional: protocol, port, baud, tariffs, user_class,
    user_subclass, meter_password, collector. Nothing is registered if any entry is wrong
    or already registered.
    """
    try:
        entries = json.load(file)
    except ValueError as exc:
        raise CliError("%s is not JSON: %s" % (file.name, exc), EXIT_BAD_INPUT) from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CliError("%s must hold a JSON list of terminal objects" % file.name, EXIT_BAD_INPUT)
    terminals, archives = [], []
    for n, entry in enumerate(entries, 1):
        try:
            terminals.append((entry["area"], entry["address"], entry["password"],
                              entry.get("name", "")))
            archives.append([_meter_fields(m) for m in entry.get("meters", [])])
        except (KeyError, TypeError, AttributeError) as exc:
            raise CliError("terminal %d in %s: missing or bad %s (needs area, address, password; "
                           "meters need pn and meter)" % (n, file.name, exc), EXIT_BAD_INPUT) \
                from None
    with opened_station(db_url, create=True) as station:
        with station.db.transaction():      # all terminals and archives, or nothing
            station.add_terminals(terminals)
            for (area, address, _, _), points in zip(terminals, archives, strict=True):
                if points:
                    station.set_measuring_points(station.find_terminal(area, address).id, points)  # pyright: ignore[reportOptionalMemberAccess] - the terminal was just registered
    click.echo("registered %d terminals with %d meters" % (
        len(terminals), sum(len(p) for p in archives)))


def _meter_fields(meter):
    fields = {"pn": meter["pn"], "meter_address": str(meter["meter"])}
    names = {"protocol": "protocol", "port": "port", "baud": "baud", "tariffs": "tariff_count",
             "user_class": "user_class", "user_subclass": "user_subclass",
             "meter_password": "meter_password", "collector": "collector_address"}
    unknown = set(meter) - set(names) - {"pn", "meter"}
    if unknown:
        raise KeyError("meter key %s" % ", ".join(sorted(unknown)))
    for key, field in names.items():
        if key in meter:
            fields[field] = meter[key]
    if isinstance(fields.get("protocol"), str):
        fields["protocol"] = _protocol_code(fields["protocol"])
    return fields


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (passwords are never shown).")
@db_option
def list_(as_json, db_url):
    """List registered terminals: address, name, status, last seen, meters in the archive."""
    with opened_station(db_url) as station:
        terminals = station.terminals()
        counts = station.meter_counts()
    if as_json:
        echo_json([_terminal_json(t, counts.get(t.id, 0)) for t in terminals])
        return
    if not terminals:
        click.echo("no terminals registered (add one with `conc station terminals add`)")
        return
    echo_table(["TERMINAL", "NAME", "STATUS", "LAST SEEN", "METERS"],
               [[t.label, t.name or "-", t.status, show_time(t.last_seen_at), counts.get(t.id, 0)]
                for t in terminals])


def _pick_terminal(station, terminal, area, address):
    if terminal and (area or address):
        raise CliError("give the terminal either as TERMINAL or with --area/--address, not both",
                       EXIT_BAD_INPUT)
    if terminal:
        return station.terminal(terminal)
    if area and address:
        return station.terminal("%s-%s" % (area, address))
    raise CliError("which terminal? give TERMINAL (AREA-ADDRESS or name) or --area and --address",
                   EXIT_BAD_INPUT)


@cli.command("remove")
@click.argument("terminal", required=False)
@click.option("--area", help="A1 area code (with --address, instead of TERMINAL).")
@click.option("--address", help="A2 terminal address.")
@click.option("--purge", is_flag=True,
              help="Also delete its stored readings, frozen values and events (asks first).")
@click.option("--yes", is_flag=True, help="Do not ask before purging.")
@db_option
def remove(terminal, area, address, purge, yes, db_url):
    """Unregister a terminal (TERMINAL is AREA-ADDRESS like 4101-1, or its name).

    Its meter archive goes with it. A terminal with stored data is only removed with --purge,
    which deletes that data; the command audit trail is always kept.
    """
    with opened_station(db_url) as station:
        found = _pick_terminal(station, terminal, area, address)
        counts = station.data_counts(found.id)
        held = ", ".join("%d %s" % (n, t.replace("_", " ")) for t, n in counts.items() if n)
        if purge and held and not yes:
            click.confirm("Delete terminal %s and its %s?" % (found.label, held), abort=True)
        station.remove_terminal(found.id, purge=purge)
    click.echo("removed terminal %s%s" % (found.label, " and its %s" % held if held else ""))


@cli.command("set-password")
@click.argument("terminal")
@click.option("--password", prompt="New terminal password (hex)", hide_input=True,
              confirmation_prompt=True, help=PASSWORD_HELP)
@db_option
def set_password(terminal, password, db_url):
    """Change the PW the station uses for a terminal."""
    with opened_station(db_url) as station:
        found = station.terminal(terminal)
        station.set_terminal_password(found.id, password)
    click.echo("password of terminal %s changed" % found.label)


@cli.command("set-relay-path")
@click.argument("terminal")
@click.argument("path", type=click.Choice(["afn05", "forward"]))
@db_option
def set_relay_path(terminal, path, db_url):
    """How `conc station trip/close` reach this terminal's meters: afn05 (AFN05 F1/F2 with
    Pn = the measuring point, our terminals' mapping; the default) or forward (DL/T 645 0x1C
    through AFN10 F1 transparent forwarding, confirmed by reading status word 3 the same way:
    for terminals without that mapping). The meter's address, port and password come from the
    station's archive (`add-meter --meter-password`).

    \b
    Example:
      conc station terminals set-relay-path 4101-7 forward
    """
    with opened_station(db_url) as station:
        found = station.terminal(terminal)
        station.set_relay_path(found.id, path)
    click.echo("meter relays of terminal %s: %s" % (found.label, path))


@cli.command("meters")
@click.argument("terminal")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def meters(terminal, as_json, db_url):
    """Show a terminal's meter archive (what AFN04 F10 sends it)."""
    with opened_station(db_url) as station:
        found = station.terminal(terminal)
        points = station.measuring_points(found.id)
    if as_json:
        echo_json([{"pn": p.pn, "serial_no": p.serial_no, "meter": p.meter_address,
                    "protocol": protocol_name(p.protocol), "port": p.port, "baud": p.baud,
                    "tariffs": p.tariff_count, "integer_digits": p.integer_digits,
                    "decimal_digits": p.decimal_digits, "collector": p.collector_address,
                    "user_class": p.user_class, "user_subclass": p.user_subclass, "sent": json_time(p.archive_sent_at),
                    "verified": json_time(p.archive_verified_at)} for p in points])
        return
    if not points:
        click.echo("terminal %s has no meters in its archive (add with `conc station terminals "
                   "add-meter`)" % found.label)
        return
    echo_table(["PN", "METER", "PROTOCOL", "PORT", "BAUD", "TARIFFS", "CLASS", "VERIFIED"],
               [[p.pn, p.meter_address, protocol_name(p.protocol), p.port, p.baud or "default",
                 p.tariff_count, p.user_class, show_time(p.archive_verified_at)] for p in points])


def _protocol_code(text):
    text = text.strip().lower()
    if text in PROTOCOLS:
        return PROTOCOLS[text]
    if text.isdigit():
        return int(text)
    raise CliError("unknown meter protocol %r: one of %s, or a 1376.1 protocol number"
                   % (text, ", ".join(PROTOCOLS)), EXIT_BAD_INPUT)


@cli.command("add-meter")
@click.argument("terminal")
@click.option("--pn", type=int, required=True, help="Measuring point number 1..2040.")
@click.option("--meter", "meter_address", required=True,
              help="Meter address as printed on it, up to 12 digits (zero-padded on the left).")
@click.option("--protocol", default="dlt645-2007", show_default=True,
              help="dlt645-2007, dlt645-1997, ac-sampling, or a 1376.1 protocol number.")
@click.option("--port", type=int, default=2, show_default=True,
              help="The terminal's RS-485 port the meter is on (1..31).")
@click.option("--baud", type=int, default=2400, show_default=True,
              help="Meter baud rate (0 = the port's default).")
@click.option("--tariffs", type=int, default=4, show_default=True, help="Number of tariffs.")
@click.option("--user-class", type=int, default=0, show_default=True,
              help="User class 0..15 (1376.1 F10).")
@click.option("--user-subclass", type=int, default=0, show_default=True,
              help="User subclass 0..15 (1376.1 F10).")
@click.option("--meter-password", default="000000000000", show_default=True,
              help="The meter's 6-byte password, 12 hex digits (never printed).")
@db_option
def add_meter(terminal, pn, meter_address, protocol, port, baud, tariffs, user_class,
              user_subclass, meter_password, db_url):
    """Add (or replace) a meter in a terminal's archive as measuring point --pn."""
    with opened_station(db_url) as station:
        found = station.terminal(terminal)
        point = station.set_measuring_point(
            found.id, pn, meter_address, protocol=_protocol_code(protocol), port=port, baud=baud,
            tariff_count=tariffs, user_class=user_class, user_subclass=user_subclass,
            meter_password=meter_password)
    click.echo("terminal %s p%d: meter %s (%s, port %d, %s baud)" % (
        found.label, point.pn, point.meter_address, protocol_name(point.protocol), point.port,
        point.baud or "default"))


@cli.command("remove-meter")
@click.argument("terminal")
@click.option("--pn", type=int, required=True, help="Measuring point number to remove.")
@db_option
def remove_meter(terminal, pn, db_url):
    """Remove measuring point --pn from a terminal's archive (its readings stay)."""
    with opened_station(db_url) as station:
        found = station.terminal(terminal)
        station.remove_measuring_point(found.id, pn)
    click.echo("terminal %s p%d removed from the archive" % (found.label, pn))



@cli.command("allow")
@click.argument("terminal")
@click.argument("networks", nargs=-1, metavar="[NETWORK]...")
@click.option("--any", "any_source", is_flag=True,
              help="Lift the restriction: logins from any address.")
@click.option("--json", "as_json", is_flag=True, help="Print the networks as JSON.")
@db_option
def allow(terminal, networks, any_source, as_json, db_url):
    """Restrict the source networks TERMINAL may log in from (CIDR, or single addresses).

    A 1376.1 login carries no secret: whoever knows A1/A2 can log in as the terminal. With
    networks set, a login from elsewhere is denied and raises a security alarm. Without
    NETWORK or --any, print the networks set. A running `serve` picks a change up the next
    time it reads the registry (at start, and when an unknown terminal logs in).

    \b
    Examples:
      conc station terminals allow 4101-1 10.8.0.0/16          # the carrier's APN pool
      conc station terminals allow 4101-1 10.8.0.0/16 10.9.1.7
      conc station terminals allow 4101-1                      # show
      conc station terminals allow 4101-1 --any                # lift
    """
    if networks and any_source:
        raise CliError("give NETWORKs or --any, not both", EXIT_USAGE)
    with opened_station(db_url) as station:
        found = station.terminal(terminal)
        if networks or any_source:
            current = station.set_allowed_networks(found.id, [] if any_source else networks)
        else:
            current = station.allowed_networks(found.id).get(found.id, ())
    shown = [str(n) for n in current]
    if as_json:
        echo_json({"terminal": found.label, "allowed_networks": shown})
    else:
        click.echo("terminal %s logs in from %s" % (found.label, ", ".join(shown) if shown
                                                     else "any address"))
