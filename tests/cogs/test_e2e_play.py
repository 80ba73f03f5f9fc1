"""End to end: GMs build scenes, players post, NPCs answer through webhooks, buttons work.

One bot (real discord.py, real store, real demo model) runs for the whole module against the
loopback fake Discord, for speed. Every test still stands alone and passes in any order: it
opens its own channel (`cast_scene`/`open_scene`), creates its own NPCs under names no other
test uses (NPC names are unique per guild), and makes its own round before pressing a button.
After each test, everything it sent to Discord is checked for pings, tracebacks and unknown
routes (the autouse `world` fixture).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from tests.e2e import (
    NO_MENTIONS,
    Mark,
    Npc,
    Running,
    answer_of,
    assert_no_pings_or_tracebacks,
    attachment_text,
    card_png,
    cast_scene,
    click,
    command,
    create_npc,
    custom_ids,
    e2e_settings,
    fake_discord,
    is_ephemeral,
    npc_posts,
    open_scene,
    player_says,
    settle,
    start_bot,
    stop_bot,
)
from tests.fake_discord import FakeDiscord

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

OTHER_BOT_ID = 710000000000000001
CAROL_ID = 710000000000000002
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


def harbor_card(name: str, greeting: str | None = None) -> dict[str, Any]:
    """A V2 card like Old Wick's, for an NPC called `name`."""
    data = {
        **WICK_CARD["data"],
        "name": name,
        "first_mes": greeting or f"*{name} looks up from the net.* Storm coming, mark my words.",
    }
    return {**WICK_CARD, "data": data}


def card_npc(name: str, greeting: str | None = None) -> Npc:
    """An NPC from a PNG card: it greets the scene when cast and the card is its avatar."""
    return Npc(name, card=harbor_card(name, greeting))


def sheet_npc(name: str) -> Npc:
    """An NPC from a harbormaster-like sheet, without a greeting."""
    return Npc(name, sheet=MARTA_SHEET)


class World:
    """The module's bot and fake, with the members tests act as."""

    def __init__(self, running: Running) -> None:
        self.running = running
        self.fake = running.fake
        self.gm = self.fake.admin_id
        self.alice, self.bob = self.fake.player_ids
        self.carol = CAROL_ID


def _add_members(fake: FakeDiscord) -> None:
    fake.add_member(OTHER_BOT_ID, "otherbot", bot=True)
    fake.add_member(CAROL_ID, "carol")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    db = tmp_path_factory.mktemp("e2e-play") / "bot.db"
    async for fake in fake_discord(_add_members):
        running = await start_bot(fake, e2e_settings(fake, db))
        try:
            yield running
        finally:
            await stop_bot(running)


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def world(module_bot: Running) -> AsyncIterator[World]:
    """The shared bot, idle at the start and end of every test, with no ping in between.

    Autouse, so no test escapes the check after it. Only what this test sent is checked,
    so a leak is reported by the test that caused it.
    """
    await module_bot.idle()
    mark = Mark.now(module_bot.fake)
    yield World(module_bot)
    await module_bot.idle()
    assert_no_pings_or_tracebacks(module_bot.fake, mark)


def _assert_short_ephemeral(message: dict[str, Any], *expected: str) -> None:
    assert is_ephemeral(message), message["content"]
    assert 0 < len(message["content"]) <= 200, message["content"]
    for text in expected:
        assert text in message["content"]
    assert "Traceback" not in message["content"]


def _last_npc_message(world: World, channel_id: int) -> tuple[dict[str, Any], int]:
    """The NPC message in the channel carrying the buttons, and its turn id."""
    for message in reversed(npc_posts(world.fake, channel_id)):
        ids = custom_ids(message)
        if ids and not message["deleted"]:
            turn_id = int(ids[0].rsplit(":", 1)[1])
            return message, turn_id
    raise AssertionError("no NPC message carries buttons")


async def _npc_answered(world: World, name: str, npc: str) -> tuple[int, dict[str, Any], int]:
    """A fresh scene with `npc` where Alice spoke and `npc` answered.

    Returns the channel, the NPC message carrying the buttons and its turn id.
    """
    fake = world.fake
    chan = await cast_scene(world.running, name, (sheet_npc(npc),), max_replies=1)
    since = len(fake.messages)
    await player_says(world.running, chan, world.alice, f"{npc}, why are the harbor lamps out?")
    posts = npc_posts(fake, chan, since)
    assert [p["username"] for p in posts] == [npc], "the NPC did not answer"
    await settle(world.running, posts)
    message, turn_id = _last_npc_message(world, chan)
    assert message["id"] == posts[-1]["id"]
    return chan, message, turn_id


