"""Values shown to people with their units and the catalogue's decimals, the same numbers in
`conc meters test` as in `conc station readings`."""
import pytest

from host_tools import quantity_values
from host_tools.commands.meters import exact_values, values_text
from host_tools.output import table
from host_tools.station.records import to_decimal
from host_tools.station.uploads import records_to_data
from protocol import gw376_upload
from protocol.reading_items import NAMES

# 1376.1 protocol numbers the station's archive uses, and the meter archive's names for them
STATION_PROTOCOLS = {"dlt645": 30, "dlt645-1997": 1}


def test_a_reading_shows_its_decimals_and_unit():
    assert quantity_values.shown("energy_fwd_total", 150000) == "1500.00 kWh"
    assert quantity_values.shown("voltage_a", 2189) == "218.9 V"
    assert quantity_values.shown("current_b", 5) == "0.005 A"
    assert quantity_values.shown("power_factor_total", 998) == "0.998"        # a ratio
    assert quantity_values.shown("energy_combined_total", -5) == "-0.05 kWh"
    assert quantity_values.shown("voltage_a", None) == "no data"
    # a DL/T 645-1997 meter sends its voltage in whole volts, its current in 0.01 A
    assert quantity_values.shown("voltage_a", 219, "dlt645-1997") == "219 V"
    assert quantity_values.shown("current_a", 512, "dlt645-1997") == "5.12 A"
    # a name the catalogue does not know: the integer, whole
    assert quantity_values.shown("q63", 1234) == "1234"


def test_meters_test_json_keeps_exact_decimal_strings_and_names_the_units():
    result = {"point": 1, "ok": True, "protocol": "dlt645",
              "values": {"energy_fwd_total": 150000, "voltage_a": 2189, "current_a": None}}
    shown = exact_values(result)
    assert shown["values"] == {"energy_fwd_total": "1500.00", "voltage_a": "218.9",
                               "current_a": None}
    assert shown["units"] == {"energy_fwd_total": "kWh", "voltage_a": "V", "current_a": "A"}
    assert values_text(result) == \
        "current_a no data, energy_fwd_total 1500.00 kWh, voltage_a 218.9 V"


@pytest.mark.parametrize("protocol", sorted(STATION_PROTOCOLS))
def test_every_stored_quantity_reads_as_the_station_stores_it(protocol):
    """The board's integers uploaded to the station become the same decimal text."""
    for quantity, name in enumerate(NAMES):
        if not name:
            continue
        for value in (0, 7, 2189, 150000, 123456789):
            payload = bytes([quantity << 1]) + varint(2 * value)     # zigzag: 2v for v >= 0
            records = [(1, gw376_upload.READINGS, 5, 0, payload)]
            readings, _, _ = records_to_data(1, records, {5: STATION_PROTOCOLS[protocol]})
            (reading,) = readings
            station_text = str(to_decimal(reading.value, reading.scale))
            assert quantity_values.exact_text(name, value, protocol) == station_text, \
                (name, value, protocol)


def varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def test_a_table_aligns_numbers_right_and_text_left():
    lines = table(["point", "address", "value"],
                  [[1, "000000000001", "1500.00 kWh"], [12, "7", None]])
    assert lines == ["point  address       value",
                     "    1  000000000001  1500.00 kWh",
                     "   12  7             -"]
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        table(["a", "b", "c"], [[1, 2]])
