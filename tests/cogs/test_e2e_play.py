"""End to end: GMs build scenes, players post, NPCs answer through webhooks, buttons work.

One bot (real discord.py, real store, real demo model) runs for the whole module against the
loopback fake Discord. The tests run in file order and share the guild: NPCs created early are
cast later. Each scene lives in its own channel so the tests do not see each other's history.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e import (
    NO_MENTIONS,
    Running,
    answer_of,
    assert_no_pings_or_tracebacks,
    attachment_text,
    card_png,
    click,
    command,
    custom_ids,
    e2e_settings,
    fake_discord,
    is_ephemeral,
    npc_posts,
    player_says,
    settle,
    start_bot,
    stop_bot,
)
from tests.fake_discord import FakeDiscord

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

OTHER_BOT_ID = 710000000000000001
PROXY_WEBHOOK_ID = 720000000000000001

WICK_CARD: dict[str, Any] = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Old Wick",
        "description": "A retired lighthouse keeper who smells of tar and tells tall tales.",
        "personality": "gruff, kind, superstitious",
        "first_mes": "*Old Wick looks up from his net.* Storm coming, mark my words.",
        "scenario": "",
        "mes_example": "",
        "creator_notes": "kept verbatim",
        "tags": ["harbor"],
    },
}
WICK = "Old Wick"
MARTA = "Marta"
MARTA_SHEET = (
    "**Age**: 52 **Occupation/Profession**: Harbormaster "
    "**Personality**: stern, fair, tired **Biography**: Runs the harbor of Lantern Bay."
)
TAMSIN_SHEET = (
    "**Character Name**: Tamsin **Age**: 24 **Occupation/Profession**: Lamplighter "
    "**Personality**: curious, blunt"
)


class World:
    """The module's bot, fake and the extra channels made before the bot connected."""

    def __init__(self, running: Running, channels: dict[str, int]) -> None:
        self.running = running
        self.fake = running.fake
        self.channels = channels
        self.gm = self.fake.admin_id
        self.alice, self.bob = self.fake.player_ids


