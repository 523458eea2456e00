"""The billing office's pages: customer search, a statement's PDF downloaded from the customer
page with the right text, a payment and its receipt, and a trip from the customer page carried
out by the front end until the relay confirms."""
import io
import re
from pypdf import PdfReader
from sqlalchemy import select, text

from host_tools.business import billing, customers, demo_data, ledger
from host_tools.business.tables import statements
from host_tools.console.db import writing
from tests.console.support import ConsoleServer, LiveStation, login

FAST_CONTROL = {"follow_s": 5.0, "probe_s": 0.3, "offline_wait_s": 2.0}


def pdf_text(data):
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def money_text(fen):
    return "%d.%02d" % (fen // 100, fen % 100)


def test_search_finds_a_customer_by_meter_and_the_statement_pdf_is_the_statement(
        engine, new_browser):
    demo_data.generate(engine, 12, seed=7, billed_months=1)     # before the console writes
    with ConsoleServer(engine) as console:
        check_search_and_statement(engine, console, new_browser)


def check_search_and_statement(engine, console, new_browser):
    with engine.connect() as conn:
        row = conn.execute(select(statements).where(statements.c.state == "issued")
                           .order_by(statements.c.id)).first()
        number = billing.statement(conn, row.number)
        who, = [c for c in customers.list_customers(conn) if c.id == row.customer_id]
        point = customers.service_points_of(conn, who.number)[-1]
        meter = conn.execute(text("SELECT meter_address FROM measuring_points WHERE "
                                  "terminal_id = :t AND pn = :p"),
                             {"t": point.terminal_id, "p": point.pn}).scalar()
    page = new_browser().new_page()
    login(page, console.url, "clerk")
    page.goto(console.url + "/customers?q=" + meter)
    page.click("text=" + who.number)
    page.wait_for_url(console.url + "/customers/" + who.number)
    assert who.name in page.locator("h1").inner_text()
    assert page.locator("svg.chart").count() == 2
    assert int(page.locator("svg.chart").first.get_attribute("data-bars")) >= 10
    with page.expect_download() as download_info:
        page.locator("#statements tr", has_text=row.number).locator("a.pdf").click()
    download = download_info.value
    assert download.suggested_filename == "statement-%s.pdf" % row.number
    printed = pdf_text(open(download.path(), "rb").read())
    assert row.number in printed and who.number in printed and who.name in printed
    assert money_text(number.amount_due_fen) in printed
    assert money_text(number.total_fen) in printed


def test_a_cashier_records_a_payment_and_prints_its_receipt(engine, console, new_browser):
    with writing(engine) as conn:
        customers.add_customer(conn, "C900001", "Zhang Wei", 1, address="1 Yard Road")
    page = new_browser().new_page()
    login(page, console.url, "cashier")
    page.goto(console.url + "/customers/C900001")
    assert page.locator("button[value=trip]").count() == 0       # a cashier cannot trip
    page.fill("input[name=amount]", "120.50")
    page.click("form.pay-form button[type=submit]")
    page.wait_for_selector("#receipt-link")
    assert page.locator("#balance").inner_text() == "120.50 yuan"
    receipt = page.locator("#receipt-link").get_attribute("href")
    answer = page.request.get(console.url + receipt)
    assert answer.headers["content-type"] == "application/pdf"
    text = pdf_text(answer.body())
    assert "C900001" in text and "¥ 120.50" in text and "壹佰贰拾元伍角整" in text
    assert "Cashier" in text                              # the full name of who took it
    page.fill("input[name=amount]", "-5")
    page.click("form.pay-form button[type=submit]")
    assert "positive amount" in page.locator(".error").inner_text()
    with engine.connect() as conn:
        assert ledger.balance(conn, "C900001") == 12050


def test_trip_from_the_customer_page_is_confirmed_by_the_relay(station_url, engine, console,
                                                               new_browser):
    with LiveStation(station_url, terminals=1, meters=3, control_options=FAST_CONTROL) as live:
        live.call(lambda h: h.sim(1, relay_delay_s=0.2))
        terminal_id = live.harness.ids[1]
        with writing(engine) as conn:
            customers.add_customer(conn, "C000042", "Li Na", 1)
            customers.attach_meter(conn, "C000042", terminal_id, 3, "2026-01-01", 1)
        page = new_browser().new_page()
        login(page, console.url, "dispatcher")
        page.goto(console.url + "/customers/C000042")
        assert page.locator("#relay-state").inner_text() == "unknown"
        page.fill("input[name=reason]", "arrears, notice 2026-11")
        page.click("button[value=trip]")
        assert "Disconnect this meter (trip)?" in page.locator("#confirm-dialog").inner_text()
        page.click("#confirm-ok")
        page.wait_for_url(re.compile(r".*/commands/\d+$"))
        page.wait_for_selector("#command-state:text('confirmed')", timeout=30000)
        command = live.harness.station.command(int(page.url.rsplit("/", 1)[1]))
        assert (command.kind, command.pn, command.operator) == ("trip", 3, "dispatcher")
        assert command.reason == "customer C000042: arrears, notice 2026-11"
        page.goto(console.url + "/customers/C000042")
        assert page.locator("#relay-state").inner_text() == "tripped"
        assert "confirmed" in page.locator("table", has_text="arrears, notice").inner_text()


def test_statement_pdf_of_an_unknown_number_is_a_clear_404(console, new_browser):
    page = new_browser().new_page()
    login(page, console.url, "viewer")
    answer = page.goto(console.url + "/statements/2026-11-999999.pdf")
    assert answer.status == 404 and "no statement" in page.content()
