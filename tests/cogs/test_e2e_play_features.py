"""End to end: the play features with the real bot, store and demo model.

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
    Npc,
    Running,
    answer_of,
    attachment_text,
    cast_scene,
    checked_test,
    click,
    command,
    custom_ids,
    is_ephemeral,
    module_bot,
    npc_posts,
    player_says,
    settle,
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
    async for bot in module_bot(db, max_new_tokens=24):
        yield bot


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def checked(running: Running) -> AsyncIterator[None]:
    """Every test starts and ends idle, and sends no ping or traceback."""
    async for _ in checked_test(running):
        yield


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


async def _three_turn_round(running: Running, name: str) -> tuple[int, list[dict[str, object]]]:
    """A channel whose latest round is three NPC turns (one `/reply as` each, no player between)."""
    fake = running.fake
    npcs = [Npc(f"{name} {who}") for who in ("Ash", "Birch", "Cedar")]
    # Hot sampling: the tiny demo model is otherwise so sure of itself that a swipe with
    # another seed writes the very same words.
    chan = await cast_scene(
        running, name, npcs, reply_mode="manual", max_replies=1, temperature=1.6, min_p=0.0
    )
    await player_says(running, chan, fake.player_ids[0], "Who rang the bell at midnight?")
    since = len(fake.messages)
    for npc in npcs:
        answered = await command(
            fake, "reply", user_id=fake.admin_id, channel_id=chan, options={"as": npc.name}
        )
        assert "answer shortly" in answered["content"], answered["content"]
        await running.idle()
    posts = npc_posts(fake, chan, since)
    assert [p["username"] for p in posts] == [n.name for n in npcs]
    await settle(running, posts)
    return chan, posts


async def _menu(running: Running, name: str, message: dict[str, object], chan: int) -> str:
    handle = await running.fake.message_command(
        name, int(str(message["id"])), user_id=running.fake.admin_id, channel_id=chan
    )
    answered = await answer_of(running.fake, handle, MODEL_TIMEOUT)
    assert is_ephemeral(answered)
    return str(answered["content"])


async def test_swipe_the_middle_turn_of_a_round_changes_only_that_message(
    running: Running,
) -> None:
    fake = running.fake
    chan, posts = await _three_turn_round(running, "Swipe")
    before = [fake.message(int(p["id"]))["content"] for p in posts]
    assert custom_ids(fake.message(int(posts[2]["id"])))[0].startswith("tk:swipe:")
    assert custom_ids(fake.message(int(posts[1]["id"]))) == []

    answer = await _menu(running, "Swipe", posts[1], chan)
    assert answer.startswith("Swiped Swipe Birch's turn"), answer
    after = [fake.message(int(p["id"]))["content"] for p in posts]
    assert after[0] == before[0] and after[2] == before[2]
    assert after[1] != before[1]
    turns = [t for t in await running.turns(chan, include_deleted=False) if t.role == "model"]
    middle = next(t for t in turns if t.message_ids == [int(posts[1]["id"])])
    assert middle.swipes == [before[1], after[1]] and middle.content == after[1]
    # The buttons stay on the newest NPC message.
    assert custom_ids(fake.message(int(posts[2]["id"]))) != []
    assert custom_ids(fake.message(int(posts[1]["id"]))) == []


async def test_continue_and_delete_on_turns_that_are_not_the_last(running: Running) -> None:
    fake = running.fake
    chan, posts = await _three_turn_round(running, "Edit")
    first_before = fake.message(int(posts[0]["id"]))["content"]
    answer = await _menu(running, "Continue", posts[0], chan)
    assert answer.endswith("went on."), answer
    first_after = fake.message(int(posts[0]["id"]))["content"]
    assert first_after.startswith(first_before) and len(first_after) > len(first_before)

    answer = await _menu(running, "Delete", posts[1], chan)
    assert answer == "Deleted Edit Birch's turn.", answer
    assert fake.message(int(posts[1]["id"]))["deleted"]
    kept = [
        t.speaker for t in await running.turns(chan, include_deleted=False) if t.role == "model"
    ]
    assert kept[-2:] == ["Edit Ash", "Edit Cedar"]

    refused = await _menu(running, "Swipe", {"id": fake.messages[0]["id"]}, chan)
    assert "not part of a scene's history" in refused or "Only NPC turns" in refused


async def test_an_earlier_round_says_so(running: Running) -> None:
    fake = running.fake
    chan, posts = await _three_turn_round(running, "Old")
    await player_says(running, chan, fake.player_ids[0], "Enough of that. Next!")
    before = fake.message(int(posts[2]["id"]))["content"]
    answer = await _menu(running, "Swipe", posts[2], chan)
    assert "earlier round" in answer, answer
    assert fake.message(int(posts[2]["id"]))["content"] == before


async def test_a_greeting_with_two_alternates_swiped_twice_shows_each(running: Running) -> None:
    fake = running.fake
    card = harbor_card("Maud", "*Maud looks up.* Well?", ("Back again?", "Fog's thick tonight."))
    since = len(fake.messages)
    chan = await cast_scene(running, "greetings", [Npc("Maud", card=card)])
    [greeting] = npc_posts(fake, chan, since)
    assert greeting["content"] == "*Maud looks up.* Well?"
    seen = [greeting["content"]]
    for _ in range(2):
        answer = await _menu(running, "Swipe", greeting, chan)
        assert answer.startswith("Maud's greeting"), answer
        seen.append(fake.message(int(greeting["id"]))["content"])
    assert seen == ["*Maud looks up.* Well?", "Back again?", "Fog's thick tonight."]
    assert npc_posts(fake, chan, since) == [fake.message(int(greeting["id"]))]  # edited in place