def _add_world(fake: FakeDiscord, channels: dict[str, int]) -> None:
    for name in ("side-room", "archive"):
        channels[name] = fake.add_text_channel(name)
    fake.add_member(OTHER_BOT_ID, "otherbot", bot=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    channels: dict[str, int] = {}
    db = tmp_path_factory.mktemp("e2e-play") / "bot.db"
    async for fake in fake_discord(lambda f: _add_world(f, channels)):
        running = await start_bot(fake, e2e_settings(fake, db))
        try:
            yield World(running, channels)
        finally:
            await stop_bot(running)


def _assert_short_ephemeral(message: dict[str, Any], *expected: str) -> None:
    assert is_ephemeral(message), message["content"]
    assert 0 < len(message["content"]) <= 200, message["content"]
    for text in expected:
        assert text in message["content"]
    assert "Traceback" not in message["content"]


# ------------------------------------------------------------------------------ commands


async def test_commands_sync(world: World) -> None:
    commands = world.fake.commands
    assert {"character", "npc", "scene", "reply", "config"} <= set(commands)

    def subcommands(name: str) -> set[str]:
        return {o["name"] for o in commands[name]["options"] if o["type"] == 1}

    assert subcommands("character") == {"create", "edit", "delete", "list", "show", "use"}
    assert subcommands("npc") == {"create", "edit", "delete", "list", "show", "export"}
    assert {
        "start",
        "end",
        "status",
        "add",
        "remove",
        "settings",
        "scenario",
        "prompt",
        "export",
        "clear",
    } <= subcommands("scene")
    assert subcommands("config") == {"gm-role"}
    assert [o["name"] for o in commands["reply"]["options"]] == ["as"]
    # GM commands stay visible to a GM role without Manage Server; only /config is gated.
    for name in ("character", "npc", "scene", "reply"):
        assert commands[name]["default_member_permissions"] is None, name
    assert int(commands["config"]["default_member_permissions"]) == 1 << 5  # Manage Server


async def test_gm_creates_npcs_from_png_card_and_sheet(world: World) -> None:
    fake, gm, chan = world.fake, world.gm, world.fake.channel_id
    made = await command(
        fake,
        "npc",
        "create",
        user_id=gm,
        channel_id=chan,
        attachments={"card": ("old-wick.png", card_png(WICK_CARD))},
    )
    _assert_short_ephemeral(made, "Old Wick", "card")
    made = await command(
        fake,
        "npc",
        "create",
        user_id=gm,
        channel_id=chan,
        options={"name": MARTA, "sheet": MARTA_SHEET},
    )
    _assert_short_ephemeral(made, "Marta")

    shown = await command(fake, "npc", "show", user_id=gm, channel_id=chan, options={"name": WICK})
    assert WICK_CARD["data"]["description"] in shown["content"]
    assert WICK_CARD["data"]["first_mes"] in shown["content"]

    characters = world.running.core.stores.characters
    wick = await characters.find_npc(fake.guild_id, WICK)
    assert wick is not None and wick.kind == "npc" and wick.owner_id is None
    assert wick.greeting == WICK_CARD["data"]["first_mes"]
    assert WICK_CARD["data"]["description"] in wick.sheet
    assert wick.card_json == WICK_CARD  # kept verbatim for a lossless export
    assert wick.avatar_url and wick.avatar_url.endswith("old-wick.png")  # the card is the avatar
    marta = await characters.find_npc(fake.guild_id, MARTA)
    assert marta is not None and marta.greeting is None and marta.card_json is None
    assert "Harbormaster" in marta.sheet and "**Character Name**: Marta" in marta.sheet

    exported = await command(
        fake, "npc", "export", user_id=gm, channel_id=chan, options={"name": WICK}
    )
    filename, text = attachment_text(exported)
    assert filename == "old-wick.json" and '"creator_notes": "kept verbatim"' in text

    choices = await fake.autocomplete(
        "scene", subcommand="add", user_id=gm, channel_id=chan, focused="npc", value="ol"
    )
    assert [c["value"] for c in choices] == [WICK]


async def test_only_gms_manage_npcs(world: World) -> None:
    fake, chan = world.fake, world.fake.channel_id
    sheet = {"name": "Brannoc", "sheet": "**Age**: 40 **Occupation/Profession**: Smuggler"}

    refused = await command(
        fake, "npc", "create", user_id=world.alice, channel_id=chan, options=sheet
    )
    _assert_short_ephemeral(refused, "Only a GM")
    # Without a sheet the form would open; a player gets the refusal instead of the form.
    handle = await fake.slash("npc", subcommand="create", user_id=world.alice, channel_id=chan)
    assert (await handle.response())["type"] == 4 and handle.ephemeral
    _assert_short_ephemeral(fake.message(handle.original_message_id or 0), "Only a GM")

    # The GM-role member lacks Manage Server: not a GM until /config gm-role names the role.
    refused = await command(
        fake, "npc", "create", user_id=fake.gm_id, channel_id=chan, options=sheet
    )
    _assert_short_ephemeral(refused, "Only a GM")
    denied = await command(
        fake,
        "config",
        "gm-role",
        user_id=fake.gm_id,
        channel_id=chan,
        options={"role": fake.gm_role_id},
    )
    _assert_short_ephemeral(denied, "Manage Server")
    configured = await command(
        fake,
        "config",
        "gm-role",
        user_id=world.gm,
        channel_id=chan,
        options={"role": fake.gm_role_id},
    )
    assert is_ephemeral(configured) and "are now GMs" in configured["content"]
    assert configured["mention_roles"] == []  # the role is named, never pinged

    made = await command(fake, "npc", "create", user_id=fake.gm_id, channel_id=chan, options=sheet)
    _assert_short_ephemeral(made, "Created NPC **Brannoc**")
    assert await world.running.core.stores.characters.find_npc(fake.guild_id, "Brannoc")
    # Players still cannot, and cannot delete it either.
    refused = await command(
        fake, "npc", "delete", user_id=world.bob, channel_id=chan, options={"name": "Brannoc"}
    )
    _assert_short_ephemeral(refused, "Only a GM")


# ------------------------------------------------------------------------------ a scene


async def test_scene_start_and_cast_with_greeting(world: World) -> None:
    fake, gm, chan, running = world.fake, world.gm, world.fake.channel_id, world.running
    started = await command(fake, "scene", "start", user_id=gm, channel_id=chan)
    assert not is_ephemeral(started) and "Scene started" in started["content"]

    since = len(fake.messages)
    added = await command(fake, "scene", "add", user_id=gm, channel_id=chan, options={"npc": WICK})
    assert "joined the scene" in added["content"]
    [greeting] = npc_posts(fake, chan, since)
    assert greeting["username"] == WICK
    assert greeting["content"] == WICK_CARD["data"]["first_mes"]
    assert greeting["avatar_url"] and greeting["avatar_url"].endswith("old-wick.png")

    added = await command(fake, "scene", "add", user_id=gm, channel_id=chan, options={"npc": MARTA})
    assert "joined the scene" in added["content"]
    assert len(npc_posts(fake, chan, since)) == 1  # Marta has no greeting
    # At most two NPC turns a round keeps the demo model's share of the suite small.
    changed = await command(
        fake, "scene", "settings", user_id=gm, channel_id=chan, options={"max_replies": 2}
    )
    assert "max_replies = 2" in changed["content"]
    await settle(running, npc_posts(fake, chan, since))

    scene = await running.scene(chan)
    assert [c.name for c in await running.core.stores.scenes.cast(scene.id)] == [WICK, MARTA]
    [turn] = await running.turns(chan)
    assert (turn.role, turn.speaker, turn.content) == ("model", WICK, greeting["content"])
    assert turn.message_ids == [int(greeting["id"])]

    status = await command(fake, "scene", "status", user_id=gm, channel_id=chan)
    assert "Old Wick, Marta" in status["content"]


async def test_player_posts_and_npcs_answer_through_the_webhook(world: World) -> None:
    fake, chan, running, alice = world.fake, world.fake.channel_id, world.running, world.alice
    made = await command(
        fake,
        "character",
        "create",
        user_id=alice,
        channel_id=chan,
        options={"sheet": TAMSIN_SHEET},
    )
    _assert_short_ephemeral(made, "Tamsin")

    since, hooks_before = len(fake.messages), len(fake.webhook_executions)
    typing_before = fake.typing_events.count(chan)
    rounds_before = running.bot.tavern.sessions.rounds_started
    said = await player_says(
        running, chan, alice, "Marta, the harbor lamps went dark. What happened?"
    )
    posts = npc_posts(fake, chan, since)
    assert posts, "no NPC answered"
    assert {p["username"] for p in posts} <= {WICK, MARTA}
    assert fake.typing_events.count(chan) > typing_before
    assert len(fake.webhook_executions) - hooks_before == len(posts)
    for execution in fake.webhook_executions[hooks_before:]:
        assert execution["allowed_mentions"] == NO_MENTIONS
        assert execution["query"].get("wait") in ("1", "true")

    turns = await running.turns(chan)
    player_turn = next(t for t in turns if t.role == "user")
    assert player_turn.speaker == "Tamsin"
    assert player_turn.author_id == alice and player_turn.message_ids == [int(said["id"])]
    npc_turns = [t for t in turns if t.role == "model" and t.seq > player_turn.seq]
    assert [t.speaker for t in npc_turns] == [p["username"] for p in posts]
    assert [t.message_ids for t in npc_turns] == [[int(p["id"])] for p in posts]
    assert [t.content for t in npc_turns] == [p["content"] for p in posts]
    assert all(t.character_id is not None for t in npc_turns)

    # Only the newest NPC message carries the buttons.
    last = fake.message(int(posts[-1]["id"]))
    assert custom_ids(last) == [
        f"tk:{a}:{npc_turns[-1].id}" for a in ("swipe", "continue", "delete")
    ]
    for older in posts[:-1]:
        assert custom_ids(fake.message(int(older["id"]))) == []
    # Once the bot has seen its own webhook posts: still exactly one round, nothing more sent.
    await settle(running, posts)
    assert running.bot.tavern.sessions.rounds_started == rounds_before + 1
    assert npc_posts(fake, chan, since) == posts


async def test_bot_ignores_its_own_webhook_and_other_bots(world: World) -> None:
    fake, chan, running = world.fake, world.fake.channel_id, world.running
    scheduler = running.bot.tavern.sessions
    await settle(running, npc_posts(fake, chan))  # the bot has seen all of its own posts
    rounds, hooks = scheduler.rounds_started, len(fake.webhook_executions)
    count = len(await running.turns(chan))

    other = await player_says(running, chan, OTHER_BOT_ID, "Marta! Beep boop, answer me.")
    assert await running.core.stores.turns.by_message_id(int(other["id"])) is None
    # Even a message posted through our own webhook by someone else is not a turn.
    own_hook = int(npc_posts(fake, chan)[-1]["webhook_id"])
    echo = await player_says(
        running, chan, 0, "Marta, are you there?", webhook_id=own_hook, username="Marta"
    )
    assert await running.core.stores.turns.by_message_id(int(echo["id"])) is None

    assert scheduler.rounds_started == rounds
    assert len(fake.webhook_executions) == hooks
    assert len(await running.turns(chan)) == count


async def test_reply_as_a_named_npc(world: World) -> None:
    fake, chan, running = world.fake, world.fake.channel_id, world.running
    await command(
        fake, "scene", "settings", user_id=world.gm, channel_id=chan, options={"max_replies": 1}
    )
    since = len(fake.messages)
    answered = await command(
        fake, "reply", user_id=world.alice, channel_id=chan, options={"as": MARTA}
    )
    _assert_short_ephemeral(answered, "Marta")
    await running.idle()
    posts = npc_posts(fake, chan, since)
    assert posts and posts[0]["username"] == MARTA
    await settle(running, posts)


async def _last_npc_message(world: World) -> tuple[dict[str, Any], int]:
    """The NPC message carrying the buttons, and its turn id."""
    for message in reversed(npc_posts(world.fake, world.fake.channel_id)):
        ids = custom_ids(message)
        if ids and not message["deleted"]:
            turn_id = int(ids[0].rsplit(":", 1)[1])
            return message, turn_id
    raise AssertionError("no NPC message carries buttons")


async def test_swipe_regenerates_in_place(world: World) -> None:
    fake, chan, running = world.fake, world.fake.channel_id, world.running
    message, turn_id = await _last_npc_message(world)
    old = message["content"]
    since = len(fake.messages)

    answered = await click(
        fake, message["id"], f"tk:swipe:{turn_id}", user_id=world.alice, channel_id=chan
    )
    _assert_short_ephemeral(answered, "Swiped", "2 versions")

    turn = await running.core.stores.turns.get(turn_id)
    assert turn.swipes == [old, turn.content] and turn.swipe_index == 1
    assert turn.content != old
    edited = fake.message(int(message["id"]))
    assert edited["content"] == turn.content and edited["edited_timestamp"] is not None
    assert turn.message_ids == [int(message["id"])]
    assert npc_posts(fake, chan, since) == []  # edited, not reposted
    assert f"tk:swipe:{turn_id}" in custom_ids(edited)


async def test_continue_extends_the_turn(world: World) -> None:
    fake, chan, running = world.fake, world.fake.channel_id, world.running
    message, turn_id = await _last_npc_message(world)
    old = message["content"]

    answered = await click(
        fake, message["id"], f"tk:continue:{turn_id}", user_id=world.alice, channel_id=chan
    )
    _assert_short_ephemeral(answered, "went on")

    turn = await running.core.stores.turns.get(turn_id)
    assert turn.content.startswith(old) and len(turn.content) > len(old)
    # A continued turn may have grown past one message; the first part keeps the old text.
    assert fake.message(int(message["id"]))["content"].startswith(old[:100])
    shown = " ".join(fake.message(i)["content"] for i in turn.message_ids)
    assert shown.split() == turn.content.split()


async def test_delete_removes_message_and_turn(world: World) -> None:
    fake, chan, running = world.fake, world.fake.channel_id, world.running
    message, turn_id = await _last_npc_message(world)
    turn = await running.core.stores.turns.get(turn_id)

    answered = await click(
        fake, message["id"], f"tk:delete:{turn_id}", user_id=world.alice, channel_id=chan
    )
    _assert_short_ephemeral(answered, "Deleted")
    assert all(fake.message(i)["deleted"] for i in turn.message_ids)
    assert (await running.core.stores.turns.get(turn_id)).deleted
    # Its MESSAGE_DELETE reaches the bot too and changes nothing further.
    for message_id in turn.message_ids:
        await running.probe.handled("delete", message_id)
    visible = await running.turns(chan, include_deleted=False)
    assert turn_id not in {t.id for t in visible}
    # The deleted turn is gone from what the model sees next.
    prompt = await command(fake, "scene", "prompt", user_id=world.gm, channel_id=chan)
    assert turn.content not in attachment_text(prompt)[1]


async def test_prompt_and_export_files(world: World) -> None:
    fake, chan, running = world.fake, world.fake.channel_id, world.running
    prompt = await command(fake, "scene", "prompt", user_id=world.gm, channel_id=chan)
    assert is_ephemeral(prompt) and "tokens" in prompt["content"]
    filename, text = attachment_text(prompt)
    assert filename == "prompt.txt"
    assert text.startswith("[INST]system\n")
    assert "Tamsin" in text and "the harbor lamps went dark" in text

    exported = await command(fake, "scene", "export", user_id=world.gm, channel_id=chan)
    filename, transcript = attachment_text(exported)
    assert filename == "transcript.txt"
    visible = await running.turns(chan, include_deleted=False)
    assert transcript == "\n\n".join(f"{t.speaker}: {t.content}" for t in visible) + "\n"
    assert "Tamsin: Marta, the harbor lamps went dark. What happened?" in transcript

    refused = await command(fake, "scene", "export", user_id=world.alice, channel_id=chan)
    _assert_short_ephemeral(refused, "Only a GM")


# ------------------------------------------------------------------------------ proxies, edits


async def test_proxy_messages_edits_and_deletes(world: World) -> None:
    fake, running, gm = world.fake, world.running, world.gm
    chan = world.channels["side-room"]
    await command(fake, "scene", "start", user_id=gm, channel_id=chan)
    changed = await command(
        fake, "scene", "settings", user_id=gm, channel_id=chan, options={"reply_mode": "manual"}
    )
    assert "reply_mode = manual" in changed["content"]
    rounds = running.bot.tavern.sessions.rounds_started

    proxied = await player_says(
        running,
        chan,
        0,
        "*Pip slips in through the window.*",
        webhook_id=PROXY_WEBHOOK_ID,
        username="Proxy Name",
    )
    said = await player_says(running, chan, world.bob, "I wave at Pip. Hello there!")
    ooc = await player_says(running, chan, world.bob, "(( brb, door ))")

    stores = running.core.stores
    proxy_turn = await stores.turns.by_message_id(int(proxied["id"]))
    assert proxy_turn is not None and proxy_turn.role == "user"
    assert proxy_turn.speaker == "Proxy Name" and proxy_turn.author_id is None
    bob_turn = await stores.turns.by_message_id(int(said["id"]))
    assert bob_turn is not None and bob_turn.speaker == "Bob"  # no character: display name
    assert await stores.turns.by_message_id(int(ooc["id"])) is not None

    await fake.edit_user_message(chan, int(said["id"]), "I wave at Pip. Welcome back!")
    await running.probe.handled("edit", said["id"])
    edited = await stores.turns.get(bob_turn.id)
    assert edited.content == "I wave at Pip. Welcome back!" and edited.edited
    assert edited.swipes == ["I wave at Pip. Welcome back!"]

    await fake.delete_user_message(chan, int(proxied["id"]))
    await running.probe.handled("delete", proxied["id"])
    assert (await stores.turns.get(proxy_turn.id)).deleted
    assert not (await stores.turns.get(bob_turn.id)).deleted

    assert running.bot.tavern.sessions.rounds_started == rounds  # manual mode: nobody answers
    assert npc_posts(fake, chan) == []


async def test_scene_clear_asks_first(world: World) -> None:
    fake, running, gm = world.fake, world.running, world.gm
    chan = world.channels["side-room"]
    count = await running.core.stores.turns.count((await running.scene(chan)).id)
    assert count > 0

    asked = await command(fake, "scene", "clear", user_id=gm, channel_id=chan)
    assert is_ephemeral(asked) and f"Delete all {count} turns" in asked["content"]
    scene = await running.scene(chan)
    assert custom_ids(asked) == [f"tk:clear:{scene.id}"]
    assert await running.core.stores.turns.count(scene.id) == count  # nothing happens yet

    refused = await click(
        fake, asked["id"], f"tk:clear:{scene.id}", user_id=world.bob, channel_id=chan
    )
    _assert_short_ephemeral(refused, "Only a GM")
    assert await running.core.stores.turns.count(scene.id) == count

    assert len(await running.turns(chan)) > count  # the deleted proxy turn goes as well
    cleared = await click(fake, asked["id"], f"tk:clear:{scene.id}", user_id=gm, channel_id=chan)
    assert cleared["content"] == f"Cleared {count} turns."  # the number the question named
    assert await running.core.stores.turns.count(scene.id) == 0
    assert await running.turns(chan) == []
    # The other scene is untouched.
    assert await running.core.stores.turns.count((await running.scene(fake.channel_id)).id) > 0


# ------------------------------------------------------------------------------ threads


async def test_scene_in_a_thread_posts_through_the_parent_webhook(world: World) -> None:
    fake, running, gm = world.fake, world.running, world.gm
    thread, parent = fake.thread_id, fake.channel_id
    await command(fake, "scene", "start", user_id=gm, channel_id=thread)
    since = len(fake.messages)
    await command(fake, "scene", "add", user_id=gm, channel_id=thread, options={"npc": WICK})
    await command(fake, "scene", "add", user_id=gm, channel_id=thread, options={"npc": MARTA})
    await command(
        fake, "scene", "settings", user_id=gm, channel_id=thread, options={"max_replies": 1}
    )
    await player_says(running, thread, world.bob, "Old Wick, tell me about the storm.")

    posts = npc_posts(fake, thread, since)
    assert len(posts) >= 2  # the greeting and at least one answer
    assert posts[0]["content"] == WICK_CARD["data"]["first_mes"]
    hook_ids = {int(h["id"]) for h in fake.webhooks.values() if int(h["channel_id"]) == parent}
    assert {int(p["webhook_id"]) for p in posts} <= hook_ids and len(hook_ids) == 1
    assert all(p["thread_id"] == thread for p in posts)
    executions = [e for e in fake.webhook_executions if e["query"].get("thread_id")]
    assert len(executions) == len(posts)
    assert {e["query"]["thread_id"] for e in executions} == {str(thread)}
    turns = await running.turns(thread)
    assert [t.message_ids for t in turns if t.role == "model"] == [[int(p["id"])] for p in posts]
    assert npc_posts(fake, parent, since) == []  # nothing leaked into the parent channel
    await settle(running, posts)


# ------------------------------------------------------------------------------ long texts


def long_text() -> str:
    """About 4,500 characters in paragraphs of sentences."""
    sentence = "The tide came in over the old stones while the lamps burned low. "
    paragraph = (sentence * 9).strip()
    return "\n\n".join(f"{i}. {paragraph}" for i in range(7))


async def test_long_turns_are_split_over_several_messages(world: World) -> None:
    fake, running, gm = world.fake, world.running, world.gm
    chan = world.channels["archive"]
    greeting = long_text()
    card = {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": "Chronicler",
            "description": "Keeps the harbor records.",
            "first_mes": greeting,
        },
    }
    await command(
        fake,
        "npc",
        "create",
        user_id=gm,
        channel_id=chan,
        attachments={"card": ("chronicler.json", json.dumps(card).encode())},
    )
    await command(fake, "scene", "start", user_id=gm, channel_id=chan)
    await command(fake, "scene", "add", user_id=gm, channel_id=chan, options={"npc": "Chronicler"})
    posts = npc_posts(fake, chan)
    assert len(posts) == 3
    assert all(len(p["content"]) <= 2000 for p in posts)
    assert all(p["username"] == "Chronicler" for p in posts)
    assert " ".join(p["content"] for p in posts).split() == greeting.split()
    # Cut at paragraph boundaries: every message starts a numbered paragraph.
    assert all(p["content"][0].isdigit() and p["content"][1:3] == ". " for p in posts)
    [turn] = await running.turns(chan)
    assert turn.content == greeting  # one turn, posted as several messages
    assert turn.message_ids == [int(p["id"]) for p in posts]
    await settle(running, posts)


