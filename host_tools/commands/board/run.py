"""`conc board run`: serve a virtual board (unix port, or the emulated Cortex-M4F board in QEMU)
on a pty until interrupted."""
import json
import os
import sys

import click

from host_tools import boards
from host_tools.errors import EXIT_BAD_INPUT, EXIT_DEVICE, EXIT_USAGE, CliError

DEFAULT_IMAGE_DIR = os.path.join("images", "virtual")
QEMU_IMAGE_DIR = os.path.join("images", "qemu_m4")


def parse_buses(values, board_config):
    """{bus number: device path} from `--bus N=PATH` options, checked against the board."""
    known = [bus["bus"] for bus in board_config["buses"]]
    buses = {bus["bus"]: bus.get("device") for bus in board_config["buses"]}
    for value in values:
        number, sep, path = value.partition("=")
        if not sep or not number.strip().isdigit() or not path:
            raise CliError("--bus takes NUMBER=PATH, e.g. --bus 1=/dev/ttyUSB0 (got %r)" % value,
                           EXIT_USAGE)
        number = int(number)
        if number not in known:
            raise CliError("board %r has no bus %d; its buses are %s" % (
                board_config["name"], number, ", ".join(map(str, known))), EXIT_BAD_INPUT)
        buses[number] = _existing_device(path, "--bus %d" % number)
    return buses


def _existing_device(path, option):
    if not os.path.exists(path):
        raise CliError("%s: %s does not exist: plug in the adapter or start the simulator that "
                       "creates it first" % (option, path), EXIT_DEVICE)
    return os.path.realpath(path)


@click.command()
@click.option("--image", "image_dir", type=click.Path(file_okay=False),
              help="Folder of the board's flash images (root filesystem and data partition); "
                   "created on first use, kept across runs: this is the board's state. "
                   "Default: images/virtual, or images/qemu_m4 for --board qemu_m4.")
@click.option("--board", "board_name", default="virtual", show_default=True,
              help="Board config from board_configs/: a platform 'linux' board (the firmware in "
                   "the unix port) or qemu_m4 (MicroPython on an emulated Cortex-M4F, built "
                   "with `make qemu-board`).")
@click.option("--bus", "bus_options", multiple=True, metavar="N=PATH",
              help="Attach RS-485 bus N to a serial device: a USB adapter, or a pty whose other "
                   "end is a meter simulator. Repeatable.")
@click.option("--modem", "modem_path", metavar="PATH",
              help="Attach the modem UART to a serial device (a modem or the modem simulator).")
@click.option("--clock-start", metavar="TIME",
              help="Set the board's calendar to TIME (local, e.g. 2026-03-01T23:30) at this "
                   "start; it then counts on from there, also across soft resets and kill -9 "
                   "(kept in the image folder). Unix-port boards only.")
@click.option("--fast-until", metavar="TIME",
              help="With --clock-start: run the clock fast until this calendar time (local): "
                   "time in which no byte goes to or comes from a meter or the modem is "
                   "skipped, so a day of plans, reports and heartbeats passes in about a "
                   "minute while every exchange takes its real time; then at real speed.")
