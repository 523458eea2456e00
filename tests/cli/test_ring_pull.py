"""`conc pull`'s outputs, without a board: rows a spreadsheet reads back exactly, and a rerun
that appends only what the file does not hold yet."""
import csv
import json

from host_tools import ring_pull

ITEMS = {"1": ["realtime", "energy_fwd_total"], "11": ["realtime", "voltage_a"]}


def rows_of(records):
    return [row for record in records for row in ring_pull.expand(record, ITEMS)]


# [seq, type, point, time (s since 2000), body] as firmware/usb_api.py pull_chunk sends them
READINGS = [7, ring_pull.READINGS, 3, 0, [[1, 150000], [11, 2189]]]
# ERC14 power off 2026-12-07 03:00, on 03:05 (A.15 fields: minute hour day month year BCD)
POWER_CUT = [8, ring_pull.EVENT, 0, 60, "0e" + "0003071226" + "0503071226"]
BOOT = [9, ring_pull.MARKER, 0, 61, "01" + b"v1,2".hex()]


def test_records_become_one_row_per_reading_event_or_marker():
    rows = rows_of([READINGS, POWER_CUT, BOOT])
    assert [(r["seq"], r["kind"], r["quantity"], r["value"]) for r in rows] == [
        (7, "realtime", "energy_fwd_total", 150000), (7, "realtime", "voltage_a", 2189),
        (8, "event", "ERC14", None), (9, "marker", "boot", None)]
    assert rows[0]["time"] == "2000-01-01T00:00:00" and rows[0]["point"] == 3
    detail = json.loads(rows[2]["detail"])
    assert detail["power_off"] == [2026, 12, 7, 3, 0] and detail["power_on"] == [2026, 12, 7, 3, 5]
    assert rows[3]["detail"] == "v1,2"


def test_csv_cells_with_commas_and_quotes_read_back_exactly_and_a_rerun_appends_only_new(tmp_path):
    path = str(tmp_path / "pull.csv")
    out = ring_pull.open_output(path, "csv")
    out.write(rows_of([READINGS, POWER_CUT]))
    out.commit()
    out.close()
    again = ring_pull.open_output(path, "csv")
    assert again.last_seq == 8
    again.write(rows_of([POWER_CUT, BOOT]))         # the event again: the cursor had not moved
    again.commit()
    again.close()
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(ring_pull.FIELDS)
    assert [r["seq"] for r in rows] == ["7", "7", "8", "9"]
    assert rows[2]["detail"] == rows_of([POWER_CUT])[0]["detail"]    # JSON with , and "
    assert rows[3]["detail"] == "v1,2" and rows[2]["value"] == ""
