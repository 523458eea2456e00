"""Which serial device each RS-485 bus and the modem of THIS board use; the buses opened as serial
ports (the modem's port is opened with its channel, firmware/link.py open_channel).

    port = open_bus(board, 1, baud=2400, parity="E")   # None when the bus has no device
    cfg = modem_config(board)       # the modem entry, with the device the virtual board attached

`board` is the parsed /board.json. On ESP32 and STM32 a bus is a UART with the pins the board
config names (firmware/hal/serial_uart.py); on the emulated Cortex-M4F board (platform "qemu") a
UART of its own. On the virtual board (platform "linux") a bus
is the device path `conc board run --bus N=PATH` attached, which the `vboard` module says,
or the board config's "device" when it runs on a Linux host without the virtual board.
"""


def _bus_config(board, bus):
    for entry in board.get("buses", ()):
        if entry.get("bus") == bus:
            return entry
    return None


def _linux_device(kind, bus, fallback):
    try:
        import vboard  # pyright: ignore[reportMissingImports] - the virtual board's built-in module
    except ImportError:
        return fallback
    if kind == "modem":
        return vboard.modem
    return vboard.buses.get(bus, fallback)


def bus_numbers(board):
    return [entry["bus"] for entry in board.get("buses", ()) if isinstance(entry.get("bus"), int)]


def open_bus(board, bus, baud=2400, parity="E"):
    cfg = _bus_config(board, bus)
    if cfg is None:
        raise ValueError("the board has no RS-485 bus %r" % (bus,))
    if board.get("platform") == "linux":
        path = _linux_device("bus", bus, cfg.get("device"))
        if not path:
            return None
        from firmware.hal.serial_tty import TtyPort
        for attempt in range(3):
            try:
                return TtyPort(path, baud=baud, parity=parity, echo=cfg.get("echo", False))
            except OSError:
                # a pty whose other end is still being set up refuses the settings (EINVAL)
                # for a moment on a loaded host: try again before calling the bus absent
                if attempt == 2:
                    raise
                import time
                time.sleep_ms(200)
    from firmware.hal.serial_uart import UartPort
    # the emulated board (platform "qemu") names only the UART: it has no pins to route
    return UartPort(cfg["uart"], cfg.get("tx"), cfg.get("rx"), cfg.get("de"),
                    cfg.get("de_active_high", True), baud=baud, parity=parity,
                    echo=cfg.get("echo", False))


def modem_config(board):
    """The board config's "modem" entry with the device the virtual board attached (`conc board
    run --modem PATH`) filled in, for firmware/link.py's open_channel."""
    cfg = dict(board.get("modem") or {})
    if board.get("platform") == "linux":
        path = _linux_device("modem", 0, cfg.get("device"))
        if path:
            cfg["device"] = path
    return cfg
