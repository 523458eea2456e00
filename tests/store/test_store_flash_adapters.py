"""The data-partition adapters (firmware/hal/flash.py) and the store on CPython: the virtual
board's file-backed image keeps a ring log across "reboots", the STM32 adapter maps erase-sized
blocks onto pyb.Flash's 512-byte blocks, the ESP32 adapter finds its partition by label."""
import json
import sys
import types
from pathlib import Path

import pytest

from firmware import log_records
from firmware.hal import flash as flash_hal
from firmware.hal.norflash import NorFlash
from firmware.ringlog import RingLog

ROOT = Path(__file__).resolve().parent.parent.parent


def board(name):
    return json.loads((ROOT / "board_configs" / (name + ".json")).read_text())


def test_virtual_board_image_keeps_the_log_across_reboots(tmp_path):
    config = board("virtual")
    dev = flash_hal.open_data_partition(config, image_dir=str(tmp_path))
    part = config["data_partition"]
    assert dev.ioctl(4, 0) == part["block_count"] and dev.ioctl(5, 0) == part["block_size"]
    log = RingLog(dev, create=True)
    log.cursor("uplink")
    seqs = [log_records.append_readings(log, 3, 1000 + i, [0, 1], [i, -i]) for i in range(50)]
    log.advance("uplink", seqs[20])
    dev.close()
    image = tmp_path / part["label"]
    assert image.stat().st_size == part["block_count"] * part["block_size"]
    dev = flash_hal.open_data_partition(config, image_dir=str(tmp_path))
    log = RingLog(dev)
    assert [r[0] for r in log.records()] == seqs
    assert log.cursor("uplink") == seqs[20] and log.backlog("uplink") == 30
    assert log_records.unpack_readings(log.read(seqs[7])[4]) == [(0, 7), (1, -7)]
    dev.close()


class FakePybFlash:
    """pyb.Flash(start, len) as MicroPython's stm32 port has it: 512-byte blocks, extended
    reads/writes that return 0, ioctl(6) a no-op, erase through the simple protocol."""

    def __init__(self, start, len):
        self.start = start
        self.nor = NorFlash(block_size=512, block_count=len // 512)

    def readblocks(self, n, buf, off=None):
        self.nor.readblocks(n, buf, off or 0)
        return 0

    def writeblocks(self, n, buf, off=None):
        self.nor.writeblocks(n, buf, off)
        return 0

    def ioctl(self, op, arg):
        if op == 6:
            return 0
        return self.nor.ioctl(op, arg)


def test_stm32_adapter_presents_erase_sized_blocks(monkeypatch):
    made = {}

    def factory(start, len):
        made["flash"] = FakePybFlash(start, len)
        return made["flash"]

    monkeypatch.setitem(sys.modules, "pyb", types.SimpleNamespace(Flash=factory))
    config = board("stm32_nucleo_f429zi")
    part = config["data_partition"]
    dev = flash_hal.open_data_partition(config)
    assert made["flash"].start == part["first_block"] * part["block_size"]
    assert (dev.ioctl(4, 0), dev.ioctl(5, 0)) == (part["block_count"], part["block_size"])
    dev.writeblocks(1, b"\x00" * 700, 100)
    buf = bytearray(4)
    dev.readblocks(1, buf, 798)
    assert bytes(buf) == b"\x00\x00\xff\xff"
    assert dev.ioctl(6, 1) == 0
    dev.readblocks(1, buf, 798)
    assert bytes(buf) == b"\xff" * 4
    log = RingLog(dev, create=True)
    seq = log_records.append_event(log, 0, 5, 14, b"\x01")
    assert RingLog(dev).read(seq)[4] == b"\x0e\x01"


def test_stm32_adapter_turns_error_codes_into_exceptions(monkeypatch):
    failing = FakePybFlash(0, 64 * 1024)
    failing.readblocks = lambda n, buf, off=None: -5
    dev = flash_hal.Stm32Partition(failing, 16384)
    with pytest.raises(OSError, match="read of block 0 failed"):
        dev.readblocks(0, bytearray(4), 0)


def test_esp32_adapter_finds_the_partition_by_label(monkeypatch):
    part = NorFlash(block_size=4096, block_count=16)
    asked = {}

    class Partition:
        TYPE_DATA = 1

        @staticmethod
        def find(kind, label):
            asked["args"] = (kind, label)
            return [part] if label == "rlog" else []

    monkeypatch.setitem(sys.modules, "esp32", types.SimpleNamespace(Partition=Partition))
    config = board("esp32_devkitc")
    assert flash_hal.open_data_partition(config) is part
    assert asked["args"] == (1, "rlog")
    config["data_partition"]["label"] = "nope"
    with pytest.raises(OSError, match="no data partition labelled 'nope'"):
        flash_hal.open_data_partition(config)


def test_unknown_platform_is_refused():
    with pytest.raises(OSError, match="no flash driver"):
        flash_hal.open_data_partition({"platform": "amiga", "data_partition": {"label": "x"}})
