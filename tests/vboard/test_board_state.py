"""A virtual board keeps its state in its image folder across runs and power cuts, honours its
heap budget, and hands its attached serial devices to the firmware."""
import os
import subprocess
import sys


from host_tools.vboard import registry
from tests.vboard.vboard_support import ROOT, Console, VirtualBoard, mpremote


def out(proc):
    return proc.stdout.decode().replace("\r\n", "\n")


def test_files_survive_a_restart_of_the_board(tmp_path):
    with VirtualBoard(tmp_path) as board:
        mpremote(board.port, "exec", "with open('state.txt', 'w') as f:\n f.write('kept')")
    with VirtualBoard(tmp_path) as board:
        assert out(mpremote(board.port, "exec", "print(open('state.txt').read())")) == "kept\n"


def test_power_cut_during_writes_leaves_a_mountable_filesystem(tmp_path):
    board = VirtualBoard(tmp_path).start()
    mpremote(board.port, "exec", "with open('before.txt', 'w') as f:\n f.write('x' * 3000)")
    console = Console(board.port)
    console.raw()
    # keep rewriting a file, then pull the plug in the middle of it
    console.write(b"i = 0\nwhile True:\n with open('churn.txt', 'w') as f:\n  f.write(str(i) * 500)\n"
                  b" i += 1\n if i == 20:\n  print('churning')\n\x04")
    console.read_until(b"OK")
    console.read_until(b"churning")          # 20 rewrites done, the loop goes on
    board.power_cut()
    console.close()
    with VirtualBoard(tmp_path) as board:
        proc = mpremote(board.port, "exec",
                        "import os\nprint(len(open('before.txt').read()), 'churn.txt' in os.listdir())")
        assert out(proc) == "3000 True\n"


def test_heap_is_limited_to_the_board_budget(tmp_path):
    with VirtualBoard(tmp_path) as board:
        proc = mpremote(board.port, "exec", "b = bytearray(240 * 1024)", check=False)
        assert b"MemoryError" in proc.stdout + proc.stderr
        # a fresh interpreter offers the firmware about the board's 192 KB budget
        proc = mpremote(board.port, "exec", "import gc\ngc.collect()\nprint(gc.mem_free())")
        assert 185 * 1024 <= int(out(proc)) <= 200 * 1024
        mpremote(board.port, "exec", "b = bytearray(100 * 1024)")


def test_serial_devices_reach_the_firmware_through_the_vboard_module(tmp_path):
    bus_master, bus_slave = os.openpty()
    modem_master, modem_slave = os.openpty()
    bus_path, modem_path = os.ttyname(bus_slave), os.ttyname(modem_slave)
    try:
        with VirtualBoard(tmp_path, "--bus", "1=%s" % bus_path, "--modem", modem_path) as board:
            proc = mpremote(board.port, "exec",
                            "import vboard\nprint(vboard.buses[1], vboard.buses[2], vboard.modem)\n"
                            "f = open(vboard.buses[1], 'wb', buffering=0)\nf.write(b'ping')\nf.close()\n"
                            "f = vboard.open(vboard.modem, 'wb')\nf.write(b'AT')\nf.close()\n"
                            "f = open('data.img', 'rb')\nf.seek(0, 2)\nprint(f.tell(), vboard.data_image.endswith('data.img'))\n"
                            "import os\nprint('data.img' in os.listdir())")
            assert out(proc) == "%s None %s\n1048576 True\nFalse\n" % (bus_path, modem_path)
            assert os.read(bus_master, 4) == b"ping"
            assert os.read(modem_master, 2) == b"AT"
    finally:
        for fd in (bus_master, bus_slave, modem_master, modem_slave):
            os.close(fd)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "host_tools.cli"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=30)


def test_bad_options_get_one_line_errors(tmp_path):
    proc = run_cli("board", "run", "--image", str(tmp_path), "--bus", "9=/dev/null")
    assert proc.returncode == 4 and "has no bus 9" in proc.stderr
    proc = run_cli("board", "run", "--image", str(tmp_path), "--bus", "1=/dev/no-such-tty")
    assert proc.returncode == 3 and "does not exist" in proc.stderr
    proc = run_cli("board", "run", "--image", str(tmp_path), "--board", "esp32_devkitc")
    assert proc.returncode == 4 and "platform 'linux'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_one_image_folder_serves_one_board_and_is_registered_while_it_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))   # this test's registry only
    images = tmp_path / "images"
    with VirtualBoard(images, env={"XDG_RUNTIME_DIR": str(tmp_path)}) as board:
        assert [b["port"] for b in registry.running_boards()] == [board.port]
        proc = run_cli("board", "run", "--image", str(images))
        assert proc.returncode == 3 and "in use by another virtual board" in proc.stderr
    assert registry.running_boards() == []


def test_a_crashed_interpreter_resets_the_board(tmp_path):
    with VirtualBoard(tmp_path) as board:
        # With Ctrl-C disabled the unix port dies of SIGINT: the board must come back.
        console = Console(board.port)
        console.raw()
        console.write(b"import micropython\nmicropython.kbd_intr(-1)\nprint('deaf')\nwhile True: pass\n\x04")
        # Wait for the code to run, not just to be accepted ("OK"): a Ctrl-C that lands before
        # kbd_intr(-1) interrupts the command as it should, and the board never crashes.
        console.read_until(b"deaf\r\n")
        console.write(b"\x03")
        console.read_until(b"hard reset\r\n")
        console.close()
        assert out(mpremote(board.port, "exec", "print('back')")) == "back\n"
