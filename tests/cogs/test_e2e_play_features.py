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
    MODEL_TIMEOUT,
    Mark,
    Npc,
    Running,
    assert_no_pings_or_tracebacks,
    attachment_text,
    cast_scene,
    click,
    command,
    e2e_settings,
    fake_discord,
    is_ephemeral,
    npc_posts,
    player_says,
    settle,
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


def _button(message: dict[str, object], label: str) -> str:
    """The custom id of the button labelled `label` on a message."""
    for row in message.get("components") or []:  # type: ignore[union-attr]
        for component in row.get("components", []):
            if component.get("label") == label:
                return str(component["custom_id"])
    raise AssertionError(f"no {label!r} button on {message.get('content')!r}")


async def test_narrate_posts_as_the_narrator_and_is_a_narration_block(running: Running) -> None:
    fake = running.fake
    chan = await cast_scene(running, "narration", [Npc("Bellamy")], reply_mode="manual")
    since = len(fake.messages)
    refused = await command(
        fake, "narrate", user_id=fake.player_ids[0], channel_id=chan, options={"text": "Me!"}
    )
    assert is_ephemeral(refused) and "Only a GM" in refused["content"]
    answered = await command(
        fake,
        "narrate",
        user_id=fake.admin_id,
        channel_id=chan,
        options={"text": "The fog lifts. A bell rings twice."},
    )
    assert is_ephemeral(answered) and answered["content"] == "Narrated."
    [post] = npc_posts(fake, chan, since)
    assert (post["username"], post["content"]) == ("Narrator", "The fog lifts. A bell rings twice.")
    await settle(running, [post])
    prompt = await command(fake, "scene", "prompt", user_id=fake.admin_id, channel_id=chan)
    _, text = attachment_text(prompt)
    assert "[INST]user\nNarrator: The fog lifts. A bell rings twice.[/INST]" in text
    turns = await running.turns(chan)
    assert [(t.role, t.speaker) for t in turns][-1] == ("narration", "Narrator")


async def test_suggest_then_post_stores_the_players_turn_and_starts_a_round(
    running: Running,
) -> None:
    fake = running.fake
    player = fake.player_ids[1]
    chan = await cast_scene(running, "suggest", [Npc("Corwen")], max_replies=1)
    made = await command(
        fake,
        "character",
        "create",
        user_id=player,
        channel_id=chan,
        options={"name": "Sable", "sheet": "**Age**: 30 **Biography**: A smuggler."},
    )
    assert "Sable" in made["content"], made["content"]
    await player_says(running, chan, player, "*Sable leans on the rail.* Evening.")
    turns_before = len(await running.turns(chan))

    draft = await command(fake, "suggest", user_id=player, channel_id=chan, timeout=MODEL_TIMEOUT)
    assert is_ephemeral(draft) and draft["content"].startswith("**Sable** (a draft only you see)")
    assert len(await running.turns(chan)) == turns_before  # a draft stores nothing
    again = await click(fake, draft["id"], _button(draft, "Again"), user_id=player, channel_id=chan)
    assert again["id"] == draft["id"] and again["content"].startswith("**Sable**")
    text = again["content"].split(">>> ", 1)[1]

    since = len(fake.messages)
    done = await click(fake, draft["id"], _button(again, "Post"), user_id=player, channel_id=chan)
    assert done["content"] == "Posted as Sable." and not done.get("components")
    await running.idle()
    posts = npc_posts(fake, chan, since)
    assert (posts[0]["username"], posts[0]["content"]) == ("Sable", text)
    assert len(posts) >= 2 and posts[1]["username"] == "Corwen"  # the post started a round
    turns = await running.turns(chan)
    mine = next(t for t in turns[turns_before:] if t.role == "user")
    assert (mine.speaker, mine.author_id, mine.content) == ("Sable", player, text)
