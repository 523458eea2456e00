"""Group commit for an asyncio front end: thousands of sessions, a few transactions a second.

Every transaction costs a disk flush (SQLite synchronous=FULL, PostgreSQL commit), so one per
upload or heartbeat would cap the station at a few hundred per second. StationWriter gathers
what the sessions hand it and writes it on a worker thread, all uploads in one transaction and
all heartbeats in another; whatever arrives meanwhile goes into the next round. So under load batches grow by themselves,
and when idle an upload is written at once.

    writer = StationWriter(station)
    stored = await writer.store_readings(readings)   # returns once committed: confirm the
                                                     # upload to the terminal only then
    writer.note_heartbeat(session_id, at)            # no wait: confirm the heartbeat at once
    await writer.close()                             # writes what is pending, then stops

A failed write (database down) fails the waiting store_readings calls with the StationError;
noted heartbeats are kept and written with the next batch.
"""
import asyncio
import logging

from host_tools.station.errors import StationError

log = logging.getLogger(__name__)


class StationWriter:
    """Batches readings and heartbeats from many coroutines into few transactions."""

    def __init__(self, station, max_readings=50000):
        self.station = station
        self.max_readings = max_readings     # per transaction; the rest waits for the next
        self._uploads = []                   # [(readings, future)]
        self._heartbeats = {}                # session_id -> latest time
        self._wake = None
        self._task = None
        self._closing = False
        self.transactions = 0                # for tests and the benchmark

    def _ensure_running(self):
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def store_readings(self, readings):
        """Store one upload's Readings; the number that were new, once committed."""
        if self._closing:
            raise StationError("the station writer is closed")
        readings = list(readings)
        self._ensure_running()
        future = asyncio.get_running_loop().create_future()
        self._uploads.append((readings, future))
        self._wake.set()  # pyright: ignore[reportOptionalMemberAccess] - set by start()
        return await future

    def note_heartbeat(self, session_id, at=None):
        """Record a session's heartbeat with the next batch (at None = when it is written)."""
        self._ensure_running()
        self._heartbeats[session_id] = at
        self._wake.set()  # pyright: ignore[reportOptionalMemberAccess] - set by start()

    async def flush(self):
        """Wait until everything handed over so far is written."""
        if self._task is None:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._uploads.append(([], waiter))
        self._wake.set()  # pyright: ignore[reportOptionalMemberAccess] - set by start()
        await waiter

    async def close(self):
        """Write what is pending and stop."""
        if self._task is None:
            return
        await self.flush()
        self._closing = True
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def _run(self):
        while True:
            await self._wake.wait()  # pyright: ignore[reportOptionalMemberAccess] - set by start()
            self._wake.clear()  # pyright: ignore[reportOptionalMemberAccess] - set by start()
            while self._uploads or self._heartbeats:
                uploads, size = [], 0
                while self._uploads and (not uploads or
                                         size + len(self._uploads[0][0]) <= self.max_readings):
                    uploads.append(self._uploads.pop(0))
                    size += len(uploads[-1][0])
                beats, self._heartbeats = self._heartbeats, {}
                try:
                    results = await asyncio.to_thread(self._write, [u[0] for u in uploads],
                                                      beats)
                except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                    log.warning("station write failed: %s", exc)
                    for session_id, at in beats.items():
                        self._heartbeats.setdefault(session_id, at)
                    for _, future in uploads:
                        if not future.done():
                            future.set_exception(exc)
                    if beats and not uploads:
                        await asyncio.sleep(1)     # database down: do not spin on heartbeats
                    continue
                for (_, future), result in zip(uploads, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)

    def _write(self, batches, beats):
        """One transaction for every batch of readings, one for every heartbeat."""
        results = [0] * len(batches)        # flush() markers are empty batches: nothing to write
        filled = [i for i, batch in enumerate(batches) if batch]
        if filled:
            stored = self.station.store_reading_batches([batches[i] for i in filled])
            for i, result in zip(filled, stored, strict=True):
                results[i] = result
            self.transactions += 1
        if beats:
            self.station.record_heartbeats(beats.items())
            self.transactions += 1
        return results
