"""The emulated Cortex-M4F board (board_configs/qemu_m4): MicroPython 1.28.0 in QEMU's
mps2-an386 machine, its UARTs on host serial lines, its flash in a file.

    board = QemuBoard(state_dir, config, buses={1: "/dev/pts/7"}, modem="/dev/pts/8")
    board.start()         # board.port: the REPL's pty; board.uart_ports: UART number -> path
    board.wait()          # until QEMU exits (or board.stop())

UART0 is the REPL on a new pty. UART1 and UART2 (the board config's bus and modem UARTs) are
connected to the device given for them (QEMU opens it as a host serial line), or to a pty of
their own otherwise. The machine's 16 MB PSRAM, which the board uses as flash (ROMFS,
filesystem, ring log: board_configs/qemu_m4/README.md), is the file `flash.img` of the state
folder, so the board keeps its firmware and data across runs as a real one does.
"""
import os
import re
import signal
import subprocess
from pathlib import Path

from host_tools.errors import EXIT_DEVICE, CliError

QEMU = "qemu-system-arm"
MACHINE = "mps2-an386"
FLASH_IMAGE = "flash.img"
FLASH_SIZE = 16 * 1024 * 1024     # the AN386's PSRAM (QEMU's machine RAM for this board)
UARTS = 4                         # UART0 REPL, UART1..3 (board.h BOARD_UART_COUNT)
PTY_LINE = re.compile(r"char device redirected to (\S+) \(label serial(\d+)\)")
START_TIMEOUT = 10.0


def uart_devices(config, buses, modem):
    """{UART number: host device or None (a new pty)} for UART1.. from the board config."""
    devices = {n: None for n in range(1, UARTS)}
    for bus in config["buses"]:
        if buses.get(bus["bus"]):
            devices[bus["uart"]] = buses[bus["bus"]]
    uart = config["modem"].get("uart")
    if modem and uart is not None:
        devices[uart] = modem
    return devices


def qemu_command(firmware, flash_image, devices):
    cmd = [QEMU, "-machine", MACHINE + ",memory-backend=flash",
           "-object", "memory-backend-file,id=flash,size=%d,mem-path=%s,share=on" % (
               FLASH_SIZE, flash_image),
           "-m", "%dM" % (FLASH_SIZE >> 20),
           "-display", "none", "-monitor", "none", "-semihosting",
           "-serial", "pty"]
    for n in range(1, UARTS):
        cmd += ["-serial", devices[n] if devices.get(n) else "pty"]
    return cmd + ["-kernel", str(firmware)]


class QemuBoard:
    def __init__(self, state_dir, config, buses=None, modem=None, firmware=None):
        self.state_dir = Path(state_dir).resolve()
        self.config = config
        self.devices = uart_devices(config, dict(buses or {}), modem)
        self.firmware = firmware
        self.process = None
        self.port = None
        self.uart_ports = {}

    @property
    def flash_image(self):
        return self.state_dir / FLASH_IMAGE

    def ensure_flash(self):
        """A new board's flash: a sparse file of zeros, which the firmware erases at its
        first power-on (board.c)."""
        if not self.flash_image.exists():
            with open(self.flash_image, "wb") as f:
                f.truncate(FLASH_SIZE)
        elif self.flash_image.stat().st_size != FLASH_SIZE:
            raise CliError("%s is %d bytes, not the board's %d: delete it to start afresh" % (
                self.flash_image, self.flash_image.stat().st_size, FLASH_SIZE), EXIT_DEVICE)

    def start(self):
        if self.firmware is None:
            from host_tools.qemu_build import QemuBuildError, build
            try:
                self.firmware = build()
            except QemuBuildError as exc:
                raise CliError(str(exc), EXIT_DEVICE) from None
        self.ensure_flash()
        cmd = qemu_command(self.firmware, self.flash_image, self.devices)
        try:
            self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True,
                                            start_new_session=True)
        except FileNotFoundError:
            raise CliError("%s not found: run `make install` (Debian package qemu-system-arm)"
                           % QEMU, EXIT_DEVICE) from None
        wanted = 1 + sum(1 for n in range(1, UARTS) if not self.devices.get(n))
        seen = []
        while len(self.uart_ports) < wanted:
            line = self.process.stdout.readline()  # pyright: ignore[reportOptionalMemberAccess] - started with a stdout pipe
            if not line:
                self.process.wait()
                raise CliError("QEMU stopped at start (exit %s): %s" % (
                    self.process.returncode, " ".join(seen[-3:]).strip() or "no output"),
                    EXIT_DEVICE)
            seen.append(line.strip())
            match = PTY_LINE.search(line)
            if match:
                self.uart_ports[int(match.group(2))] = match.group(1)
        self.port = self.uart_ports[0]
        for n, device in self.devices.items():
            if device:
                self.uart_ports[n] = device
        return self.port

    def wait(self):
        """Block until QEMU exits; its later output (if any) is passed on to stderr."""
        for line in self.process.stdout:  # pyright: ignore[reportOptionalIterable, reportOptionalMemberAccess] - started with a stdout pipe
            os.write(2, line.encode())
        return self.process.wait()  # pyright: ignore[reportOptionalMemberAccess] - started with a stdout pipe

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
