"""The real mpremote command line, unchanged, against the virtual board: what a user types."""
import hashlib

import pytest

from tests.vboard.vboard_support import VirtualBoard, mpremote


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    with VirtualBoard(tmp_path_factory.mktemp("mpremote")) as b:
        yield b


def out(proc):
    return proc.stdout.decode().replace("\r\n", "\n")


def test_exec_and_eval(board):
    assert out(mpremote(board.port, "exec", "print(sum(range(10)))")) == "45\n"
    assert out(mpremote(board.port, "eval", "2**10")) == "1024\n"


def test_exec_error_is_reported_with_a_failing_exit_code(board):
    proc = mpremote(board.port, "exec", "import nosuchmodule", check=False)
    assert proc.returncode == 1
    assert b"ImportError" in proc.stdout + proc.stderr


def test_run_a_local_script(board, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import sys\nprint('platform', sys.platform)\n")
    assert out(mpremote(board.port, "run", str(script))) == "platform linux\n"


def test_fs_cp_cat_ls_sha256sum_rm_and_mkdir(board, tmp_path):
    payload = bytes(range(256)) * 40     # binary, 10 KB: several raw-paste windows
    local = tmp_path / "blob.bin"
    local.write_bytes(payload)
    mpremote(board.port, "fs", "mkdir", ":data")
    mpremote(board.port, "fs", "cp", str(local), ":data/blob.bin")
    mpremote(board.port, "fs", "cp", str(tmp_path / "blob.bin"), ":note.txt")
    listing = out(mpremote(board.port, "fs", "ls", ":data"))
    assert "10240 blob.bin" in listing
    digest = out(mpremote(board.port, "fs", "sha256sum", ":data/blob.bin")).split()[-1]
    assert digest == hashlib.sha256(payload).hexdigest()
    back = tmp_path / "back.bin"
    mpremote(board.port, "fs", "cp", ":data/blob.bin", str(back))
    assert back.read_bytes() == payload
    (tmp_path / "t.txt").write_text("hello board\n")
    mpremote(board.port, "fs", "cp", str(tmp_path / "t.txt"), ":t.txt")
    assert "hello board" in out(mpremote(board.port, "fs", "cat", ":t.txt"))
    mpremote(board.port, "fs", "rm", ":data/blob.bin")
    mpremote(board.port, "fs", "rm", ":t.txt")
    mpremote(board.port, "fs", "rm", ":note.txt")
    mpremote(board.port, "fs", "rmdir", ":data")
    root = out(mpremote(board.port, "fs", "ls", ":"))
    assert "data" not in root and "t.txt" not in root


def test_cat_of_a_missing_file_fails_cleanly(board):
    proc = mpremote(board.port, "fs", "cat", ":nope.txt", check=False)
    assert proc.returncode != 0
    assert b"No such file" in proc.stdout + proc.stderr or b"ENOENT" in proc.stdout + proc.stderr


def test_df_shows_the_littlefs_root(board):
    lines = out(mpremote(board.port, "df")).splitlines()
    root = [line for line in lines if line.endswith(" /")]
    assert root and root[0].startswith("<VfsLfs2>")
    assert int(root[0].split()[1]) == 1024 * 1024


def test_soft_reset_then_resume_keeps_what_resume_promises(board):
    # `resume` skips mpremote's soft reset, so globals survive between invocations...
    mpremote(board.port, "exec", "kept = 'yes'")
    assert out(mpremote(board.port, "resume", "exec", "print(kept)")) == "yes\n"
    # ...and `soft-reset` starts a fresh interpreter.
    mpremote(board.port, "soft-reset")
    proc = mpremote(board.port, "resume", "exec", "print('kept' in globals())")
    assert out(proc) == "False\n"


def test_board_filesystem_looks_like_a_board(board):
    proc = mpremote(board.port, "exec",
                    "import os, sys\nprint(os.getcwd(), sorted(os.listdir('/')) == sorted(os.listdir()), sys.path)")
    cwd, same, path = out(proc).strip().split(" ", 2)
    assert cwd == "/" and same == "True"
    assert "/lib" in path
