"""host_tools.boardcheck on small fixture trees (and once on this project's own board code)."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from host_tools import boardcheck

ROOT = Path(__file__).resolve().parent.parent

# Minimal stubs in the layout `make install` produces: one folder per port.
FAKE_STUBS = {
    "esp32/machine.pyi": """
        from typing import Final
        def freq() -> int: ...
        class Pin:
            OUT: Final[int] = 3
            def value(self, v=None): ...
        class Signal(Pin):
            def on(self): ...
        class UART:
            def readinto(self, buf): ...
            def any(self) -> int: ...
    """,
    "esp32/esp32.pyi": """
        from vfs import AbstractBlockDev
        class Partition(AbstractBlockDev):
            RUNNING: int = 1
            def find(cls, type): ...
    """,
    "esp32/vfs.pyi": """
        class AbstractBlockDev:
            def readblocks(self, n, buf, off=0): ...
    """,
    "esp32/time.pyi": "def ticks_ms() -> int: ...\n",
    "esp32/select.pyi": "def poll(): ...\n",
    "esp32/ustruct.pyi": "def pack(fmt, *v): ...\n",
    "esp32/micropython.pyi": "def const(x): ...\n",
    "stm32/machine.pyi": """
        class UART:
            def readinto(self, buf): ...
            def any(self) -> int: ...
            def sendbreak(self): ...
    """,
    "stm32/pyb.pyi": """
        class Flash:
            def readblocks(self, n, buf): ...
        def millis() -> int: ...
    """,
}


def make_tree(tmp_path, files, stubs=FAKE_STUBS):
    for rel, text in list(stubs.items()):
        path = tmp_path / "stubs" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for package in ("protocol", "firmware", "firmware/hal"):
        (tmp_path / "tree" / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / "tree" / package / "__init__.py").write_text('"""package"""\n')
    for rel, text in files.items():
        path = tmp_path / "tree" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / "tree", tmp_path / "stubs"


def problems(tmp_path, files, compile_check=False):
    root, stubs = make_tree(tmp_path, files)
    found, _, _ = boardcheck.check_tree(root, stubs, compile_check)
    return [(p.path, p.line, p.rule) for p in found], [str(p) for p in found]


def test_clean_tree_passes(tmp_path):
    found, _ = problems(tmp_path, {
        "protocol/codec.py": """
            import struct
            from protocol.compat import const
            from . import compat
            VALUE = const(3)
        """,
        "protocol/compat.py": "def const(x):\n    return x\n",
        "firmware/kernel.py": """
            import select
            import time
            from protocol import codec
            from firmware.hal import uart
        """,
        "firmware/hal/uart.py": """
            import machine

            class Port:
                def __init__(self):
                    self.uart = machine.UART(1)

                def read(self, buf):
                    return self.uart.readinto(buf) if self.uart.any() else 0
        """,
    }, compile_check=True)
    assert found == []


def test_hardware_only_in_the_hal(tmp_path):
    found, text = problems(tmp_path, {
        "firmware/poller.py": "import machine\nfrom socket import socket\n",
        "protocol/codec.py": "import pyb\n",
    })
    assert found == [("firmware/poller.py", 1, "layering"), ("firmware/poller.py", 2, "layering"),
                     ("protocol/codec.py", 1, "layering")]
    assert "firmware/hal/" in text[0]


def test_protocol_depends_on_nothing(tmp_path):
    found, text = problems(tmp_path, {
        "protocol/codec.py": """
            import time
            from firmware import kernel
            import host_tools.cli
            import sys, struct, binascii, json, array
        """,
        "firmware/kernel.py": "",
    })
    assert found == [("protocol/codec.py", 2, "layering"), ("protocol/codec.py", 3, "layering"),
                     ("protocol/codec.py", 4, "layering")]
    assert "not time" in text[0]


def test_protocol_guards_what_cpython_lacks(tmp_path):
    found, text = problems(tmp_path, {
        "protocol/compat.py": """
            try:
                from micropython import const
            except ImportError:
                def const(value):
                    return value
        """,
        "protocol/codec.py": """
            import micropython
            import ustruct
            import struct
        """,
        "firmware/kernel.py": "import micropython\n",
    })
    assert found == [("protocol/codec.py", 2, "runtime"), ("protocol/codec.py", 3, "runtime")]
    assert "protocol.compat" in text[0]


def test_firmware_never_imports_host_tools_and_project_imports_must_exist(tmp_path):
    found, text = problems(tmp_path, {
        "firmware/app.py": """
            from host_tools import cli
            import tests.mp_support
            from protocol import nothere
            from firmware.missing import x
            from .hal import uart
        """,
        "firmware/hal/uart.py": "",
    })
    assert found == [("firmware/app.py", 2, "layering"), ("firmware/app.py", 3, "layering"),
                     ("firmware/app.py", 4, "import"), ("firmware/app.py", 5, "import")]
    assert "no module firmware.missing" in text[3]


def test_cpython_only_and_unknown_modules(tmp_path):
    found, text = problems(tmp_path, {
        "firmware/app.py": """
            import typing
            from dataclasses import dataclass
            import enum, pathlib, abc
            import asyncio
            from __future__ import annotations
            import requests_oauthlib
        """,
    })
    assert [f[1] for f in found] == [2, 3, 4, 4, 4, 5, 6, 7]
    assert all(f[2] == "runtime" for f in found)
    assert "own kernel" in text[5]
    assert "not a MicroPython module" in text[7]


def test_cpython_fallbacks_may_use_cpython_modules(tmp_path):
    found, _ = problems(tmp_path, {
        "firmware/kernel.py": """
            import sys
            try:
                from typing import List
            except ImportError:
                pass
            try:
                print_exception = sys.print_exception
            except AttributeError:          # CPython
                import traceback
            try:
                import machine              # layering still holds in a fallback
            except ImportError:
                machine = None
            import dataclasses
        """,
    })
    assert found == [("firmware/kernel.py", 12, "layering"), ("firmware/kernel.py", 15, "runtime")]


def test_constructs_micropython_lacks(tmp_path):
    found, text = problems(tmp_path, {
        "protocol/codec.py": """
            x = 1
            a = f"{x=}"
            b = f"{x == 1} {x:>{x}} {x!r}"
            c = (5).to_bytes(2, byteorder="big")
            d = int.from_bytes(b"ab", "big")
            e = b"ab".hex(":")
            g = b"ab".hex()

            class Bad(Exception):
                def __init__(self, reason):
                    Exception.__init__(self, reason)

            class Good(Exception):
                def __init__(self, reason):
                    super().__init__(reason)

            class Meta(metaclass=type):
                pass

            def positional(a, /, b):
                match a:
                    case 1:
                        pass
        """,
    })
    assert [(f[1], f[2]) for f in found] == [
        (3, "runtime"), (5, "runtime"), (7, "runtime"), (12, "runtime"), (18, "runtime"),
        (21, "syntax"), (22, "syntax")]
    assert "super().__init__" in text[3]


def test_mpy_cross_rejects_what_cpython_accepts(tmp_path):
    found, text = problems(tmp_path, {"protocol/codec.py": "x = {**{}, 'a': 1}\n"},
                           compile_check=True)
    assert found == [("protocol/codec.py", 1, "compile")]
    assert "mpy-cross" in text[0]


def test_hardware_attributes_against_the_stubs(tmp_path):
    found, text = problems(tmp_path, {
        "firmware/hal/esp32_flash.py": """
            import esp32
            import machine
            from machine import Pin, Pinn

            def setup():
                part = esp32.Partition("vfs")
                part.readblocks(0, b"")        # inherited from vfs.AbstractBlockDev
                part.readblockz(0, b"")
                esp32.Partition.RUNNING
                esp32.Partitio
                machine.freq()
                machine.frq()
                pin = Pin(4, Pin.OUT)
                pin.value(1)
                pin.valeu(1)
                sig = machine.Signal(pin)
                sig.value(0)                   # inherited from Pin
                machine.UART(1).sendbreak()    # an stm32 method: this module targets esp32
                machine.UART(machine.frq()).any()
        """,
    })
    assert [f[1] for f in found] == [4, 9, 11, 13, 16, 19, 20]
    assert all(f[2] == "hardware" for f in found)
    assert "machine.Pinn does not exist" in text[0]
    assert "Partition object has no .readblockz" in text[1]
    assert "for esp32" in text[-1]


def test_port_neutral_hal_modules_need_the_attribute_on_some_port(tmp_path):
    found, _ = problems(tmp_path, {
        "firmware/hal/uart.py": """
            import machine

            class Port:
                def __init__(self):
                    self.uart = machine.UART(1)

                def brk(self):
                    self.uart.sendbreak()      # stm32 has it
                    self.uart.nosuch()
        """,
        "firmware/hal/stm_flash.py": """
            import pyb
            flash = pyb.Flash()
            flash.readblocks(0, b"")
            flash.writeblockz(0, b"")
            pyb.millis()
        """,
    })
    assert found == [("firmware/hal/stm_flash.py", 5, "hardware"),
                     ("firmware/hal/uart.py", 10, "hardware")]


def test_command_line_exit_codes(tmp_path):
    root, stubs = make_tree(tmp_path, {"protocol/codec.py": "import time\n"})
    bad = subprocess.run([sys.executable, "-m", "host_tools.boardcheck", "--root", str(root),
                          "--stubs", str(stubs), "--no-compile"],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 1
    assert bad.stdout.startswith("protocol/codec.py:1: [layering]")
    assert "1 problem(s)" in bad.stderr
    (root / "protocol" / "codec.py").write_text("import struct\n")
    good = subprocess.run([sys.executable, "-m", "host_tools.boardcheck", "--root", str(root),
                           "--stubs", str(stubs), "--no-compile"],
                          capture_output=True, text=True, cwd=ROOT)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "clean" in good.stdout
    missing = subprocess.run([sys.executable, "-m", "host_tools.boardcheck", "--root", str(root),
                              "--stubs", str(tmp_path / "nowhere"), "--no-compile"],
                             capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 1 and "make install" in missing.stderr


@pytest.mark.skipif(not boardcheck.DEFAULT_STUBS.is_dir(), reason="stubs not installed")
def test_real_stubs_know_the_hardware_the_hal_uses():
    stubs = boardcheck.Stubs(boardcheck.DEFAULT_STUBS)
    assert stubs.has("esp32", "esp32", ["Partition", "readblocks"])
    assert stubs.has("esp32", "machine", ["UART", "readinto"])
    assert stubs.has("stm32", "pyb", ["Flash", "ioctl"])
    assert not stubs.has("esp32", "machine", ["UART", "no_such_method"])
    assert {"machine", "struct", "json", "select", "micropython"} <= stubs.module_names()