# ------------------------------------------------------------------------------ commands


async def test_commands_sync(world: World) -> None:
    commands = world.fake.commands
    assert {"character", "npc", "scene", "reply", "config"} <= set(commands)

    def subcommands(name: str) -> set[str]:
        return {o["name"] for o in commands[name]["options"] if o["type"] == 1}

    assert subcommands("character") == {"create", "edit", "delete", "list", "show", "use"}
    npc = {"create", "edit", "delete", "list", "show", "export", "tell", "settings"}
    assert subcommands("npc") == npc
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
    made = await create_npc(fake, Npc(WICK, card=WICK_CARD), channel_id=chan)
    _assert_short_ephemeral(made, "Old Wick", "card")
    made = await create_npc(fake, Npc(MARTA, sheet=MARTA_SHEET), channel_id=chan)
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
    assert wick.avatar_url and urlsplit(wick.avatar_url).path.endswith("old-wick.png")  # the card
    marta = await characters.find_npc(fake.guild_id, MARTA)
    assert marta is not None and marta.greeting is None and marta.card_json is None
    assert "Harbormaster" in marta.sheet and "**Character Name**: Marta" in marta.sheet

    exported = await command(
        fake, "npc", "export", user_id=gm, channel_id=chan, options={"name": WICK}
    )
    filename, text = attachment_text(exported)
    assert filename == "old-wick.json" and '"creator_notes": "kept verbatim"' in text

    # Autocomplete matches substrings: no other NPC of this module has "ol" in its name.
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
    # (No other test of this module sets the GM role.)
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
    fake, running = world.fake, world.running
    hesper, maren = card_npc("Hesper"), sheet_npc("Maren")
    # At most two NPC turns a round keeps the demo model's share of the suite small.
    cast = await open_scene(running, "greetings", (hesper, maren), max_replies=2)
    chan = cast.channel_id
    assert not is_ephemeral(cast.started) and "Scene started" in cast.started["content"]
    assert cast.changed is not None and "max_replies = 2" in cast.changed["content"]
    assert all("joined the scene" in added["content"] for added in cast.added)

    [greeting] = cast.posts  # Maren has no greeting
    assert greeting["username"] == "Hesper"
    assert hesper.card is not None
    assert greeting["content"] == hesper.card["data"]["first_mes"]
    assert greeting["avatar_url"] and urlsplit(greeting["avatar_url"]).path.endswith("hesper.png")
    assert npc_posts(fake, chan) == [greeting]

    scene = await running.scene(chan)
    assert [c.name for c in await running.core.stores.scenes.cast(scene.id)] == [
        "Hesper",
        "Maren",
    ]
    [turn] = await running.turns(chan)
    assert (turn.role, turn.speaker, turn.content) == ("model", "Hesper", greeting["content"])
    assert turn.message_ids == [int(greeting["id"])]

    status = await command(fake, "scene", "status", user_id=world.gm, channel_id=chan)
    assert "Hesper, Maren" in status["content"]


async def test_player_posts_and_npcs_answer_through_the_webhook(world: World) -> None:
    fake, running, alice = world.fake, world.running, world.alice
    cast = (card_npc("Corwin"), sheet_npc("Dagny"))
    chan = await cast_scene(running, "lamps", cast, max_replies=2)
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
        running, chan, alice, "Dagny, the harbor lamps went dark. What happened?"
    )
    posts = npc_posts(fake, chan, since)
    assert posts, "no NPC answered"
    assert {p["username"] for p in posts} <= {"Corwin", "Dagny"}
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
    fake, running = world.fake, world.running
    # Ferrin greets through the webhook, so the channel has one; any player line would
    # start a round in this scene.
    chan = await cast_scene(running, "beeps", (card_npc("Ferrin"),), max_replies=2)
    scheduler = running.bot.tavern.sessions
    await settle(running, npc_posts(fake, chan))  # the bot has seen all of its own posts
    rounds, hooks = scheduler.rounds_started, len(fake.webhook_executions)
    count = len(await running.turns(chan))
    assert count == 1  # the greeting

    other = await player_says(running, chan, OTHER_BOT_ID, "Ferrin! Beep boop, answer me.")
    assert await running.core.stores.turns.by_message_id(int(other["id"])) is None
    # Even a message posted through our own webhook by someone else is not a turn.
    own_hook = int(npc_posts(fake, chan)[-1]["webhook_id"])
    echo = await player_says(
        running, chan, 0, "Ferrin, are you there?", webhook_id=own_hook, username="Ferrin"
    )
    assert await running.core.stores.turns.by_message_id(int(echo["id"])) is None

    assert scheduler.rounds_started == rounds
    assert len(fake.webhook_executions) == hooks
    assert len(await running.turns(chan)) == count


