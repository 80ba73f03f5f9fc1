"""End to end: /scene pause and resume, /scene mute and unmute, through the real discord.py client.

Pause and resume run on the demo model. Mute runs on the scripted engine: its chooser names the
muted NPC every time, which no model can be made to do, and the muted NPC must still not speak.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import (
    Npc,
    Running,
    assert_no_pings_or_tracebacks,
    cast_scene,
    command,
    e2e_settings,
    fake_discord,
    is_ephemeral,
    npc_posts,
    player_says,
    start_bot,
    stop_bot,
)
from tests.scripted_engine import ScriptedEngine


@pytest.mark.model
async def test_pause_keeps_posts_silences_npcs_and_resume_answers_them(tmp_path: Path) -> None:
    async for fake in fake_discord():
        running = await start_bot(fake, e2e_settings(fake, tmp_path / "b.db", max_new_tokens=24))
        try:
            await _pause_then_resume(running)
        finally:
            await stop_bot(running)


async def _pause_then_resume(running: Running) -> None:
    fake = running.fake
    alice, gm = fake.player_ids[0], fake.admin_id
    chan = await cast_scene(running, "pause", (Npc("Marta"),), max_replies=1)
    await player_says(running, chan, alice, "Evening, Marta.")  # answered: Alice plays here
    since = len(fake.messages)

    paused = await command(fake, "scene", "pause", user_id=gm, channel_id=chan)
    assert paused["content"].startswith("Scene paused") and not is_ephemeral(paused)
    for text in ("Marta? Are you listening?", "She is staring at the door."):
        await player_says(running, chan, alice, text)
    assert npc_posts(fake, chan, since) == []
    stored = [t.content for t in await running.turns(chan)]
    assert stored[-2:] == ["Marta? Are you listening?", "She is staring at the door."]

    refused = await command(fake, "reply", user_id=alice, channel_id=chan)
    assert is_ephemeral(refused) and "paused" in refused["content"]
    assert "\n" not in refused["content"]
    status = await command(fake, "scene", "status", user_id=gm, channel_id=chan)
    assert status["content"].startswith("**Paused**")

    resumed = await command(fake, "scene", "resume", user_id=gm, channel_id=chan)
    assert "answer what was posted" in resumed["content"] and not is_ephemeral(resumed)
    await running.idle()
    assert [p["username"] for p in npc_posts(fake, chan, since)] == ["Marta"]
    assert (await running.turns(chan))[-1].speaker == "Marta"

    # Nothing waits any more: resuming again runs no round.
    since = len(fake.messages)
    await command(fake, "scene", "pause", user_id=gm, channel_id=chan)
    resumed = await command(fake, "scene", "resume", user_id=gm, channel_id=chan)
    assert resumed["content"] == "Scene resumed."
    await running.idle()
    assert npc_posts(fake, chan, since) == []
    assert_no_pings_or_tracebacks(fake)


async def test_a_muted_npc_speaks_only_when_named(tmp_path: Path) -> None:
    # The scripted chooser names Tobin every time it is asked.
    engine = ScriptedEngine(speakers=["Tobin:"] * 20)
    async for fake in fake_discord():
        running = await start_bot(fake, e2e_settings(fake, tmp_path / "b.db"), engine=engine)
        try:
            await _mute(running, engine)
        finally:
            await stop_bot(running)


async def _mute(running: Running, engine: ScriptedEngine) -> None:
    fake = running.fake
    alice, gm = fake.player_ids[0], fake.admin_id
    chan = await cast_scene(running, "mute", (Npc("Marta"), Npc("Rook"), Npc("Tobin")))
    muted = await command(
        fake, "scene", "mute", user_id=gm, channel_id=chan, options={"npc": "Tobin"}
    )
    assert is_ephemeral(muted) and "muted" in muted["content"]
    since = len(fake.messages)

    for text in ("Good evening, everyone.", "Anything to drink here?", "Quiet night."):
        await player_says(running, chan, alice, text)
    speakers = [p["username"] for p in npc_posts(fake, chan, since)]
    assert len(speakers) == 3 and "Tobin" not in speakers
    assert engine.of_kind("speaker")  # the chooser was asked, and named Tobin, in vain

    since = len(fake.messages)
    await player_says(running, chan, alice, "Tobin, you look worried.")
    await command(fake, "reply", user_id=alice, channel_id=chan, options={"as": "Tobin"})
    await running.idle()
    assert [p["username"] for p in npc_posts(fake, chan, since)] == ["Tobin", "Tobin"]

    status = await command(fake, "scene", "status", user_id=gm, channel_id=chan)
    assert "**Muted** Tobin" in status["content"]
    unknown = await command(
        fake, "scene", "mute", user_id=gm, channel_id=chan, options={"npc": "Nobody"}
    )
    assert unknown["content"] == "Nobody is not in this scene's cast." and is_ephemeral(unknown)
    unmuted = await command(
        fake, "scene", "unmute", user_id=gm, channel_id=chan, options={"npc": "Tobin"}
    )
    assert "unmuted" in unmuted["content"]

    since = len(fake.messages)
    await player_says(running, chan, alice, "Well?")
    assert [p["username"] for p in npc_posts(fake, chan, since)] == ["Tobin"]
    assert_no_pings_or_tracebacks(fake)
