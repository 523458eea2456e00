"""`conc decode`: captured frames in, readable breakdown or stable JSON out."""
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from host_tools.cli import conc

ROOT = Path(__file__).resolve().parent.parent.parent

# /work/shared/vectors/dlt645_examples.tsv (public field captures, meter 151230011061)
DLT_READ = "68611001301215681104333334337b16"
DLT_READ_REPLY = "6861100130121568910833333433ab3933334916"            # 000006.78 kWh
DLT_RELAY_TRIP = "68611001301215681c10356a3935343333334d333333336345cc2c16"
DLT_RELAY_ACK = "68611001301215689c003516"
# Built with protocol.dlt645 (no capture at hand): 1997 read of 9010 and its reply 123456.78,
# and a 2007 abnormal reply "no requested data".
DLT97_READ = "6856341200000068010243c37516"
DLT97_REPLY = "6856341200000068810643c3ab896745d916"
DLT_NO_DATA = "6861100130121568d10135a016"
# /work/shared/vectors/gw376_captured.tsv (liangminhua/qgdw376.1.ksy packet-sample)
GW_HEARTBEAT = "683200320068c97101220800027900000400e416"
GW_NON_STANDARD_CONFIRM = "684a004a00681071012208000068000001000000000000001516"
GW_AFN0C_F25 = ("6856015601688871012208020cab010101034716280818000000000000eeeeeeeeeeeeeeeeee"
                "eeeeeeeeeeeeeeeeee00100010eeeeeeee2724eeeeeeee000000eeeeeeeeeeeeeeeeeeeeeeee"
                "eeeeeeeeeeeeeeeeee0b13491628004a16")
GW_AFN0C_F167 = ("6802010201688871012208020ca3010140142016280818eeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
                 "eeeeeeeeeeeeeeeeeeeeee0000c8161000d516eeeeeeeeeeeeee035921162800eb16")
# Built with protocol.gw376.confirm_units: AFN00 F3, p1 F129 confirmed, p2 F129 denied
GW_CONFIRM_PER_UNIT = "685e005e00688871012208000063000004000e01010110000201011001c116"
# Modbus over Serial Line spec and Simply Modbus examples (see tests/protocol/test_modbus.py)
MB_READ_INPUT = "01 04 00 00 00 02 71 CB"
MB_REPLY_230_5V = "01 04 04 43 66 80 00 6F DF"       # 230.5 V as float32, built by the codec
MB_EXCEPTION = "0A 81 02 B0 53"


def run(*args, input=None):
    return CliRunner().invoke(conc, ["decode", *args], input=input)


def docs(result):
    assert result.exit_code == 0, result.output + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_dlt645_read_request_breakdown():
    result = run(DLT_READ)
    assert result.exit_code == 0
    out = result.stdout
    assert "DL/T 645-2007, 16 bytes at offset 0" in out
    assert "151230011061" in out
    assert "master -> meter (D7=0)" in out and "function 11 read" in out
    assert "00010000 energy_fwd_total" in out
    assert "CS 7B ok" in out


def test_dlt645_reply_value_in_json_is_exact():
    (doc,) = docs(run("--json", DLT_READ_REPLY))
    assert doc["protocol"] == "dlt645"
    assert doc["checksum"] == {"algorithm": "sum8", "value": "49", "ok": True}
    frame = doc["frame"]
    assert frame["direction"] == "from_meter" and frame["function_name"] == "read"
    assert (frame["di"], frame["item"], frame["unit"]) == ("00010000", "energy_fwd_total", "kWh")
    assert (frame["value"], frame["raw_value"], frame["decimals"]) == ("6.78", 678, 2)


def test_json_documents_keep_one_shape():
    for frame in (DLT_READ, MB_READ_INPUT.replace(" ", ""), GW_HEARTBEAT):
        (doc,) = docs(run("--json", frame))
        assert sorted(doc) == ["checksum", "frame", "hex", "index", "length", "notes", "offset",
                               "protocol", "schema", "summary"]
        assert doc["schema"] == "conc-decode/1"