# ------------------------------------------------------------------------------ bad input


async def test_bad_input_gets_short_ephemeral_errors(world: World) -> None:
    fake, gm, chan = world.fake, world.gm, world.fake.channel_id
    big = "**Age**: 30 **Biography**: " + "A very long life story. " * 400

    for options, attachments in (
        ({"name": "Huge", "sheet": big}, None),
        ({"name": "Huge"}, {"card": ("huge.txt", big.encode())}),
    ):
        answered = await command(
            fake,
            "character",
            "create",
            user_id=world.bob,
            channel_id=chan,
            options=options,
            attachments=attachments,
        )
        _assert_short_ephemeral(answered, "the limit is 8,000")

    for filename, blob, expected in (
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 50, "corrupt"),
        ("plain.png", card_png({})[:60], "corrupt"),
        ("card.json", b'{"spec": "chara_card_v2", "data": ', "not valid JSON"),
        ("notes.exe", b"MZ", ".png or .json"),
    ):
        answered = await command(
            fake,
            "npc",
            "create",
            user_id=gm,
            channel_id=chan,
            attachments={"card": (filename, blob)},
        )
        _assert_short_ephemeral(answered, expected)

    unknown = await command(
        fake, "scene", "add", user_id=gm, channel_id=chan, options={"npc": "Nobody Atall"}
    )
    _assert_short_ephemeral(unknown, "No NPC named 'Nobody Atall'")

    nowhere = fake.other_channel_id
    for name, subcommand, user, options in (
        ("reply", None, world.alice, None),
        ("scene", "prompt", gm, None),
        ("scene", "add", gm, {"npc": MARTA}),
        ("character", "create", world.bob, {"name": "Bad: Name", "sheet": "**Age**: 30"}),
    ):
        answered = await command(
            fake, name, subcommand, user_id=user, channel_id=nowhere, options=options
        )
        _assert_short_ephemeral(answered)
    assert (
        "There is no scene"
        in (await command(fake, "reply", user_id=world.alice, channel_id=nowhere))["content"]
    )
    assert await world.running.core.stores.scenes.by_channel(nowhere) is None

    # Without a sheet the form opens; a bad name typed into it is refused the same way.
    handle = await fake.slash("character", subcommand="create", user_id=world.bob, channel_id=chan)
    form = await handle.response()
    assert form["type"] == 9
    name_id, sheet_id = (row["components"][0]["custom_id"] for row in form["data"]["components"])
    submitted = await fake.submit_modal(
        form["data"]["custom_id"],
        {name_id: "Bad: Name", sheet_id: "**Age**: 30"},
        user_id=world.bob,
        channel_id=chan,
    )
    _assert_short_ephemeral(await answer_of(fake, submitted), "cannot contain ':'")
    characters = world.running.core.stores.characters
    assert await characters.list_player_characters(fake.guild_id, world.bob) == []


