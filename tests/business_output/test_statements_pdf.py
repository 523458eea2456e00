"""Statements and receipts as PDF: the text a customer reads (checked with pypdf), the CJK font
embedded, one page per customer, the ZIP and folder forms, held statements left out, drafts
marked, and a clear error without the font.

The statement is worked by hand: a time-of-use customer with tiers 0/180/280 kWh (+0.05, +0.30
yuan) and a 5.00 yuan fixed charge uses 50 + 80 + 100 + 70 = 300 kWh in 2026-11: 45.00 + 56.00
+ 50.00 + 21.00 (0.90 / 0.70 / 0.50 / 0.30 yuan) + 5.00 (100 kWh in tier 2) + 6.00 (20 kWh in
tier 3) + 5.00 = 188.00 yuan, due 2026-12-16 (15 days, the default)."""
import io
import zipfile

import pytest
from pypdf import PdfReader

from host_tools.business import billing, customers, payments, settings, statements_pdf, tariffs
from host_tools.business import users as business_users
from host_tools.business.errors import NotFound
from tests.business_output.conftest import NOW, PASSWORD

TOU = {1: 9000, 2: 7000, 3: 5000, 4: 3000}
TIERS = [(0, 0), (180, 500), (280, 3000)]


@pytest.fixture
def billed(world):
    world.terminal()
    world.meter(1, address="000000001234")
    world.meter(2)
    for day, total in (("2026-09-01", "800"), ("2026-10-01", "900")):
        world.frozen(1, day, total)
    world.frozen(1, "2026-11-01", "1000", "100", "200", "300", "400")
    world.frozen(1, "2026-12-01", "1300", "150", "280", "400", "470")
    world.frozen(2, "2026-11-01", "10", "1", "2", "3", "4")          # 2026-12-01 missing: held
    with world.engine.begin() as conn:
        settings.put(conn, "utility_name", "示范县供电公司", NOW)
        settings.put(conn, "utility_phone", "95598", NOW)
        tariffs.add_tariff(conn, "T", "居民分时", "tou", "2026-01-01", NOW, prices=TOU,
                           tiers=TIERS, fixed_monthly_fen=500)
        customers.add_area(conn, "TQ1", "东关1号台区", NOW)
        for number, name, pn in (("C1", "王芳", 1), ("C2", "李强", 2)):
            customers.add_customer(conn, number, name, NOW, area="TQ1", address="人民路 8 号")
            customers.attach_meter(conn, number, world.terminal_id, pn, "2026-01-01", NOW)
            tariffs.assign(conn, number, "T", "2026-01-01", NOW, world.admin)
        world.cashier = business_users.add_user(conn, "cashier", PASSWORD, "cashier", NOW,
                                                full_name="收费员甲")
        billing.run(conn, "2026-11", NOW, world.admin)
    return world


def issue(world):
    world.run(billing.issue, "2026-11", NOW, world.admin)


def text_of(pdf):
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_a_statement_page_shows_what_the_customer_reads(billed):
    issue(billed)
    sheets, held = billed.run(statements_pdf.statement_sheets, "2026-11")
    assert [s["customer"]["number"] for s in sheets] == ["C1"]
    assert held == [billed.run(billing.period_statements, "2026-11", "C2")[0].number]
    pdf = statements_pdf.statements_pdf(sheets)
    (page,) = text_of(pdf)
    for expected in ("示范县供电公司", "电费结算单", "王芳", "C1", "东关1号台区", "000000001234",
                     "尖时段电费", "峰时段电费", "平时段电费", "谷时段电费", "阶梯加价",
                     "基本电费", "45.00", "56.00", "50.00", "21.00", "6.00", "188.00",
                     "300.00", "2026-12-16", "150.00", "470.00", "0.9000", "95598",
                     "近 12 个月用电量", "12月", "11月", "-188.00"):
        assert expected in page, expected
    assert "草稿" not in page
    assert "100" in page        # October's bar: 1000 - 900 kWh


def test_the_cjk_font_is_embedded_as_a_subset_and_a_page_stays_small(billed):
    issue(billed)
    sheets, _ = billed.run(statements_pdf.statement_sheets, "2026-11")
    pdf = statements_pdf.statements_pdf(sheets)
    fonts = PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"]
    embedded = [f.get_object() for f in fonts.values()
                if "WenQuanYi" in f.get_object()["/BaseFont"]]
    assert embedded
    assert all("/FontFile2" in f["/FontDescriptor"] for f in embedded)
    assert all(f["/BaseFont"][7] == "+" for f in embedded)        # AAAAAA+: a subset
    assert len(pdf) < 50 * 1024


def test_drafts_are_marked(billed):
    sheets, _ = billed.run(statements_pdf.statement_sheets, "2026-11")
    assert "草稿" in text_of(statements_pdf.statements_pdf(sheets))[0]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_zip_folder_and_single_pdf(billed, tmp_path):
    issue(billed)
    sheets, _ = billed.run(statements_pdf.statement_sheets, "2026-11")
    sheets = sheets * 3                    # three pages: the batch forms, not the billing
    (one,) = statements_pdf.write_statements(sheets, tmp_path / "all.pdf")
    assert len(PdfReader(one).pages) == 3
    statements_pdf.write_statements(sheets[:1], tmp_path / "all.zip")
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        (name,) = archive.namelist()
        assert name == "%s_C1.pdf" % sheets[0]["number"]
        assert "王芳" in text_of(archive.read(name))[0]
    written = statements_pdf.write_statements(sheets[:1], tmp_path / "out")
    assert [p.rsplit("/", 1)[1] for p in written] == [name]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_missing_font_is_a_clear_error(billed, monkeypatch):
    issue(billed)
    sheets, _ = billed.run(statements_pdf.statement_sheets, "2026-11")
    monkeypatch.setattr(statements_pdf, "_registered", [])
    monkeypatch.setattr(statements_pdf, "FONT_PATHS", ("/nonexistent/wqy-zenhei.ttc",))
    monkeypatch.delenv("CONC_CJK_FONT", raising=False)
    with pytest.raises(statements_pdf.FontMissing, match="fonts-wqy-zenhei"):
        statements_pdf.statements_pdf(sheets)


def test_receipt(billed):
    issue(billed)
    paid = billed.run(payments.pay, "C1", 10000, NOW + 3600, billed.cashier, method="wechat")
    (page,) = text_of(billed.run(statements_pdf.receipt_pdf, paid.receipt_no))
    for expected in ("示范县供电公司", "收费收据", paid.receipt_no, "王芳", "100.00",
                     "壹佰元整", "微信", "-88.00", "收费员甲", "2026-12-01 01:00"):
        assert expected in page, expected
    with pytest.raises(NotFound, match="no payment"):
        billed.run(statements_pdf.receipt_pdf, "R-NONE")


@pytest.mark.parametrize("fen, words", [
    (12050, "壹佰贰拾元伍角整"), (0, "零元整"), (5, "伍分"), (105, "壹元零伍分"),
    (100000, "壹仟元整"), (101000, "壹仟零壹拾元整"), (1000500, "壹万零伍元整"),
    (10000000700, "壹亿零柒元整"), (123456789, "壹佰贰拾叁万肆仟伍佰陆拾柒元捌角玖分")])
def test_amounts_in_words(fen, words):
    assert statements_pdf.yuan_in_words(fen) == words
