# Runs one MicroPython test module: every top-level `test_*` function, in file order of names.
# Usage: micropython tests/mp_runner.py MODULE_NAME [TEST_NAME ...]
# Output protocol, read by tests/conftest.py: "@@START name", the test's own output, then
# "@@PASS name" or "@@FAIL name" followed by the traceback; one "@@DONE" at the end. A crash of the interpreter shows as missing results.
import sys
import io
import gc


def main():
    # The script's own folder (tests/) holds folders named like the board packages
    # (tests/protocol/...); MICROPYPATH already lists build/mpy first, then tests/.
    sys.path.pop(0)
    module_name = sys.argv[1]
    wanted = sys.argv[2:]
    module = __import__(module_name)
    names = [n for n in sorted(dir(module)) if n.startswith("test_")]
    if wanted:
        names = [n for n in names if n in wanted]
    for name in names:
        gc.collect()
        print("@@START " + name)
        try:
            getattr(module, name)()
        except Exception as exc:  # noqa: BLE001 - report any failure of the test
            buf = io.StringIO()
            sys.print_exception(exc, buf)
            print("@@FAIL " + name)
            print(buf.getvalue())
        else:
            print("@@PASS " + name)
    print("@@DONE")


main()
