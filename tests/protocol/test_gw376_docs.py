"""docs/gw376.md stays true: its >>> examples run and its unit table lists exactly the codecs."""
import doctest
import re
from pathlib import Path

from protocol import gw376_units as units

DOC = Path(__file__).resolve().parents[2] / "docs" / "gw376.md"


def test_examples_in_the_document_run():
    # Code fences end the expected output of the example before them.
    text = "\n".join("" if line.startswith("```") else line
                     for line in DOC.read_text().splitlines())
    test = doctest.DocTestParser().get_doctest(text, {}, "gw376.md", str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert test.examples and runner.summarize(verbose=False).failed == 0


def _fns(text):
    found = []
    for part in text.split(","):
        part = part.strip()
        if ".." in part:
            low, high = part.split("..")
            found.extend(range(int(low.strip("F ")), int(high.strip("F ")) + 1))
        else:
            found.append(int(part.strip("F ")))
    return found


def test_unit_table_lists_exactly_the_codecs():
    listed = set()
    for afn, fns, direction in re.findall(r"^\| ([0-9A-F]{2}) \| (F[^|]+?) \| (down|up|both) \|",
                                          DOC.read_text(), re.M):
        for fn in _fns(fns):
            for side in {"down": (0,), "up": (1,), "both": (0, 1)}[direction]:
                listed.add((int(afn, 16), fn, side))
    assert listed == set(units.known_units())
