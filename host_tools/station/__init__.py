"""The master station's data layer: terminals, their meters, readings, events and control.

Modules: `db` (one interface over SQLite and PostgreSQL), `schema` (tables and versioned
migrations), `records` (the records stored and returned), `repository` (the Station: every
operation by meaning, assembled from `registry`, `ingest`, `queries`, `sessions` and
`control`), `items` and `erc` (decoded 1376.1 units and event records -> records to store),
`writer` (group commit for an asyncio front end), `times` (UTC storage, station-zone edges),
`pgtest` (a throwaway PostgreSQL server for tests and benchmarks). Start with
`open_station(url)`; docs/station.md describes the schema and the conventions.
"""
from host_tools.station.errors import StationError
from host_tools.station.records import Event, FrozenValue, Reading
from host_tools.station.repository import Station, default_url, open_station

__all__ = ["Event", "FrozenValue", "Reading", "Station", "StationError", "default_url",
           "open_station"]
