"""End to end: the play features (DESIGN 15) with the real bot, store and demo model.

One bot runs for the module against the loopback fake Discord; every test opens its own
channel and NPCs, and what each test sent is checked for pings and tracebacks after it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import pytest_asyncio

from tests.e2e import (
    Mark,
    Npc,
    Running,
    assert_no_pings_or_tracebacks,
    cast_scene,
    e2e_settings,
    fake_discord,
    npc_posts,
    player_says,
    start_bot,
    stop_bot,
)

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]


def harbor_card(name: str, greeting: str, alternates: tuple[str, ...] = ()) -> dict[str, object]:
    """A V2 card for an NPC of the harbor, with optional alternate greetings."""
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": name,
            "description": f"{name} keeps the harbor's secrets.",
            "personality": "wry",
            "first_mes": greeting,
            "alternate_greetings": list(alternates),
            "scenario": "",
            "mes_example": "",
        },
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    db = tmp_path_factory.mktemp("e2e-features") / "bot.db"
    async for fake in fake_discord():
        bot = await start_bot(fake, e2e_settings(fake, db, max_new_tokens=24))
        try:
            yield bot
        finally:
            await stop_bot(bot)


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def checked(running: Running) -> AsyncIterator[None]:
    """Every test starts and ends idle, and sends no ping or traceback."""
    await running.idle()
    mark = Mark.now(running.fake)
    yield
    await running.idle()
    assert_no_pings_or_tracebacks(running.fake, mark)


async def _fetch(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def test_an_expired_avatar_link_is_refreshed_before_the_next_post(
    running: Running,
) -> None:
    fake = running.fake
    npc = Npc("Quill", card=harbor_card("Quill", "*Quill tips his hat.*"))
    chan = await cast_scene(running, "avatars", [npc], max_replies=1)
    characters = running.core.stores.characters
    quill = await characters.find_npc(fake.guild_id, "Quill")
    assert quill is not None and quill.avatar_url is not None
    assert await _fetch(quill.avatar_url) == 200  # the attachment link, kept as Discord gave it
    # A day later Discord's link has expired: the CDN refuses it.
    expired = fake.expired_link(quill.avatar_url)
    await characters.update(quill.id, avatar_url=expired)
    assert await _fetch(expired) == 404

    since = len(fake.messages)
    await player_says(running, chan, fake.player_ids[0], "Quill, who owns that boat?")
    posts = npc_posts(fake, chan, since)
    assert posts, "the round posted nothing"
    used = posts[0]["avatar_url"]
    assert fake.refresh_requests == [expired]
    assert used != expired and urlsplit(used).path == urlsplit(expired).path
    assert int(parse_qs(urlsplit(used).query)["ex"][0], 16) > time.time()
    assert await _fetch(used) == 200
    stored = await characters.find_npc(fake.guild_id, "Quill")
    assert stored is not None and stored.avatar_url == used  # refreshed once, not every post
