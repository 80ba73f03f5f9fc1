"""The soak's watch: memory samples, the fake's records dropped, and where a stall was."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest_asyncio

from tests.e2e import fake_discord
from tests.fake_discord import FakeDiscord
from tests.soak.watch import watching


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async for f in fake_discord():
        yield f


def _blocks_the_loop() -> None:
    time.sleep(0.4)  # what a synchronous call on the event loop's thread does to every channel


async def test_a_long_stall_is_witnessed_where_it_happened(fake: FakeDiscord) -> None:
    fake.gateway_events.append(("MESSAGE_CREATE", {}))
    async with watching(fake, 0.25) as watch:
        await asyncio.sleep(0.05)
        _blocks_the_loop()
        await asyncio.sleep(0.1)  # short gaps are no stall
    assert len(watch.stall_stacks) == 1
    assert any("_blocks_the_loop" in line for line in watch.stall_stacks[0])
    assert watch.rss_mb and watch.rss_mb[0][1] > 10  # MiB
    assert watch.rss_at(0.0) == watch.rss_mb[0][1] and watch.rss_at(3600.0) is None
    assert fake.gateway_events == []
