"""Tables of statistics as CSV or XLSX files (openpyxl), with their units in the headers.

    columns = [Column("period", "period"), Column("kwh_e4", "kWh", KWH)]
    write_csv(rows, columns, sys.stdout)
    write_xlsx(rows, columns, "consumption.xlsx", title="consumption")

A column has a kind: text (as is), KWH (an e4 energy shown with 2 decimals), RATE (a Decimal
fraction shown as a percentage with 2 decimals) or COUNT. CSV cells are exact decimal text;
XLSX cells are numbers with a number format, so a spreadsheet can sum them.
"""
import collections
import csv
from decimal import Decimal

TEXT, KWH, RATE, COUNT = "text", "kwh", "rate", "count"
Column = collections.namedtuple("Column", "key header kind", defaults=(TEXT,))
XLSX_FORMATS = {KWH: "#,##0.00", RATE: "0.00%", COUNT: "0"}


def cell(value, kind):
    """The exact value of a cell: Decimal kWh, Decimal percent fraction, int or text."""
    if value is None:
        return None
    if kind == KWH:
        return (Decimal(value) / 10 ** 4).quantize(Decimal("0.01"))
    if kind == RATE:
        return Decimal(value)
    if kind == COUNT:
        return int(value)
    return value


def text(value, kind):
    """A cell as people read it: kWh with 2 decimals, rates as 4.37 %."""
    value = cell(value, kind)
    if value is None:
        return "-"
    if kind == RATE:
        return "%s %%" % (value * 100).quantize(Decimal("0.01"))  # pyright: ignore[reportAttributeAccessIssue] - value is a Decimal
    return str(value)


def write_csv(rows, columns, stream):
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([c.header for c in columns])
    for row in rows:
        writer.writerow(["" if (v := cell(row.get(c.key), c.kind)) is None else v
                         for c in columns])


def write_xlsx(rows, columns, path, title="data"):
    """Write one sheet named `title`; the header row is frozen and columns sized to fit."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=False)
    sheet = book.active
    sheet.title = title[:31]  # pyright: ignore[reportOptionalMemberAccess] - a new Workbook has an active sheet
    sheet.append([c.header for c in columns])  # pyright: ignore[reportOptionalMemberAccess] - a new Workbook has an active sheet
    for header in sheet[1]:  # pyright: ignore[reportOptionalSubscript] - a new Workbook has an active sheet
        header.font = Font(bold=True)
    widths = [len(c.header) for c in columns]
    for row in rows:
        values = [cell(row.get(c.key), c.kind) for c in columns]
        sheet.append([float(v) if isinstance(v, Decimal) else v for v in values])  # pyright: ignore[reportOptionalMemberAccess] - a new Workbook has an active sheet
        for i, v in enumerate(values):
            widths[i] = max(widths[i], len(str(v)) + 2)
    for i, c in enumerate(columns, 1):
        if c.kind in XLSX_FORMATS:
            for (item,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):  # pyright: ignore[reportOptionalMemberAccess] - a new Workbook has an active sheet
                item.number_format = XLSX_FORMATS[c.kind]
        sheet.column_dimensions[get_column_letter(i)].width = min(widths[i - 1] + 2, 40)  # pyright: ignore[reportOptionalMemberAccess] - a new Workbook has an active sheet
    sheet.freeze_panes = "A2"  # pyright: ignore[reportOptionalMemberAccess] - a new Workbook has an active sheet
    book.save(path)
