"""Downlink requests on a terminal's session: PSEQ/RSEQ, FCB, timeouts and retries, multi-frame
replies, denials."""
import asyncio

import pytest

from protocol import gw376

from host_tools.station.session import Denied, ResponseTimeout, SessionClosed
from tests.station_frontend.frontend_support import Harness, run


def test_request_gets_the_reply_with_matching_rseq_and_stale_replies_are_dropped(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(1)
            await raw.login()
            link = h.link(1)
            pending = asyncio.ensure_future(link.request(0x0C, [(0, 2, None)]))
            request = await raw.receive()
            assert (request.afn, request.units[0][:2], request.prm) == (0x0C, (0, 2), 1)
            clock = (2026, 12, 1, 8, 0, 0, 2)
            stale = gw376.response(request, [(0, 2, (2020, 1, 1, 0, 0, 0, 3))])
            stale.seq = (request.seq - 1) & 0x0F               # an answer to an older request
            raw.send(stale)
            raw.send(gw376.response(request, [(0, 2, clock)]))
            assert await pending == [(0, 2, clock)]
            assert link.session.stats["stale_replies"] == 1
            # the next request counts PSEQ up and toggles FCB
            pending = asyncio.ensure_future(link.request(0x0C, [(0, 2, None)]))
            second = await raw.receive()
            assert second.seq == (request.seq + 1) & 0x0F
            assert second.fcv == 1 and second.fcb != request.fcb
            raw.send(gw376.response(second, [(0, 2, clock)]))
            await pending
    run(scenario())


def test_no_answer_is_retried_with_the_same_bytes_then_times_out(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, response_timeout=0.3, retries=2) as h:
            raw = await h.raw(1)
            await raw.login()
            pending = asyncio.ensure_future(h.link(1).request(0x0C, [(0, 2, None)]))
            sent = [await raw.receive_raw() for _ in range(3)]
            assert sent[0] == sent[1] == sent[2]               # same PSEQ, same FCB
            with pytest.raises(ResponseTimeout):
                await pending
            assert h.link(1).session.stats["timeouts"] == 1
    run(scenario())


def test_retry_after_a_lost_request_succeeds_and_runs_once(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=2, response_timeout=0.3) as h:
            sim = await h.sim(1)
            sim.ignore_requests = 1                            # the first request is lost
            units = await h.link(1).request(0x0C, [(1, 129, None)])
            assert [u[:2] for u in units] == [(1, 129)]
            assert h.link(1).session.stats["retries"] == 1
            assert sim.requests == [(0x0C, [(1, 129)])]
    run(scenario())


def test_multi_frame_reply_is_reassembled(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=8) as h:
            sim = await h.sim(1, max_user_data=80)             # about 2 units per frame
            frames_before = []
            original = sim._write

            def counting_write(data):
                frames_before.append(data)
                original(data)
            sim._write = counting_write
            units = await h.link(1).request(0x0C, [(pn, 129, None) for pn in range(1, 9)])
            assert [pn for pn, fn, _ in units] == list(range(1, 9))
            assert all(data["forward_active"][0] is not None for _, _, data in units)
            parsed = [gw376.parse(f) for f in frames_before]
            assert len(parsed) >= 4
            assert parsed[0].fir and not parsed[0].fin and parsed[-1].fin
            assert [f.seq for f in parsed] == [(parsed[0].seq + i) & 0x0F
                                               for i in range(len(parsed))]
    run(scenario())


def test_deny_raises_denied(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            sim = await h.sim(1)
            sim.deny_afns.add(0x09)
            with pytest.raises(Denied, match="denied AFN09"):
                await h.link(1).request(0x09, [(0, 1, None)])
            assert h.link(1).session.stats["denied"] == 1
    run(scenario())


def test_pw_is_sent_on_control_and_a_wrong_one_is_denied(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, password="11") as h:
            sim = await h.sim(1, password=bytes.fromhex("11" + "00" * 15))
            clock = (2026, 12, 1, 8, 0, 0, 2)
            assert await h.link(1).request(0x05, [(0, 31, clock)]) == []      # right PW
            h.station.set_terminal_password(h.ids[1], "22")
            h.link(1).session.password = None                 # re-read on the next control
            with pytest.raises(Denied):
                await h.link(1).request(0x05, [(0, 31, clock)])
            assert sim.requests[-1] == (0x05, [(0, 31)])
    run(scenario())


def test_request_fails_when_the_terminal_disconnects(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, response_timeout=5) as h:
            raw = await h.raw(1)
            await raw.login()
            pending = asyncio.ensure_future(h.link(1).request(0x0C, [(0, 2, None)]))
            await raw.receive()
            raw.close()
            with pytest.raises(SessionClosed):
                await pending
    run(scenario())
