"""Simulated field devices for the bench and the tests: electricity meters on a serial line.

`MeterSimulator` (meter_bus.py) is the entry point: meters built from a configuration
(sim_config.py), each a `MeterModel` (meter_model.py: the physics and registers) answered through a
protocol handler (meter_protocols.py), sharing one serial device (serial_line.py) with real byte
pacing and injected faults (faults.py), all on an injectable clock (clock.py).
"""