def test_several_frames_in_one_input_are_split():
    found = docs(run("--json", DLT_READ, DLT_READ_REPLY + DLT_RELAY_TRIP, DLT_RELAY_ACK))
    assert [(d["offset"], d["length"]) for d in found] == [(0, 16), (16, 20), (36, 28),
                                                           (64, 12)]
    trip = found[2]["frame"]
    assert (trip["command"], trip["command_name"]) == ("1A", "trip")
    assert trip["expiry"] == "2099-12-30 00:00:00"


def test_mixed_protocols_are_detected_frame_by_frame():
    found = docs(run("--json", MB_READ_INPUT, DLT_READ, GW_HEARTBEAT, MB_EXCEPTION))
    assert [d["protocol"] for d in found] == ["modbus", "dlt645", "gw376", "modbus"]


def test_dlt645_1997_and_error_replies():
    req, rep = docs(run("--json", DLT97_READ, DLT97_REPLY))
    assert req["protocol"] == rep["protocol"] == "dlt645-1997"
    assert rep["frame"]["di"] == "9010"
    assert rep["frame"]["value"] == "123456.78"
    (err,) = docs(run("--json", DLT_NO_DATA))
    assert (err["frame"]["error"], err["frame"]["errors"]) == (2, ["no_data"])
    assert "ERROR no_data" in err["summary"]


def test_gw376_heartbeat_fields():
    (doc,) = docs(run("--json", GW_HEARTBEAT))
    frame = doc["frame"]
    assert (frame["control"], frame["direction"], frame["prm"]) == ("C9", "up", 1)
    assert (frame["area"], frame["terminal"], frame["group"], frame["master"]) == (
        "0171", 2082, False, 0)
    assert (frame["afn"], frame["afn_name"]) == ("02", "link test")
    assert frame["con"] is True and frame["seq"] == 9
    assert [(u["pn"], u["fn"], u["name"]) for u in frame["units"]] == [(0, 3, "heartbeat")]


def test_gw376_values_with_units_and_no_data():
    result = run(GW_AFN0C_F25)
    assert result.exit_code == 0
    assert "voltage: 242.7 V, no data, no data" in result.stdout
    assert "read_time: 2018-08-28 16:47" in result.stdout
    assert "AUX Tp" in result.stdout


def test_gw376_unknown_fn_keeps_raw_bytes_flagged():
    (doc,) = docs(run("--json", GW_AFN0C_F167))
    (unit,) = doc["frame"]["units"]
    assert unit["fn"] == 167 and unit["known"] is False
    assert unit["data"]["raw"].upper().startswith("2016280818")
    assert "[raw, not decoded]" in run(GW_AFN0C_F167).stdout


def test_gw376_per_unit_confirm_in_words():
    result = run(GW_CONFIRM_PER_UNIT)
    assert "items: p1 F129 confirmed, p2 F129 denied" in result.stdout


def test_gw376_non_standard_frame_is_noted():
    (doc,) = docs(run("--json", GW_NON_STANDARD_CONFIRM))
    assert doc["frame"]["trailing"] == "000000000000"
    assert doc["notes"]


def test_modbus_values_named_by_a_register_map():
    request, reply = docs(run("--json", "--map", "sdm120", MB_READ_INPUT, MB_REPLY_230_5V))
    assert request["frame"]["direction"] == "request"
    assert reply["frame"]["values"] == [{"name": "voltage_a", "register": 0, "type": "float32",
                                         "unit": "V", "decimals": 1, "value": 2305,
                                         "text": "230.5"}]
    (alone,) = docs(run("--json", "--map", "sdm120", "--start", "0", MB_REPLY_230_5V))
    assert alone["frame"]["values"][0]["value"] == 2305
    result = run("--map", "sdm999", MB_READ_INPUT)
    assert result.exit_code == 4 and "sdm120" in result.stderr


