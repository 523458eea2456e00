"""`conc pull`: download readings and events from a board's ring log over USB, resumably.

The transfer and its guarantees (nothing lost or doubled by an interruption) are
host_tools/ring_pull.py; this module reads the options and reports.
"""
import datetime
import json

import click

from host_tools import board_api, ring_pull
from host_tools.errors import EXIT_BAD_INPUT, CliError
from host_tools.output import ProgressBar
from protocol import clock_math
from protocol.errors import ProtocolError


def parse_since(text):
    """TIME as YYYY-MM-DD[ HH:MM[:SS]] (board local time) -> wall seconds since 2000."""
    if text is None:
        return None
    try:
        t = datetime.datetime.fromisoformat(text.replace(" ", "T"))
        return clock_math.to_seconds(t.year, t.month, t.day, t.hour, t.minute, t.second)
    except (ValueError, ProtocolError):
        raise CliError("--since must be a time like 2026-03-01 or '2026-03-01 12:00', not %r"
                       % text, EXIT_BAD_INPUT) from None


@click.command()
@board_api.port_option
@click.option("--since", help="Only records from this time on (board time), e.g. 2026-03-01.")
@click.option("--format", "fmt", type=click.Choice(ring_pull.FORMATS), default="csv",
              show_default=True, help="csv and json (JSON Lines) append to FILE; sqlite adds "
              "to the readings and events tables of FILE.")
@click.option("-o", "--output", "output_path", required=True,
              help="Output file, or - for standard output (csv, json).")
@click.option("--chunk", type=click.IntRange(1, 200), default=ring_pull.CHUNK, show_default=True,
              help="Records per transfer (smaller: less board heap, more round trips).")
@board_api.json_option
def cli(port, since, fmt, output_path, chunk, as_json):
    """Download the readings and events the board has logged since the last pull.

    Resumable: the board's "usb" cursor moves only after the data is safely on disk, so an
    interrupted pull (cable pulled, Ctrl-C) loses nothing; run the same command again and it
    continues. One row per reading: seq, time, point, record, kind (realtime, curve, frozen,
    midnight), quantity, value (the meter's integer in its smallest unit: 0.01 kWh, 0.1 V,
    0.001 A ...), detail (event fields).

    \b
    Examples:
      conc pull -o readings.csv
      conc pull --format sqlite -o site.db
      conc pull --format json -o - --since 2026-03-01 | jq .
    """
    to_stdout = output_path == "-"
    with ProgressBar("pulling", hidden=to_stdout) as progress:
        summary = ring_pull.pull(port, output_path, fmt, parse_since(since), chunk=chunk,
                                 on_progress=progress)
    if as_json:
        click.echo(json.dumps(summary), err=to_stdout)
    else:
        click.echo("pulled %d record(s): %d reading(s), %d event(s), %d marker(s)%s; cursor now "
                   "%d" % (summary["records"], summary["readings"], summary["events"],
                           summary["markers"],
                           " (%d already stored)" % summary["skipped_duplicates"]
                           if summary["skipped_duplicates"] else "", summary["cursor"]),
                   err=to_stdout)
        if summary.get("lost"):
            click.echo("warning: the ring log overwrote %d record(s) before a pull could take "
                       "them (pull more often)" % summary["lost"], err=True)