async def test_reply_as_a_named_npc(world: World) -> None:
    fake, running = world.fake, world.running
    # Manual mode: only /reply makes the NPCs speak. Alice's line makes her a participant.
    chan = await cast_scene(
        running,
        "reply-as",
        (sheet_npc("Gisla"), sheet_npc("Hendry")),
        max_replies=1,
        reply_mode="manual",
    )
    await player_says(running, chan, world.alice, "Anyone awake in here?")
    assert npc_posts(fake, chan) == []

    since = len(fake.messages)
    answered = await command(
        fake, "reply", user_id=world.alice, channel_id=chan, options={"as": "Hendry"}
    )
    _assert_short_ephemeral(answered, "Hendry")
    await running.idle()
    posts = npc_posts(fake, chan, since)
    assert posts and posts[0]["username"] == "Hendry"
    await settle(running, posts)


async def test_swipe_regenerates_in_place(world: World) -> None:
    fake, running = world.fake, world.running
    chan, message, turn_id = await _npc_answered(world, "swipe", "Hask")
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
    fake, running = world.fake, world.running
    chan, message, turn_id = await _npc_answered(world, "continue", "Ivo")
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
    fake, running = world.fake, world.running
    chan, message, turn_id = await _npc_answered(world, "delete", "Jory")
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
    fake, running, carol = world.fake, world.running, world.carol
    chan = await cast_scene(running, "records", (sheet_npc("Kestrel"),), max_replies=1)
    made = await command(
        fake,
        "character",
        "create",
        user_id=carol,
        channel_id=chan,
        options={"sheet": TAMSIN_SHEET},
    )
    _assert_short_ephemeral(made, "Tamsin")
    line = "Kestrel, the harbor lamps went dark. What happened?"
    since = len(fake.messages)
    await player_says(running, chan, carol, line)
    await settle(running, npc_posts(fake, chan, since))
    # A deleted turn is in neither file.
    aside = await player_says(running, chan, carol, "(( sorry, wrong window ))")
    await fake.delete_user_message(chan, int(aside["id"]))
    await running.probe.handled("delete", aside["id"])
    assert any(t.deleted for t in await running.turns(chan))

    prompt = await command(fake, "scene", "prompt", user_id=world.gm, channel_id=chan)
    assert is_ephemeral(prompt) and "tokens" in prompt["content"]
    filename, text = attachment_text(prompt)
    assert filename == "prompt.txt"
    assert text.startswith("[INST]system\n")
    assert "Tamsin" in text and "the harbor lamps went dark" in text
    assert "wrong window" not in text

    exported = await command(fake, "scene", "export", user_id=world.gm, channel_id=chan)
    filename, transcript = attachment_text(exported)
    assert filename == "transcript.txt"
    visible = await running.turns(chan, include_deleted=False)
    assert transcript == "\n\n".join(f"{t.speaker}: {t.content}" for t in visible) + "\n"
    assert f"Tamsin: {line}" in transcript
    assert "wrong window" not in transcript

    refused = await command(fake, "scene", "export", user_id=world.alice, channel_id=chan)
    _assert_short_ephemeral(refused, "Only a GM")


# ------------------------------------------------------------------------------ proxies, edits


async def test_proxy_messages_edits_and_deletes(world: World) -> None:
    fake, running = world.fake, world.running
    cast = await open_scene(running, "side-room", (), reply_mode="manual")
    chan = cast.channel_id
    assert cast.changed is not None and "reply_mode = manual" in cast.changed["content"]
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
    chan = await cast_scene(running, "to-clear", (), reply_mode="manual")
    other = await cast_scene(running, "to-keep", (), reply_mode="manual")
    await player_says(running, chan, world.bob, "I sweep the floor.")
    await player_says(running, chan, world.bob, "(( brb ))")
    proxied = await player_says(
        running, chan, 0, "*Pip waves.*", webhook_id=PROXY_WEBHOOK_ID, username="Proxy Name"
    )
    await fake.delete_user_message(chan, int(proxied["id"]))
    await running.probe.handled("delete", proxied["id"])
    await player_says(running, other, world.bob, "Meanwhile, next door.")

    scene = await running.scene(chan)
    count = await running.core.stores.turns.count(scene.id)
    assert count > 0

    asked = await command(fake, "scene", "clear", user_id=gm, channel_id=chan)
    assert is_ephemeral(asked) and f"Delete all {count} turns" in asked["content"]
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
    assert await running.core.stores.turns.count((await running.scene(other)).id) > 0


