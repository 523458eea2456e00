"""The concentrator's store-and-forward uploads (vendor unit F241) turned into records to store.

An upload (protocol/gw376_upload.py, docs/uplink.md) carries ring-log records with their
sequence numbers: reading batches of one measuring point at one time, events, markers. Each
batch item is `kind * 64 + quantity` (protocol/reading_items.py: kind 0 real time, 1 curve,
2 daily freeze, 3 midnight reading standing in for a freeze) with the exact integer the meter
sent in the DL/T 645 catalogue's smallest unit.

    readings, daily, events = records_to_data(terminal_id, identity["records"], protocols)

Mapping: every quantity keeps its catalogue name (the station's one naming, items.py), at the
catalogue's decimals for the meter's protocol (a DL/T 645-1997 voltage has none).
- real-time and curve records -> readings (`energy_fwd_total`, `energy_rev_t2`, `voltage_a`,
  `current_b`, `power_active_total`, `power_factor_a`, `frequency`, `balance_remaining`,
  `status_word_3` ...) at the record's time.
- freeze and midnight records of the energy registers (forward / reverse active, total and
  tariffs, 0.01 kWh) -> daily frozen values for the day of the record's time (what AFN0D
  F161 / F163 of that day answers); their other quantities are not stored.
- event records -> Events (ERC, data bytes, time, Pn; not important: important events come as
  AFN0E reports), identified like events read with AFN0E, so either path stores them once.
- markers (boot, clock set, format) are not stored.

A re-sent upload maps to the same readings, frozen values and events, which the database keeps
once (unique keys), so an upload repeated after a lost confirmation or a station restart adds
nothing.
"""
import datetime
import functools

from protocol import dlt645_items, gw376_upload
from protocol.reading_items import CURVE, FROZEN, MIDNIGHT, REALTIME  # noqa: F401
from protocol.reading_items import NAMES as QUANTITY_NAMES
from protocol.readings_payload import unpack_readings

from host_tools.station.items import tariff_of
from host_tools.station.records import Event, FrozenValue, Reading

EPOCH_2000 = datetime.datetime(2000, 1, 1)
PROTOCOL_1997 = 1


def record_time(seconds):
    """The terminal's local time (naive: read in the station's zone) of a record timestamp."""
    return EPOCH_2000 + datetime.timedelta(seconds=seconds)


@functools.lru_cache(maxsize=None)      # the catalogue is scanned once per name
def catalogue_decimals(name, protocol):
    """Decimals of a catalogue quantity as a meter of that 1376.1 protocol number sends it."""
    try:
        _, row = dlt645_items.find(name)
    except Exception:  # noqa: BLE001 - a quantity the catalogue does not know: keep it whole
        return 0
    if protocol == PROTOCOL_1997 and row[6] is not None:  # pyright: ignore[reportOptionalSubscript] - catalogue rows are tuples
        return dlt645_items.decimals(row, 1997)
    return dlt645_items.decimals(row)


def item_for(kind, quantity):
    """(item name, frozen?) for a ring-log item, or (None, False) when it is not stored."""
    if quantity >= len(QUANTITY_NAMES) or not QUANTITY_NAMES[quantity]:
        return None, False
    name = QUANTITY_NAMES[quantity]
    if kind in (FROZEN, MIDNIGHT):
        return (name, True) if tariff_of(name) is not None else (None, False)
    return name, False


def records_to_data(terminal_id, records, protocols=None):
    """([Reading], [FrozenValue] daily, [Event]) for decoded F241 records
    [(seq, type, point, time, payload)]. protocols: {pn: 1376.1 protocol number} from the
    archive (1 = DL/T 645-1997 changes some decimals); default 2007."""
    protocols = protocols or {}
    readings, frozen, events = [], [], []
    for _, rtype, point, seconds, payload in records:
        at = record_time(seconds)
        if rtype == gw376_upload.READINGS:
            protocol = protocols.get(point, 30)
            for item_id, value in unpack_readings(payload):
                if value is None:
                    continue
                name, is_frozen = item_for(item_id >> 6, item_id & 63)
                if name is None:
                    continue
                scale = catalogue_decimals(name, protocol)
                if is_frozen:
                    frozen.append(FrozenValue(terminal_id, point, name, at.date().isoformat(),
                                              value, scale, at))
                else:
                    readings.append(Reading(terminal_id, point, name, at, value, scale))
        elif rtype == gw376_upload.EVENT and payload:
            events.append(Event(terminal_id, payload[0], bytes(payload[1:]), occurred_at=at,
                                important=False, pn=point or None))
    return readings, frozen, events
