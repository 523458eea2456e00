"""Ingest throughput: readings stored per second through Station.store_readings.

The load is what uploading terminals send: each upload is one terminal's 64 meters x 15 items at
one read time (960 readings, exact Decimals, one transaction, as the front end stores an upload
before confirming it). One upload in five is a re-send of an earlier one (the terminal missed
the confirmation) and one in five overlaps the previous read time by half, so duplicates are
skipped as in the field. Only new readings count as stored.

`station.ingest_grouped_per_s.sqlite` is the same load from 20 terminals uploading at once
through StationWriter, the group commit the front end uses (several uploads per transaction). SQLite runs with its production
settings (WAL, synchronous=FULL); PostgreSQL is a throwaway local server with fsync and
synchronous commit on, or CONC_TEST_POSTGRES_URL's server.
"""
import asyncio
import datetime
import random
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from host_tools.station import pgtest
from host_tools.station.items import energy_item
from host_tools.station.records import Reading
from host_tools.station.repository import open_station
from host_tools.station.writer import StationWriter

TERMINALS = 20
METERS = 64
ITEMS = 15
ROUNDS = 8            # read times per terminal
START = datetime.datetime(2026, 11, 24, 0, 0, tzinfo=datetime.timezone.utc)


def uploads(terminal_ids, seed=1376):
    """The upload sequence: lists of Readings, with re-sends and overlaps mixed in."""
    rng = random.Random(seed)
    sent = []
    for k in range(ROUNDS):
        read_at = START + datetime.timedelta(minutes=15 * k)
        for tid in terminal_ids:
            batch = [Reading(tid, pn, energy_item("fwd", i), read_at,
                             Decimal("%d.%04d" % (1000 * pn + k, rng.randrange(10000))))
                     for pn in range(1, METERS + 1) for i in range(ITEMS)]
            sent.append(batch)
            roll = rng.random()
            if roll < 0.2 and len(sent) > 1:
                sent.append(rng.choice(sent[:-1]))             # a whole re-send
            elif roll < 0.4 and len(sent) > 1:
                earlier = sent[-2]
                sent.append(earlier[len(earlier) // 2:] + batch[:len(batch) // 2])
    return sent


def measure(url):
    """(new readings stored, readings offered, seconds spent in store_readings)."""
    with open_station(url, zone="UTC") as station:
        ids = [station.add_terminal("4101", a, "00").id for a in range(1, TERMINALS + 1)]
        load = uploads(ids)
        station.store_readings(load[0])        # warm up: caches, first pages
        stored, offered, spent = 0, 0, 0.0
        for batch in load[1:]:
            started = time.perf_counter()
            stored += station.store_readings(batch)
            spent += time.perf_counter() - started
            offered += len(batch)
    return stored, offered, spent


def measure_grouped(url, concurrent=TERMINALS):
    """The same load from `concurrent` terminals uploading at once through StationWriter (the
    front end's group commit): (stored, offered, seconds, transactions)."""
    with open_station(url, zone="UTC") as station:
        ids = [station.add_terminal("4101", a, "00").id for a in range(1, TERMINALS + 1)]
        load = uploads(ids)

        async def terminals():
            writer = StationWriter(station)
            queue = list(load)

            async def one_terminal():
                total = 0
                while queue:
                    total += await writer.store_readings(queue.pop(0))
                return total

            started = time.perf_counter()
            stored = sum(await asyncio.gather(*(one_terminal() for _ in range(concurrent))))
            spent = time.perf_counter() - started
            await writer.close()
            return stored, spent, writer.transactions

        stored, spent, transactions = asyncio.run(terminals())
    return stored, sum(len(b) for b in load), spent, transactions


def run(bench):
    with tempfile.TemporaryDirectory() as folder:
        stored, offered, spent = measure("sqlite:///%s" % (Path(folder) / "station.db"))
    bench.emit("station.ingest_per_s.sqlite", round(stored / spent), "readings/s", goal=">= 20000",
               offered=offered, duplicates=offered - stored, upload=METERS * ITEMS)
    with tempfile.TemporaryDirectory() as folder:
        stored, offered, spent, transactions = measure_grouped(
            "sqlite:///%s" % (Path(folder) / "station.db"))
    bench.emit("station.ingest_grouped_per_s.sqlite", round(stored / spent), "readings/s",
               offered=offered, duplicates=offered - stored, concurrent_uploads=TERMINALS,
               uploads=ROUNDS * TERMINALS, transactions=transactions)
    if pgtest.skip_requested():
        print("# station.ingest_per_s.postgresql skipped: %s is set" % pgtest.ENV_SKIP)
        return
    server = pgtest.server_for_tests(durable=True)
    try:
        name = "bench_%s" % uuid.uuid4().hex[:8]
        url = server.create_database(name)
        stored, offered, spent = measure(url)
        server.drop_database(name)
    finally:
        server.stop()
    bench.emit("station.ingest_per_s.postgresql", round(stored / spent), "readings/s",
               offered=offered, duplicates=offered - stored, upload=METERS * ITEMS)
