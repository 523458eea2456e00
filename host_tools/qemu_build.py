"""Build MicroPython for the emulated Cortex-M4F board (`make qemu-board`).

Unpacks the pinned MicroPython release and its micropython-lib submodule (tarballs checked by
sha256) into build/qemu_m4/, applies the board's patches (board_configs/qemu_m4/patches/), adds
the board definition as ports/qemu/boards/QEMU_M4 and builds mpy-cross and the firmware for
QEMU's `mps2-an386` machine. Cached: the tree is unpacked again only when a tarball or a patch
changes, the board files are copied only when they differ, and make rebuilds what changed; with
nothing changed a run does nothing.

    python -m host_tools.qemu_build            # prints the firmware's path
    firmware_elf()                             # the same, for tests and `conc board run`
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOARD_SRC = ROOT / "board_configs" / "qemu_m4"
BUILD = ROOT / "build" / "qemu_m4"
TREE = BUILD / "micropython-1.28.0"
BOARD_NAME = "QEMU_M4"
DEPS_ENV = "CONC_DEPS_DIR"
DEFAULT_DEPS = ROOT.parent / "shared" / "deps"
# sha256 from ../shared/deps/README.md
TARBALLS = {
    "micropython-1.28.0.tar.gz":
        "06d7683f20e38ab5508bed0ea865b03e781a62be592c7cd69499ea0ba6c3138a",
    "micropython-lib-8380c7bb.tar.gz":
        "7f4ef82df8d5cb3bc63c5e79eafb047b1b7751316c7a172990992fada56c4f9d",
}
RELEASE_HINT = ("the MicroPython 1.28.0 release: https://github.com/micropython/micropython/"
                "releases/tag/v1.28.0 (micropython-1.28.0.tar.gz, with lib/micropython-lib at "
                "commit 8380c7bb packed as micropython-lib-8380c7bb.tar.gz)")
TOOLS = ("arm-none-eabi-gcc", "make", "patch")


class QemuBuildError(Exception):
    pass


def deps_dir():
    return Path(os.environ.get(DEPS_ENV) or DEFAULT_DEPS)


def firmware_path():
    return BUILD / "firmware.elf"


def mpy_cross_path():
    return BUILD / "mpy-cross"


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_tarballs(folder):
    paths = []
    for name, digest in TARBALLS.items():
        path = folder / name
        if not path.exists():
            raise QemuBuildError("%s not found in %s: download %s into that folder (or set %s "
                                 "to where it is)" % (name, folder, RELEASE_HINT, DEPS_ENV))
        if _sha256(path) != digest:
            raise QemuBuildError("%s has the wrong sha256 (expected %s): download it again from "
                                 "%s" % (path, digest, RELEASE_HINT))
        paths.append(path)
    return paths


def _patches():
    return sorted((BOARD_SRC / "patches").glob("*.patch"))


def _tree_key():
    h = hashlib.sha256()
    for digest in TARBALLS.values():
        h.update(digest.encode())
    for patch in _patches():
        h.update(patch.name.encode() + b"\0" + patch.read_bytes())
    return h.hexdigest()


def _board_key():
    """What the firmware is built from: the tree's key and every board file."""
    h = hashlib.sha256(_tree_key().encode())
    for src in sorted(BOARD_SRC.iterdir()):
        if src.is_file():
            h.update(src.name.encode() + b"\0" + src.read_bytes())
    return h.hexdigest()


def _unpack(tarballs):
    """A fresh patched tree in TREE, when the one there is not from these tarballs and patches."""
    stamp = BUILD / "tree.stamp"
    key = _tree_key()
    if TREE.is_dir() and stamp.exists() and stamp.read_text() == key:
        return False
    if TREE.exists():
        shutil.rmtree(TREE)
    BUILD.mkdir(parents=True, exist_ok=True)
    for tarball in tarballs:
        with tarfile.open(tarball) as tar:
            tar.extractall(BUILD, filter="data")
    for patch in _patches():
        proc = subprocess.run(["patch", "-p1", "--batch", "--forward", "-i", str(patch)],
                              cwd=TREE, capture_output=True, text=True)
        if proc.returncode:
            raise QemuBuildError("patch %s does not apply to MicroPython 1.28.0:\n%s" % (
                patch.name, proc.stdout + proc.stderr))
    stamp.write_text(key)
    return True


def _copy_board():
    """The board definition into ports/qemu/boards/QEMU_M4, rewriting only changed files."""
    dest = TREE / "ports" / "qemu" / "boards" / BOARD_NAME
    dest.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for src in BOARD_SRC.iterdir():
        if src.is_file() and src.suffix in (".c", ".h", ".mk", ".py"):
            wanted.add(src.name)
            target = dest / src.name
            if not target.exists() or target.read_bytes() != src.read_bytes():
                shutil.copyfile(src, target)
    for old in dest.iterdir():
        if old.name not in wanted:
            old.unlink()


def _make(args, cwd, log):
    jobs = str(min(2, os.cpu_count() or 1))
    proc = subprocess.run(["make", "-j" + jobs] + args, cwd=cwd, stdout=log, stderr=log)
    if proc.returncode:
        raise QemuBuildError("make %s failed in %s: see %s" % (" ".join(args), cwd, log.name))


def build(quiet=False):
    """Bring build/qemu_m4/firmware.elf up to date; return its path."""
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if missing:
        raise QemuBuildError("%s not found: run `make install` (Debian packages gcc-arm-none-eabi "
                             "libnewlib-arm-none-eabi)" % ", ".join(missing))
    stamp = BUILD / "firmware.stamp"
    key = _board_key()
    if firmware_path().exists() and stamp.exists() and stamp.read_text() == key:
        return firmware_path()
    tarballs = _check_tarballs(deps_dir())
    _unpack(tarballs)
    _copy_board()
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / "build.log", "w") as log:
        _make([], TREE / "mpy-cross", log)
        _make(["BOARD=" + BOARD_NAME], TREE / "ports" / "qemu", log)
    for built, out in ((TREE / "ports" / "qemu" / ("build-" + BOARD_NAME) / "firmware.elf",
                        firmware_path()),
                       (TREE / "mpy-cross" / "build" / "mpy-cross", mpy_cross_path())):
        if not out.exists() or out.read_bytes() != built.read_bytes():
            tmp = out.with_name(out.name + ".tmp")
            shutil.copyfile(built, tmp)
            shutil.copymode(built, tmp)
            os.replace(tmp, out)
    stamp.write_text(key)
    return firmware_path()


def main():
    try:
        path = build()
    except QemuBuildError as exc:
        print("qemu-board: %s" % exc, file=sys.stderr)
        return 1
    print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