def test_modbus_exception_reply():
    result = run(MB_EXCEPTION)
    assert result.exit_code == 0
    assert "exception  2 illegal data address" in result.stdout


@pytest.mark.parametrize("spelling", [
    "01:04:00:00:00:02:71:CB", "0x01 0x04 0x00 0x00 0x00 0x02 0x71 0xCB",
    "01-04-00-00-00-02-71-cb", "01040000000271CB"])
def test_hex_spellings(spelling):
    (doc,) = docs(run("--json", spelling))
    assert doc["hex"] == "01040000000271CB"


def test_file_stdin_and_raw_capture(tmp_path):
    text = tmp_path / "log.txt"
    text.write_text("# two frames from the bench\n%s\n%s  # reply\n" % (DLT_READ, DLT_READ_REPLY))
    assert len(docs(run("--json", "--file", str(text)))) == 2
    raw = tmp_path / "capture.bin"
    raw.write_bytes(bytes.fromhex("FEFEFE" + DLT_READ + GW_HEARTBEAT))
    found = docs(run("--json", "--file", str(raw)))
    assert [(d["protocol"], d["offset"]) for d in found] == [("dlt645", 0), ("gw376", 19)]
    assert "3 FE preamble byte(s)" in found[0]["notes"][0]
    assert len(docs(run("--json", "-", input=DLT_READ + "\n"))) == 1
    assert len(docs(run("--json", "--file", "-", input=MB_READ_INPUT))) == 1


def test_noisy_capture_with_skip_noise():
    noisy = "55AA" + DLT_READ + "00" + GW_HEARTBEAT + "FF"
    strict = run(noisy)
    assert strict.exit_code == 1
    found = docs(run("--json", "--skip-noise", noisy))
    assert [(d["protocol"], d["offset"]) for d in found] == [("dlt645", 2), ("gw376", 19)]
    assert "2 noise byte(s) skipped" in found[0]["notes"][0]


@pytest.mark.parametrize("args,code,words", [
    ([DLT_READ[:-4] + "7c16"], 1, "byte 14: DL/T 645-2007: bad checksum 7C, computed 7B"),
    ([DLT_READ[:-6]], 1, "byte 13: DL/T 645-2007: frame truncated"),
    (["01040000000271CA"], 1, "byte 6: Modbus RTU: bad CRC"),
    ([GW_HEARTBEAT[:-4] + "e516"], 1, "Q/GDW 1376.1"),
    (["zz"], 4, "not hex"),
    (["123"], 4, "odd number of hex digits"),
    ([], 2, "nothing to decode"),
    (["--protocol", "gw376", MB_READ_INPUT], 1, "byte 0: 0x01 does not start a Q/GDW 1376.1"),
    (["--protocol", "dlt645-1997", DLT_READ], 1, "not 1997"),
])
def test_undecodable_input_is_one_line_and_an_exit_code(args, code, words):
    result = run(*args)
    assert result.exit_code == code
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output + result.stderr


def test_frames_before_a_bad_one_are_still_printed():
    result = run("--json", DLT_READ, DLT_READ[:-4] + "0016")
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1
    assert "byte 30" in result.stderr


def test_every_captured_gw376_vector_decodes():
    vectors = Path("/work/shared/vectors/gw376_captured.tsv")
    if not vectors.exists():
        pytest.skip("shared vectors not on this machine")
    lines = [line.split("\t")[1] for line in vectors.read_text().splitlines()
             if line and not line.startswith("#")]
    assert len(docs(run("--json", *lines))) == len(lines)


def test_installed_console_script():
    conc_path = ROOT / ".venv" / "bin" / "conc"
    if not conc_path.exists():
        pytest.skip("no .venv/bin/conc: run make install")
    proc = subprocess.run([str(conc_path), "decode", "--json", DLT_READ_REPLY],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["frame"]["raw_value"] == 678
    bad = subprocess.run([str(conc_path), "decode", "6861"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error: byte ") and "Traceback" not in bad.stderr
