"""`conc flash` against the virtual board: incremental, verified, safe to interrupt."""
import hashlib
import json
import signal
import subprocess
import sys
import time

import pytest

from host_tools import boards, deploy
from host_tools.build import host_march, march_of
from host_tools.errors import EXIT_DEVICE, CliError
from host_tools.usb import TEMP_SUFFIX, Board
from tests.vboard.vboard_support import ROOT, Console, VirtualBoard

# a board whose code goes in files (the incremental copy these tests are about); the `virtual`
# board's code goes in a ROMFS image (test_a_romfs_board_runs_its_code_from_the_image)
FILES_BOARD = "virtual_wrover"


def conc(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "host_tools.cli"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def flash_json(port):
    proc = conc("flash", "--port", port, "--board", FILES_BOARD, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def expected_files():
    config = boards.load(FILES_BOARD)
    return {"/" + rel: hashlib.sha256(data).hexdigest()
            for rel, data in deploy.board_files(config, host_march()).items()}


def board_state(port):
    """({path: sha256} of every file the flash manages, [temporary files])"""
    with Board.open(port) as b:
        files = {}
        for package in ("/protocol", "/firmware"):
            files.update(b.walk(package))
        hashes = b.sha256(sorted(set(files) | {"/board.json", "/main.py", "/.conc-flashing"}))
    temps = [p for p in files if p.endswith(TEMP_SUFFIX)]
    return {p: h for p, h in hashes.items() if h is not None}, temps


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    with VirtualBoard(tmp_path_factory.mktemp("flash")) as b:
        yield b


def test_flash_twice_copies_nothing_the_second_time(board):
    first = flash_json(board.port)
    wanted = expected_files()
    assert sorted(first["copied"]) == sorted(wanted)
    assert "/board.json" in first["copied"] and "/main.py" in first["copied"]
    second = flash_json(board.port)
    assert second["copied"] == [] and second["removed"] == []
    assert second["unchanged"] == len(wanted)
    state, temps = board_state(board.port)
    assert state == wanted and temps == []


def test_the_board_config_is_installed_and_main_py_starts_cleanly(board):
    flash_json(board.port)
    with Board.open(board.port) as b:
        assert b.eval("__import__('json').load(open('/board.json'))") == boards.load(FILES_BOARD)
    # Reset the board at its friendly REPL, as a power-on would, and watch main.py run.
    console = Console(board.port)
    console.friendly()
    console.write(b"\x04")
    boot = console.read_until(b"MPY: soft reboot\r\n") + console.drain(0.5)
    console.write(b"\x03")
    console.close()
    assert b"Traceback" not in boot, boot
    if not (ROOT / "firmware" / "main.py").exists():
        assert b"conc: no firmware entry point" in boot and boot.endswith(b">>> ")


def test_only_changed_files_are_copied_and_stale_ones_removed(board):
    flash_json(board.port)
    with Board.open(board.port) as b:
        b.write_file("/protocol/__init__.mpy", b"corrupted")
        b.write_file("/firmware/obsolete.mpy", b"old module")
        b.write_file("/notes.txt", b"the user's own file")
    result = flash_json(board.port)
    assert result["copied"] == ["/protocol/__init__.mpy"]
    assert result["removed"] == ["/firmware/obsolete.mpy"]
    with Board.open(board.port) as b:
        assert b.read_file("/notes.txt") == b"the user's own file"


def test_an_interrupted_flash_leaves_no_half_written_module_and_a_rerun_finishes(tmp_path):
    with VirtualBoard(tmp_path) as board:
        proc = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "flash", "--port",
                                 board.port, "--board", FILES_BOARD], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # The progress label appears once the marker is on the board and copying begins.
        label = proc.stderr.read(len("Flashing"))
        assert label == b"Flashing"
        # The subject is a kill part-way through the copy: a short, deliberate delay lets a few
        # of the ~35 files land (the checks below prove the copy was really cut short).
        time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()

        wanted = expected_files()
        state, temps = board_state(board.port)
        assert "/.conc-flashing" in state                      # the board knows it is incomplete
        copied = [p for p in state if p in wanted]
        assert len(copied) < len(wanted)                       # it really was interrupted
        for path in copied:
            assert state[path] == wanted[path], path           # complete files, or none
        for temp in temps:
            assert temp[:-len(TEMP_SUFFIX)] in wanted

        result = flash_json(board.port)
        assert set(result["copied"]) == set(wanted) - set(copied)
        state, temps = board_state(board.port)
        assert state == wanted and temps == []


def test_a_board_of_another_platform_is_refused_before_writing(board):
    proc = conc("flash", "--port", board.port, "--board", "esp32_devkitc")
    assert proc.returncode == 4
    assert "pick the right --board" in proc.stderr and "Traceback" not in proc.stderr


def test_each_board_gets_the_kernel_built_for_its_cpu():
    # conc flash builds for the CPU the board reports; only the kernel carries machine code
    config = boards.load("esp32_devkitc")
    for march in ("xtensawin", "armv7emsp", None):
        files = deploy.board_files(config, march)
        assert march_of(files["firmware/kernel.mpy"][2] << 8) == march
        assert march_of(files["firmware/poller.mpy"][2] << 8) is None


def test_a_board_whose_micropython_cannot_load_the_machine_code_is_refused():
    config = boards.load("esp32_devkitc")
    files = deploy.board_files(config, "xtensawin")
    built = files["firmware/kernel.mpy"]
    info = {"platform": "esp32", "version": (1, 29, 0), "mpy": built[1],
            "mpy_sub": (built[2] & 3) ^ 1, "march": "xtensawin"}
    with pytest.raises(CliError) as err:
        deploy.check_board(info, config, files)
    assert err.value.exit_code == EXIT_DEVICE and "native .mpy code of ABI" in str(err.value)
    info["mpy_sub"] = built[2] & 3
    deploy.check_board(info, config, files)           # the same release: accepted


def test_base_image_options():
    assert deploy.esptool_args("/dev/ttyUSB0", "fw.bin") == [
        "--chip", "esp32", "--port", "/dev/ttyUSB0", "--baud", "460800", "write-flash",
        "--erase-all", "0x1000", "fw.bin"]
    assert deploy.esptool_args("/dev/ttyACM0", "s3.bin", chip="esp32s3")[-2:] == ["0x0", "s3.bin"]
    proc = conc("flash", "--port", "/dev/null", "--board", FILES_BOARD, "--base-image", __file__)
    assert proc.returncode == 2 and "for ESP32 boards" in proc.stderr
    proc = conc("flash", "--port", "/dev/ttyNOPE", "--board", "nosuchboard")
    assert proc.returncode == 4 and "unknown board" in proc.stderr


def test_the_base_image_goes_through_esptool_and_its_failure_is_one_line(tmp_path):
    image = tmp_path / "ESP32_GENERIC.bin"
    image.write_bytes(b"\xe9" + bytes(4095))
    with pytest.raises(CliError) as err:
        deploy.write_base_image(str(tmp_path / "ttyUSB9"), str(image), "esp32")
    assert err.value.exit_code == EXIT_DEVICE
    assert "esptool could not write %s" % image in err.value.message
    assert "\n" not in err.value.message


def test_only_what_the_board_imports_is_shipped():
    shipped = set(deploy.board_files(boards.load(FILES_BOARD), None))
    # host-only: the frame describers of `conc decode` and the station's logs
    assert not [path for path in shipped if path.endswith("_describe.mpy")]
    # every firmware module, and the protocol modules they import, lazily ones included
    assert {"firmware/main.mpy", "firmware/usb_api.mpy", "firmware/meter_test.mpy",
            "protocol/__init__.mpy", "protocol/gw376_units.mpy", "protocol/dlt645.mpy",
            "board.json", "main.py"} <= shipped
    assert any(path.startswith("protocol/maps/") for path in shipped)      # read, not imported


def test_missing_port_is_a_device_error():
    proc = conc("flash", "--port", "/dev/ttyNOPE", "--board", FILES_BOARD)
    assert proc.returncode == 3 and "no board on /dev/ttyNOPE" in proc.stderr


def test_a_romfs_board_runs_its_code_from_the_image(tmp_path):
    # the `virtual` board: its code in one ROMFS image, mapped outside the interpreter's heap
    with VirtualBoard(tmp_path) as board:
        proc = conc("flash", "--port", board.port, "--board", "virtual", "--json")
        assert proc.returncode == 0, proc.stderr
        first = json.loads(proc.stdout)
        assert first["romfs_written"] and first["romfs_bytes"] > 100000
        assert sorted(first["copied"]) == ["/board.json", "/main.py"]
        with Board.open(board.port) as b:
            assert b.eval("__import__('firmware.concentrator').concentrator.__file__") == \
                "/rom/firmware/concentrator.mpy"
            assert b.eval("'firmware' in __import__('os').listdir('/')") is False
            # the segment lies outside the heap, where a board's flash is: it is larger than
            # the whole heap, and it is the image file itself, mapped (a byte the host writes
            # into the file is there at once, as a debug probe's write is in flash)
            heap = b.eval("__import__('gc').mem_alloc() + __import__('gc').mem_free()")
            size = b.eval("len(__import__('vfs').rom_ioctl(2, 0))")
            assert size == 1024 * 1024 > heap
            with open(tmp_path / "romfs.img", "r+b") as f:
                f.seek(size - 1)
                f.write(b"\x5a")
            assert b.eval("__import__('vfs').rom_ioctl(2, 0)[%d]" % (size - 1)) == 0x5A
        again = json.loads(conc("flash", "--port", board.port, "--board", "virtual",
                                "--json").stdout)
        assert again["romfs_written"] is False and again["copied"] == []