# ------------------------------------------------------------------------------ threads


async def test_scene_in_a_thread_posts_through_the_parent_webhook(world: World) -> None:
    # The fake's one thread lives in its "roleplay" channel; no other test plays in either.
    fake, running = world.fake, world.running
    thread, parent = fake.thread_id, fake.channel_id
    since, hooks_before = len(fake.messages), len(fake.webhook_executions)
    lanthorn = card_npc("Lanthorn")
    await open_scene(
        running, "thread", (lanthorn, sheet_npc("Mabry")), channel_id=thread, max_replies=1
    )
    await player_says(running, thread, world.bob, "Lanthorn, tell me about the storm.")

    posts = npc_posts(fake, thread, since)
    assert len(posts) >= 2  # the greeting and at least one answer
    assert lanthorn.card is not None
    assert posts[0]["content"] == lanthorn.card["data"]["first_mes"]
    hook_ids = {int(h["id"]) for h in fake.webhooks.values() if int(h["channel_id"]) == parent}
    assert {int(p["webhook_id"]) for p in posts} <= hook_ids and len(hook_ids) == 1
    assert all(p["thread_id"] == thread for p in posts)
    executions = fake.webhook_executions[hooks_before:]
    assert len(executions) == len(posts)
    assert {e["query"].get("thread_id") for e in executions} == {str(thread)}
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
    running = world.running
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
    cast = await open_scene(running, "archive", (Npc("Chronicler", card=card, card_format="json"),))
    posts = cast.posts
    assert npc_posts(world.fake, cast.channel_id) == posts
    assert len(posts) == 3
    assert all(len(p["content"]) <= 2000 for p in posts)
    assert all(p["username"] == "Chronicler" for p in posts)
    assert " ".join(p["content"] for p in posts).split() == greeting.split()
    # Cut at paragraph boundaries: every message starts a numbered paragraph.
    assert all(p["content"][0].isdigit() and p["content"][1:3] == ". " for p in posts)
    [turn] = await running.turns(cast.channel_id)
    assert turn.content == greeting  # one turn, posted as several messages
    assert turn.message_ids == [int(p["id"]) for p in posts]


# ------------------------------------------------------------------------------ bad input


async def test_bad_input_gets_short_ephemeral_errors(world: World) -> None:
    fake, gm = world.fake, world.gm
    chan = await cast_scene(world.running, "bad-input", ())
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

    nowhere = fake.other_channel_id  # no test of this module starts a scene there
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
    # No test of this module gives Bob a character: none of the refused ones was made.
    characters = world.running.core.stores.characters
    assert await characters.list_player_characters(fake.guild_id, world.bob) == []


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


# ------------------------------------------------------------------------------ no pings


async def test_nothing_pings_and_no_traceback_reached_discord(world: World) -> None:
    """The check run after every test sees webhook posts, interaction answers, user messages.

    (`world` runs it again over this test when it ends.)
    """
    fake, running = world.fake, world.running
    mark = Mark.now(fake)
    greeting = "*Pell bangs the bell.* @everyone, to the quay!"
    chan = await cast_scene(running, "bell", (card_npc("Pell", greeting),), max_replies=1)
    await player_says(running, chan, world.alice, "(( @everyone look ))")
    await running.idle()
    assert fake.webhook_executions[mark.webhook_executions :]
    assert {m["source"] for m in fake.messages[mark.messages :]} >= {
        "webhook",
        "interaction",
        "user",
    }
    [posted] = npc_posts(fake, chan)
    assert posted["content"] == greeting and not posted["mention_everyone"]
    assert_no_pings_or_tracebacks(fake, mark)

    # The check can fail: a message that allowed @everyone is caught.
    pinged = {**posted, "allowed_mentions": {"parse": ["everyone"]}, "mention_everyone": True}
    leaky = SimpleNamespace(webhook_executions=[], messages=[pinged], unknown_routes=[])
    with pytest.raises(AssertionError):
        assert_no_pings_or_tracebacks(leaky)  # type: ignore[arg-type]
