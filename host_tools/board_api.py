"""The host side of the board's USB API (firmware/usb_api.py, firmware/usb_status.py).

Every USB command (`conc config`, `conc meters`, `conc pull`, `conc status`) opens the board
with host_tools.usb.Board, calls one board function per step and gets one JSON document back:

    with open_board(port, soft_reset=True) as board:
        doc = call(board, "config_show()")        # -> dict; {"error": ...} raises CliError

The board answers {"error": "..."} for anything the user can fix (a value out of range, a
duplicate address): that becomes a CliError with exit code 4 (bad input).
"""
import json
import time

import click

from host_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, CliError
from host_tools.usb import Board, BoardError

NO_FIRMWARE = ("the board on %s has no concentrator firmware (or an older one): "
               "run `conc flash --port %s --board NAME` first")


def port_option(f):
    return click.option(
        "--port", envvar="CONC_PORT", default="auto", show_default=True,
        help="The board's serial port (a USB serial device or a `conc board run` pty); "
             "'auto' picks the single attached board. Also CONC_PORT.")(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the result as JSON instead of a table.")(f)


def open_board(port, soft_reset=True):
    """Board.open; soft_reset gives a clean heap with the firmware stopped (writes need it).

    A pty whose previous user has just closed it can answer the first tcflush with EIO for a
    moment (seen with the virtual board right after `conc flash`): that is retried."""
    import termios
    for _ in range(3):
        try:
            return Board.open(port, soft_reset=soft_reset)
        except termios.error:
            time.sleep(0.3)
    try:
        return Board.open(port, soft_reset=soft_reset)
    except termios.error as exc:
        raise CliError("the port %s failed while opening it (%s): run the command "
                       "again" % (port, exc), EXIT_FAILED) from None


def parse(text, port="the board"):
    """The JSON document a board function printed (its last non-empty line)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise CliError("%s printed nothing where a JSON answer was expected" % port, EXIT_FAILED)
    try:
        doc = json.loads(lines[-1])
    except ValueError:
        raise CliError("%s answered something that is not JSON: %r" % (port, lines[-1][:120]),
                       EXIT_FAILED) from None
    if isinstance(doc, dict) and "error" in doc:
        raise CliError(doc["error"], EXIT_BAD_INPUT)
    return doc


def run(board, code, module="usb_api", timeout=60):
    """Run `code` after `import firmware.<module> as u`; return its printed text."""
    try:
        return board.exec("import json\nimport firmware.%s as u\n%s" % (module, code),
                          timeout=timeout)
    except BoardError as exc:
        if "firmware" in exc.message and ("ImportError" in exc.message or
                                          "no module" in exc.message.lower() or
                                          "AttributeError" in exc.message):
            raise CliError(NO_FIRMWARE % (board.port, board.port), EXIT_FAILED) from None
        raise


def call(board, code, module="usb_api", timeout=60):
    """Run one board function (e.g. "meters_list(0, 64)") and return its JSON answer."""
    return parse(run(board, "u." + code, module, timeout), board.port)


def literal(value):
    """A JSON value as Python source for the board (json.dumps is a valid Python literal for
    str/int/list/dict/None only after mapping null/true/false)."""
    return "json.loads(%r)" % json.dumps(value)
