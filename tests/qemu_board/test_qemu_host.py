"""The host side of the emulated board, without starting it: the build's checks, the QEMU
command line, the ROMFS image and what `conc flash` puts where."""
import hashlib

import pytest

from host_tools import boards, qemu_build, romfs
from host_tools.deploy import split_romfs
from host_tools.qemu_board import qemu_command, uart_devices


def test_a_missing_tarball_says_where_to_get_the_release(tmp_path, monkeypatch):
    monkeypatch.setenv(qemu_build.DEPS_ENV, str(tmp_path))
    with pytest.raises(qemu_build.QemuBuildError) as exc:
        qemu_build._check_tarballs(qemu_build.deps_dir())
    assert "micropython-1.28.0.tar.gz not found in %s" % tmp_path in str(exc.value)
    assert "releases/tag/v1.28.0" in str(exc.value)


def test_a_tarball_with_the_wrong_sha256_is_refused(tmp_path):
    for name in qemu_build.TARBALLS:
        (tmp_path / name).write_bytes(b"not the release")
    with pytest.raises(qemu_build.QemuBuildError, match="wrong sha256"):
        qemu_build._check_tarballs(tmp_path)


def test_the_uarts_go_to_the_given_devices_or_ptys():
    config = boards.load("qemu_m4")
    devices = uart_devices(config, {1: "/dev/pts/7"}, "/dev/pts/9")
    assert devices == {1: "/dev/pts/7", 2: "/dev/pts/9", 3: None}
    cmd = qemu_command("fw.elf", "/s/flash.img", devices)
    serials = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-serial"]
    assert serials == ["pty", "/dev/pts/7", "/dev/pts/9", "pty"]      # UART0 is the REPL
    assert "mps2-an386,memory-backend=flash" in cmd
    assert any("mem-path=/s/flash.img,share=on" in arg for arg in cmd)


def test_the_romfs_image_holds_the_packages_and_the_filesystem_the_rest():
    files = {"firmware/main.mpy": b"M\x06", "protocol/x.mpy": b"M\x06", "board.json": b"{}",
             "main.py": b"import firmware.main"}
    rom, fs = split_romfs(files)
    assert set(rom) == {"firmware/main.mpy", "protocol/x.mpy"}
    assert set(fs) == {"board.json", "main.py"}
    image = romfs.build_image(rom)
    assert image[:3] == b"\xd2\xcd\x31"          # VfsRom's header record
    assert image == romfs.build_image(dict(reversed(list(rom.items()))))   # order-independent
    assert b"main.mpy" in image and b"x.mpy" in image
    assert hashlib.sha256(image).hexdigest() != hashlib.sha256(romfs.build_image(fs)).hexdigest()
