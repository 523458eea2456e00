"""What `conc` commands show people: tables (aligned columns under a header line) and progress
bars fed by the host_tools libraries' `on_progress(done, total)` callbacks.

    echo_table(["point", "bus", "address"], [[1, 1, "000000000001"]])

    point  bus  address
        1    1  000000000001

Numbers (int, float, Decimal) are right-aligned so their digits line up; text is left-aligned.
A cell is shown with str(), so give values already in their units and decimals
(host_tools/quantity_values.py); None shows as "-".
"""
import sys
from decimal import Decimal

import click

GAP = "  "


def _is_number(cell):
    return isinstance(cell, (int, float, Decimal)) and not isinstance(cell, bool)


def table(headers, rows):
    """The lines of a table (header first), without trailing blanks."""
    rows = [list(row) for row in rows]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError("a row has %d cells for %d columns: %r" % (len(row), len(headers),
                                                                        row))
    right = [bool(rows) and all(_is_number(row[i]) or row[i] is None for row in rows)
             for i in range(len(headers))]
    texts = [["-" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in texts]) for i, h in enumerate(headers)]

    def line(cells):
        return GAP.join(cell.rjust(width) if align else cell.ljust(width)
                        for cell, width, align in zip(cells, widths, right, strict=True)).rstrip()

    return [line([str(h) for h in headers])] + [line(cells) for cells in texts]


def echo_table(headers, rows, err=False):
    """Print a table; `err` sends it to standard error (when stdout carries data)."""
    for text in table(headers, rows):
        click.echo(text, err=err)


class ProgressBar:
    """A click progress bar on standard error as an `on_progress(done, total)` callback: it
    appears when the library knows its total (hidden: counts nothing, shows nothing).

        with ProgressBar("pulling", hidden=quiet) as bar:
            ring_pull.pull(port, path, "csv", on_progress=bar)
    """

    def __init__(self, label, hidden=False):
        self.label = label
        self.hidden = hidden
        self.bar = None
        self.shown = 0

    def __call__(self, done, total):
        if self.hidden:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr,
                                         show_pos=True)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
