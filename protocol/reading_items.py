"""The item ids of the concentrator's reading batches: what was measured, for which collection.

Shared by the board, which writes them into its ring log (firmware/quantities.py,
firmware/log_records.py), and the master station, which reads them out of uploads
(host_tools/station/uploads.py): both must agree forever, since the ids are on flash.

    item_id = kind * 64 + quantity        kind: REALTIME 0, CURVE 1, FROZEN 2 (daily freeze),
                                          MIDNIGHT 3 (frozen value of a meter without freeze
                                          support: its reading taken at midnight)

A quantity number names one element of the DL/T 645 catalogue (protocol/dlt645_items.py).
"""
from protocol.compat import const

REALTIME = const(0)
CURVE = const(1)
FROZEN = const(2)
MIDNIGHT = const(3)
KIND_NAMES = ("realtime", "curve", "frozen", "midnight")

# Index = quantity number; "" marks an unused number. Append only: ids are on flash.
NAMES = (
    "",
    "energy_fwd_total", "energy_fwd_t1", "energy_fwd_t2", "energy_fwd_t3", "energy_fwd_t4",
    "energy_rev_total", "energy_rev_t1", "energy_rev_t2", "energy_rev_t3", "energy_rev_t4",
    "voltage_a", "voltage_b", "voltage_c",
    "current_a", "current_b", "current_c",
    "power_active_total", "power_active_a", "power_active_b", "power_active_c",
    "power_factor_total", "power_factor_a", "power_factor_b", "power_factor_c",
    "frequency",
    "energy_combined_total",
    "balance_remaining",
    "status_word_3",
)
