"""`conc config`: the board's field settings (protocol/settings.py) over USB."""
import json
from pathlib import Path

import click

from host_tools import board_api
from host_tools.errors import EXIT_BAD_INPUT, CliError
from host_tools.output import echo_table
from protocol import settings as schema
from protocol.errors import ProtocolError


def _allowed(key):
    kind, low, high, default, meaning = schema.SCHEMA[key]
    if kind in (schema.INT, schema.HHMM):
        rng = "%s..%s" % (schema.show(key, low), schema.show(key, high))
    elif kind == schema.ITEMS:
        rng = "%d..%d item names, comma separated" % (low, high)
    elif key == schema.PW_KEY:
        rng = "2..32 hex digits, or empty"
    elif kind == schema.TASKS:
        rng = "up to %d tasks, set by the master station with AFN04 F65..F68" % high
    else:
        rng = "%d..%d characters" % (low, high)
    return "%s (%s)" % (meaning, rng)


def check_changes(changes):
    """Validate {key: value} on the host; CliError names the key and what is allowed."""
    checked = {}
    for key, value in changes.items():
        try:
            if isinstance(value, str) and schema.SCHEMA.get(key, (None,))[0] in (
                    schema.INT, schema.HHMM):
                checked[key] = schema.parse(key, value)
            else:
                checked[key] = schema.check(key, value)
        except ProtocolError as exc:
            hint = "; allowed: %s" % _allowed(key) if key in schema.SCHEMA else ""
            raise CliError("%s%s" % (exc.reason, hint), EXIT_BAD_INPUT) from None
        if schema.SCHEMA[key][0] == schema.ITEMS:
            _check_items(key, checked[key])
    return checked


# names the firmware reads under another catalogue name (firmware/quantities.py ALIASES)
ITEM_ALIASES = {"power_total": "power_active_total"}


def _check_items(key, names):
    """Every plan item must be in the DL/T 645 catalogue: the board compiles its plans from
    it at boot, and an unknown name there would leave it without a poller."""
    from protocol import dlt645_items
    for name in names.split(","):
        try:
            _, row = dlt645_items.find(ITEM_ALIASES.get(name, name))
        except ProtocolError:
            row = None
        if row is None:
            raise CliError("%s: %r is not a data item of the DL/T 645 catalogue (see `conc "
                           "probe --help` for names, e.g. energy_fwd_block, voltage_block)"
                           % (key, name), EXIT_BAD_INPUT)


def apply(port, changes):
    """Send validated settings; the board checks them again and replaces /config.json
    atomically. Returns the board's answer {"changed", "settings", "problems"}."""
    checked = check_changes(changes)
    with board_api.open_board(port) as board:
        return board_api.call(board, "config_set(%s)" % board_api.literal(checked))


def _show_table(settings):
    rows = []
    for key in sorted(schema.SCHEMA):
        value = settings.get(key)
        kind = schema.SCHEMA[key][0]
        if kind == schema.SECRET:
            text = value if isinstance(value, str) and value.startswith("(") else \
                schema.show(key, value)
        else:
            text = schema.show(key, value)
        rows.append([key, text, "" if value == schema.SCHEMA[key][3] else "*"])
    echo_table(["setting", "value", "changed"], rows)


@click.group()
def cli():
    """Show and change a board's field settings: terminal address (terminal.area = A1,
    terminal.address = A2), master station (master.host/port/apn), heartbeat, online mode,
    password, reading plans. Values are checked here before anything is sent, checked again
    on the board, and the settings file is replaced atomically. The firmware restarts with
    them. Run `conc config keys` for every key, its range and meaning.
    """


@cli.command()
@board_api.port_option
@board_api.json_option
def show(port, as_json):
    """Print every setting ('*' marks values that differ from the default). Passwords
    are never shown, only whether one is set."""
    with board_api.open_board(port) as board:
        doc = board_api.call(board, "config_show()")
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    _show_table(doc["settings"])
    _note_converted(doc)
    for problem in doc.get("problems", []):
        click.echo("warning: %s" % problem, err=True)


def _note_converted(doc):
    if "comm.password" in doc.get("converted", ()):
        click.echo("note: comm.password was saved by an older firmware as text; it is now "
                   "stored as hex (the same 16 bytes on the wire). Type it as hex from now "
                   "on, as `conc station terminals add --password` does.", err=True)


@cli.command(name="set")
@click.argument("key")
@click.argument("value")
@board_api.port_option
@board_api.json_option
def set_(key, value, port, as_json):
    """Set KEY to VALUE, e.g. `conc config set master.host 10.0.0.5`,
    `conc config set plan.frozen_at 00:10` or `conc config set comm.password 00112233` (the
    PW in hex, 16 bytes in wire order, zero-padded: the same text the master station takes)."""
    doc = apply(port, {key: value})
    _note_converted(doc)
    shown = doc["settings"][key] if schema.SCHEMA[key][0] == schema.SECRET else \
        schema.show(key, doc["settings"][key])
    if as_json:
        click.echo(json.dumps({"changed": doc["changed"], key: shown}))
    else:
        click.echo("%s = %s%s" % (key, shown, "" if doc["changed"] else " (unchanged)"))


def read_settings_file(path):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CliError("%s is not a settings file (not UTF-8 text at byte %d): give a JSON or "
                       "TOML file" % (path, exc.start), EXIT_BAD_INPUT) from None
    if "\x00" in text:
        raise CliError("%s is not a settings file (it holds binary data): give a JSON or TOML "
                       "file" % path, EXIT_BAD_INPUT)
    try:
        if path.endswith(".toml"):
            import tomllib
            raw = tomllib.loads(text)
        else:
            raw = json.loads(text)
    except ValueError as exc:
        raise CliError("%s is not valid %s: %s" % (path, "TOML" if path.endswith(".toml")
                                                   else "JSON", exc), EXIT_BAD_INPUT) from None
    if not isinstance(raw, dict):
        raise CliError("%s must hold a table of key = value" % path, EXIT_BAD_INPUT)
    flat = {}
    for key, value in raw.items():      # TOML sections [master] host = ... -> master.host
        if isinstance(value, dict):
            for sub, v in value.items():
                flat["%s.%s" % (key, sub)] = v
        else:
            flat[key] = value
    return flat


@cli.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@board_api.port_option
@board_api.json_option
def import_(file, port, as_json):
    """Set every key of FILE (JSON {"key": value}, or TOML with [section] tables): all of
    them are checked first; nothing is sent when one is wrong."""
    changes = read_settings_file(file)
    doc = apply(port, changes)
    if as_json:
        click.echo(json.dumps({"changed": doc["changed"]}))
    else:
        click.echo("%d setting(s) changed: %s" % (len(doc["changed"]),
                                                 ", ".join(doc["changed"]) or "none"))


@cli.command()
def keys():
    """List every setting with its range, default and meaning (no board needed)."""
    for key in sorted(schema.SCHEMA):
        click.echo("%s (default %s)\n    %s" % (key, schema.show(key, schema.SCHEMA[key][3]),
                                                _allowed(key)))
