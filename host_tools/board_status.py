"""A running concentrator's status document, read over USB (`conc status`, the benchmarks).

    doc = read_status(port)     # firmware/usb_status.py status(): tasks, buses, ring, events

The firmware is interrupted (not reset), so its statistics are still in the heap, and resumed.
"""
import time

from host_tools import board_api
from host_tools.usb import BoardError

BOOT_RETRIES = 2
BOOT_WAIT_S = 1.5


def read_status(port):
    """The board's status document: the firmware is interrupted (not reset) so its statistics
    are still in the heap, then resumed."""
    try:
        for attempt in range(BOOT_RETRIES + 1):
            with board_api.open_board(port, soft_reset=False) as board:
                doc = board_api.call(board, "status()", module="usb_status")
            starting = doc.get("booting") or (not doc["running"] and doc.get("starts_at_boot"))
            if not starting or attempt == BOOT_RETRIES:
                break
            # Caught in the middle of its boot, or before it (a command just before restarted
            # the board): let it get going, then ask again.
            time.sleep(BOOT_WAIT_S)
        if doc.get("booting"):
            doc["note"] = "the firmware had not finished booting when asked %d times" % (
                BOOT_RETRIES + 1)
        elif not doc["running"] and doc.get("starts_at_boot"):
            doc["note"] = ("the firmware is installed but was not running when asked %d times: "
                           "see what it prints at boot in the REPL (mpremote connect PORT repl, then "
                           "Ctrl-D)" % (BOOT_RETRIES + 1))
        return doc
    except BoardError as exc:
        if "MemoryError" not in exc.message:
            raise
    # The firmware's heap is too full to run the status inside it: say so, and show what a
    # fresh interpreter sees (the board, its ring log).
    with board_api.open_board(port, soft_reset=True) as board:
        doc = board_api.call(board, "status()", module="usb_status")
    doc["note"] = ("the running firmware's heap was too full for a live status (MemoryError); "
                   "shown: the board after a reset, without task statistics")
    return doc
