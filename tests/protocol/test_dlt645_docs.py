"""docs/dlt645.md stays true: its >>> examples run, and its catalogue table lists every item."""
import doctest
from pathlib import Path

from protocol import dlt645_items as items

DOC = Path(__file__).resolve().parents[2] / "docs" / "dlt645.md"


def test_examples_in_the_document_run():
    # Code fences end the expected output of the example before them.
    text = "\n".join("" if line.startswith("```") else line
                     for line in DOC.read_text().splitlines())
    test = doctest.DocTestParser().get_doctest(text, {}, "dlt645.md", str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert test.examples and runner.summarize(verbose=False).failed == 0


def test_catalogue_table_lists_every_item():
    text = DOC.read_text()
    for row in items.ITEMS:
        assert "| %08X | `%s` |" % (row[items.DI], row[items.NAME]) in text, row[items.NAME]
