"""Simulators: meters and modems on serial lines."""
