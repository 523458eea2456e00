"""Virtual board and USB transport figures: REPL round trip, soft reset, file transfer through
host_tools.usb against mpremote's own fs_writefile (the baseline, same board, same run), and
`conc flash` of the whole firmware, first and second (no change) run."""
import os
import tempfile
import time

from mpremote.transport_serial import SerialTransport

from host_tools import boards, deploy
from host_tools.build import host_march
from host_tools.usb import Board
from tests.vboard.vboard_support import VirtualBoard


def _best(fn, repeat):
    best = None
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best


def run(bench):
    with tempfile.TemporaryDirectory() as image, VirtualBoard(image) as vb:
        with Board.open(vb.port) as board:
            n = 50
            started = time.perf_counter()
            for _ in range(n):
                board.exec("pass")
            bench.emit("vboard.exec_roundtrip", round((time.perf_counter() - started) / n * 1000, 2),
                       "ms", goal="<= 5")
            reset = _best(board.soft_reset, 5)
            bench.emit("vboard.soft_reset", round(reset * 1000, 1), "ms", goal="<= 250")

            data = os.urandom(64 * 1024)
            ours = _best(lambda: board.write_file("/bench.bin", data), 3)
        # the baseline: mpremote's own transport (Board's reads answers in bulk)
        stock_transport = SerialTransport(vb.port, baudrate=115200)
        try:
            stock_transport.enter_raw_repl(soft_reset=False)
            stock = _best(lambda: stock_transport.fs_writefile("/bench2.bin", data), 3)
            stock_read = _best(lambda: stock_transport.fs_readfile("/bench2.bin"), 3)
            stock_transport.exit_raw_repl()
        finally:
            stock_transport.close()
        with Board.open(vb.port) as board:
            bench.emit("usb.write_file", round(len(data) / ours / 1024, 1), "KB/s", goal=">= 100")
            bench.emit("usb.write_file_vs_mpremote_fs_writefile", round(stock / ours, 2), "x",
                       goal=">= 2", baseline_kb_s=round(len(data) / stock / 1024, 1))
            ours_read = _best(lambda: board.read_file("/bench.bin"), 3)
            bench.emit("usb.read_file", round(len(data) / ours_read / 1024, 1), "KB/s", goal=">= 100")
            bench.emit("usb.read_file_vs_mpremote_fs_readfile", round(stock_read / ours_read, 1),
                       "x", goal=">= 5", baseline_kb_s=round(len(data) / stock_read / 1024, 1))

        files = deploy.board_files(boards.load("virtual"), host_march())
        size = sum(len(d) for d in files.values())

        def flash_once():
            with Board.open(vb.port, soft_reset=True) as board:
                deploy.flash(board, files)
                board.resume()

        first = _best(flash_once, 1)
        second = _best(flash_once, 3)
        bench.emit("flash.full", round(first, 2), "s", goal="<= 5", files=len(files), bytes=size)
        bench.emit("flash.unchanged", round(second, 2), "s", goal="<= 0.5")
        bench.emit("flash.full_vs_unchanged", round(first / second, 1), "x", goal=">= 3")
