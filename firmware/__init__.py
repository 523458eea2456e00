"""The concentrator application. Runs on MicroPython only (tested on the unix port)."""
