"""Running virtual boards, so that `--port auto` finds a virtual board as it finds a USB one.

Each `conc board run` writes one small JSON file named after its pid and removes it when it
stops. A board killed with -9 leaves its file behind; readers skip entries whose process is
gone or whose port no longer exists.
"""
import json
import os
import tempfile
from pathlib import Path


def registry_dir():
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / ("conc-virtual-boards-%d" % os.getuid())


def register(port, image_dir):
    directory = registry_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ("%d.json" % os.getpid())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"port": port, "pid": os.getpid(), "image": str(image_dir)}))
    os.replace(tmp, path)
    return path


def unregister(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_boards():
    """[{"port", "pid", "image"}] of the virtual boards running now."""
    boards = []
    directory = registry_dir()
    if not directory.is_dir():
        return boards
    for path in sorted(directory.glob("*.json")):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _alive(entry.get("pid", -1)) and os.path.exists(entry.get("port", "")):
            boards.append(entry)
    return boards
