"""`conc flash`: put the concentrator firmware on a board over USB, copying only what changed.

The steps and their guarantees (safe to interrupt, only changed files copied, only what the board
imports shipped) are host_tools/deploy.py; this module reads the options, shows progress and
reports.
"""
import json
import time

import click

from host_tools import boards, deploy
from host_tools.errors import EXIT_BAD_INPUT, EXIT_USAGE, CliError
from host_tools.output import ProgressBar


@click.command()
@click.option("--port", envvar="CONC_PORT", default="auto", show_default=True,
              help="Serial port of the board (a path like /dev/ttyUSB0, or auto for the one "
                   "attached board); also from CONC_PORT.")
@click.option("--board", "board_name", required=True,
              help="Board config from board_configs/ (e.g. esp32_devkitc, virtual): installed on "
                   "the board as /board.json.")
@click.option("--base-image", type=click.Path(exists=True, dir_okay=False),
              help="ESP32 only: first write this MicroPython firmware (.bin) with esptool, "
                   "erasing the whole flash.")
@click.option("--chip", default="esp32", show_default=True,
              help="ESP chip for --base-image (esp32, esp32s2, esp32s3, esp32c3, esp32c6).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def cli(port, board_name, base_image, chip, as_json):
    """Compile protocol/ and firmware/ with mpy-cross and install them on a board over USB.

    Only files whose sha256 differs on the board are copied; each is written to a temporary
    name, verified and renamed, so an interrupted flash never leaves a half-written module
    (run the command again to finish it). Files of protocol/ and firmware/ that are no longer
    built are removed. The board config goes to /board.json, a main.py that starts the
    firmware is installed, and the board is reset.

    \b
    Examples:
      conc flash --port /dev/ttyUSB0 --board esp32_devkitc
      conc flash --port /dev/ttyUSB0 --board esp32_devkitc --base-image ESP32_GENERIC.bin
      conc flash --port auto --board virtual --json
    """
    from host_tools.usb import Board, resolve_port
    try:
        config = boards.load(board_name)
    except boards.BoardConfigError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    if base_image and config["platform"] != "esp32":
        raise CliError("--base-image is for ESP32 boards; board %r is %s (install MicroPython on "
                       "it with its own tool)" % (board_name, config["platform"]), EXIT_USAGE)
    port = resolve_port(port)
    started = time.monotonic()
    if base_image:
        deploy.write_base_image(port, base_image, chip)
        board = deploy.open_when_ready(port, 30)
    else:
        board = Board.open(port, soft_reset=True)
    with board:
        with ProgressBar("Flashing", hidden=as_json) as progress:
            result = deploy.install(board, port, config, progress)
        board.resume()
    summary = dict(port=port, board=board_name, base_image=bool(base_image),
                   seconds=round(time.monotonic() - started, 2), **result)
    if as_json:
        click.echo(json.dumps(summary))
    elif result.get("romfs_written"):
        click.echo("flashed a %d-byte ROMFS image and %d file(s)%s; board on %s reset" % (
            result["romfs_bytes"], len(result["copied"]),
            ", removed %d stale" % len(result["removed"]) if result["removed"] else "", port))
    elif result["copied"] or result["removed"]:
        click.echo("flashed %d file(s), %d bytes%s; %d unchanged; board on %s reset" % (
            len(result["copied"]), result["bytes"],
            ", removed %d stale" % len(result["removed"]) if result["removed"] else "",
            result["unchanged"], port))
    else:
        click.echo("board on %s is up to date (%d files); reset" % (port, result["unchanged"]))

