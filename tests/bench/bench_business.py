"""`make bench ONLY=business`: the billing office's figures on a database with a year of daily
frozen values for 10,000 customers (1,000 concentrators, 100 transformer areas), made by
host_tools.business.demo_data (seeded; no month billed beforehand).

- business.bill_10k_s.sqlite / .postgresql: billing.run of 2026-11 for every customer (TOU and
  tiered tariffs, a meter swap, held statements), one transaction.
- business.line_loss_month_ms(.postgresql): stats.line_loss of one month for the 100 areas,
  the median of 5 runs.
- business.statements_10k_s(.postgresql): the period's 10,000 statements gathered and written to
  one PDF.
- business.statement_kb: the mean size of a single-statement PDF (the ZIP / folder form, each
  with its own font subset), over 200 statements.
- business.demo_data_10k_s.*: how long the demo data itself takes (18 million frozen values
  through host_tools.business.frozen_load), goal <= 240 s each so the area runs in under
  10 minutes; it says how many frozen values over which days the other figures had.

SQLite is a file in a temp dir with the station's settings; PostgreSQL a throwaway local
server (or CONC_TEST_POSTGRES_URL's).
"""
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from host_tools.business import billing, demo_data, statements_pdf, stats, users
from host_tools.business.database import open_business
from host_tools.station import pgtest

CUSTOMERS = 10_000
UNTIL = "2026-12-01"
PERIOD = "2026-11"
NOW = 1796115600            # 2026-12-01 09:00 UTC
PASSWORD = "bench-password"
SETUP_GOAL = "<= 240"       # so that the whole area stays under 10 minutes


def _prepare(url):
    engine = open_business(url)
    started = time.perf_counter()
    summary = demo_data.generate(engine, CUSTOMERS, until=UNTIL, password=PASSWORD,
                                 billed_months=0)
    return engine, time.perf_counter() - started, summary


def _volume(summary):
    """What the figures were measured on: a year of daily frozen values."""
    return {"customers": summary["customers"], "frozen_values": summary["frozen_values"],
            "days": "%s..%s" % (summary["first_day"], summary["last_day"])}


def _admin(engine):
    return users.authenticate(engine, "admin", PASSWORD, NOW)


def _bill(engine):
    admin = _admin(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        result = billing.run(conn, PERIOD, NOW, admin)
    spent = time.perf_counter() - started
    with engine.begin() as conn:
        billing.issue(conn, PERIOD, NOW, admin)
    held = sum(1 for s in result.statements if s.state == "held")
    return spent, len(result.statements), held


def _line_loss_ms(engine):
    times = []
    for _ in range(5):
        with engine.connect() as conn:
            started = time.perf_counter()
            rows = stats.line_loss(conn, PERIOD, PERIOD)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, len(rows)


def _statements(engine, folder):
    started = time.perf_counter()
    with engine.connect() as conn:
        sheets, _held = statements_pdf.statement_sheets(conn, PERIOD)
    (path,) = statements_pdf.write_statements(sheets, Path(folder) / "statements.pdf")
    spent = time.perf_counter() - started
    return spent, sheets, Path(path).stat().st_size


def _statement_kb(sheets):
    sizes = [len(statements_pdf.statements_pdf([sheet])) for sheet in sheets[::50][:200]]
    return statistics.mean(sizes) / 1024, len(sizes)


def run(bench):
    with tempfile.TemporaryDirectory() as folder:
        engine, setup, summary = _prepare("sqlite:///%s" % (Path(folder) / "station.db"))
        bench.emit("business.demo_data_10k_s.sqlite", round(setup, 1), "s", goal=SETUP_GOAL,
                   **_volume(summary))
        spent, count, held = _bill(engine)
        bench.emit("business.bill_10k_s.sqlite", round(spent, 2), "s", goal="<= 30",
                   statements=count, held=held)
        ms, areas = _line_loss_ms(engine)
        bench.emit("business.line_loss_month_ms", round(ms, 1), "ms", goal="<= 1000",
                   areas=areas, engine="sqlite")
        spent, sheets, size = _statements(engine, folder)
        bench.emit("business.statements_10k_s", round(spent, 1), "s", goal="<= 120",
                   statements=len(sheets), pdf_mb=round(size / 2 ** 20, 1), engine="sqlite")
        kb, sample = _statement_kb(sheets)
        bench.emit("business.statement_kb", round(kb, 1), "kB", goal="<= 50",
                   sample=sample, single_pdf_per_statement=True)
        engine.dispose()
    if pgtest.skip_requested():
        print("# business.*.postgresql skipped: %s is set" % pgtest.ENV_SKIP)
        return
    server = pgtest.server_for_tests(durable=True)
    try:
        with tempfile.TemporaryDirectory() as folder:
            _postgresql(bench, server, folder)
    finally:
        server.stop()


def _postgresql(bench, server, folder):
    name = "bench_%s" % uuid.uuid4().hex[:8]
    engine, setup, summary = _prepare(server.create_database(name))
    bench.emit("business.demo_data_10k_s.postgresql", round(setup, 1), "s", goal=SETUP_GOAL,
               **_volume(summary))
    spent, count, held = _bill(engine)
    bench.emit("business.bill_10k_s.postgresql", round(spent, 2), "s", goal="<= 30",
               statements=count, held=held)
    ms, areas = _line_loss_ms(engine)
    bench.emit("business.line_loss_month_ms.postgresql", round(ms, 1), "ms", goal="<= 1000",
               areas=areas)
    spent, sheets, size = _statements(engine, folder)
    bench.emit("business.statements_10k_s.postgresql", round(spent, 1), "s", goal="<= 120",
               statements=len(sheets), pdf_mb=round(size / 2 ** 20, 1))
    engine.dispose()
    server.drop_database(name)