# ------------------------------------------------------------------------------ run last


async def test_nothing_pings_and_no_traceback_reached_discord(world: World) -> None:
    """Over everything the module did: no mentions allowed, no tracebacks, no unknown routes."""
    fake = world.fake
    await world.running.idle()
    assert fake.webhook_executions
    assert {m["source"] for m in fake.messages} >= {"webhook", "interaction", "user"}
    assert_no_pings_or_tracebacks(fake)


async def test_avatar_link_is_kept_and_checked(world: World) -> None:
    fake, gm, chan = world.fake, world.gm, world.fake.channel_id
    link = "https://images.example.org/linka.png"
    created = await command(
        fake,
        "npc",
        "create",
        user_id=gm,
        channel_id=chan,
        options={"name": "Linka", "sheet": "**Age**: 3", "avatar_link": link},
    )
    assert "Created NPC **Linka**" in created["content"]
    npc = await world.running.core.stores.characters.find_npc(fake.guild_id, "Linka")
    assert npc is not None and npc.avatar_url == link
    refused = await command(
        fake,
        "npc",
        "edit",
        user_id=gm,
        channel_id=chan,
        options={"name": "Linka", "avatar_link": "http://insecure.example.org/a.png"},
    )
    _assert_short_ephemeral(refused, "https://")
    npc = await world.running.core.stores.characters.find_npc(fake.guild_id, "Linka")
    assert npc is not None and npc.avatar_url == link