@click.option("--json", "as_json", is_flag=True, help='Print {"port": PATH} instead of PATH.')
def cli(image_dir, board_name, bus_options, modem_path, clock_start, fast_until, as_json):
    """Run the firmware on a virtual board until Ctrl-C or SIGTERM.

    The first line printed is the board's serial port (a pty): use it as --port for conc
    flash/config/meters/pull/status, or with mpremote (`mpremote connect PORT`). While it runs,
    `--port auto` also finds it. The board's files persist in --image; stopping the board with
    kill -9 is a power cut.

    \b
    Examples:
      conc board run --image images/bench --bus 1=/dev/pts/7 &
      conc flash --port auto --board virtual
      conc board run --board qemu_m4 --bus 1=/dev/pts/7 --modem /dev/pts/9 &
      conc flash --port auto --board qemu_m4
    """
    from host_tools.vboard import registry
    from host_tools.vboard.images import BoardImages
    from host_tools.vboard.server import AgentStartError, VirtualBoardServer

    try:
        config = boards.load(board_name)
    except boards.BoardConfigError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    if config["platform"] not in ("linux", "qemu"):
        raise CliError("board %r is a %s board; the virtual board runs platform 'linux' boards "
                       "(e.g. --board virtual) and qemu_m4" % (board_name, config["platform"]),
                       EXIT_BAD_INPUT)
    buses = parse_buses(bus_options, config)
    modem = _existing_device(modem_path, "--modem") if modem_path else config["modem"].get("device")
    if fast_until and not clock_start:
        raise CliError("--fast-until needs --clock-start TIME (where the fast day begins)",
                       EXIT_USAGE)
    if config["platform"] == "qemu":
        if clock_start:
            raise CliError("--clock-start runs on unix-port boards (e.g. --board virtual), not "
                           "in QEMU", EXIT_USAGE)
        _run_qemu(image_dir or QEMU_IMAGE_DIR, board_name, config, buses, modem, as_json)
        return
    image_dir = image_dir or DEFAULT_IMAGE_DIR

    images = BoardImages(image_dir, config)
    images.lock()
    entry = None
    server = None
    try:
        images.ensure()
        clock = _fast_clock(images.directory, clock_start, fast_until) if clock_start else None
        server = VirtualBoardServer(images, config["heap_budget_kb"], buses, modem, clock=clock)
        server.start()
        entry = registry.register(server.port, images.directory)
        click.echo(json.dumps({"port": server.port}) if as_json else server.port)
        sys.stdout.flush()
        click.echo("virtual board %r (heap %d KB, images in %s) on %s; Ctrl-C stops it" % (
            board_name, config["heap_budget_kb"], images.directory, server.port), err=True)
        server.serve()
    except AgentStartError as exc:
        raise CliError("%s: check `.venv/bin/micropython` works (make install)" % exc) from None
    except FileNotFoundError as exc:   # no micropython command
        raise CliError(str(exc)) from None
    finally:
        if entry:
            registry.unregister(entry)
        if server:
            server.close()
        images.unlock()


def _local_ms(text, option):
    import datetime
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise CliError("%s takes a local time like 2026-03-01T23:30, not %r" % (option, text),
                       EXIT_USAGE) from None
    return int(when.timestamp() * 1000)


def _fast_clock(directory, start, until):
    """The agent's fast clock settings; its calendar offset from the host's time is kept in a
    file of the image folder, which the agent rewrites as the clock skips."""
    import time
    start_ms = _local_ms(start, "--clock-start")
    until_ms = _local_ms(until, "--fast-until") if until else start_ms    # default: real speed
    if until_ms < start_ms:
        raise CliError("--fast-until (%s) must not come before --clock-start (%s)" % (
            until, start), EXIT_USAGE)
    path = os.path.join(str(directory), "clock.offset")
    with open(path, "w") as f:
        f.write("%020d\n" % (start_ms - int(time.time() * 1000)))
    return {"file": os.path.abspath(path), "until_ms": until_ms}


def _run_qemu(image_dir, board_name, config, buses, modem, as_json):
    """The emulated Cortex-M4F board: QEMU runs until it exits, Ctrl-C or SIGTERM."""
    import signal

    from host_tools.qemu_board import QemuBoard
    from host_tools.vboard import registry
    from host_tools.vboard.images import BoardImages

    images = BoardImages(image_dir, config)    # only its lock: the flash is QEMU's file
    images.lock()
    board = QemuBoard(images.directory, config, buses, modem)
    entry = None

    def stop(signum, frame):
        board.stop()

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        port = board.start()
        entry = registry.register(port, images.directory)
        click.echo(json.dumps({"port": port, "uarts": board.uart_ports}) if as_json else port)
        sys.stdout.flush()
        others = ", ".join("UART%d %s" % (n, path) for n, path in sorted(board.uart_ports.items())
                           if n)
        click.echo("board %r (Cortex-M4F in QEMU %s, heap %d KB, flash in %s) on %s; %s; Ctrl-C "
                   "stops it" % (board_name, "mps2-an386", config["heap_budget_kb"],
                                 board.flash_image, port, others), err=True)
        board.wait()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        board.stop()
        if entry:
            registry.unregister(entry)
        images.unlock()
