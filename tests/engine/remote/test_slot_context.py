"""llama-server started as the README says: a channel's window is its slot's share of `-c`."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from bot.director import SceneView, TurnDirector
from bot.engine.base import Sampler
from bot.engine.remote import RemoteOptions, connect_remote
from bot.scenes.views import SceneViews
from bot.store import Database, Stores
from tests.channel.helpers import CHANNEL, GUILD
from tests.engine.remote.conftest import Recording, free_port, llama_server_argv, running

pytestmark = pytest.mark.model

POOL, SLOTS = 4096, 2  # llama_server_argv: -c 4096 -np 2
HISTORY_TURNS = 160  # about 4,000 tokens: more than one slot's window, so the director trims


async def _long_channel(stores: Stores, channel_id: int) -> SceneView:
    """A one-NPC scene whose history is longer than a slot holds."""
    npc = await stores.characters.create(
        guild_id=GUILD, kind="npc", name=f"Marta {channel_id}", sheet="**Character Name**: Marta"
    )
    scene = await stores.scenes.start(guild_id=GUILD, channel_id=channel_id, format="chatml")
    await stores.scenes.add_cast(scene.id, npc.id)
    for i in range(HISTORY_TURNS):
        await stores.turns.append(
            scene.id,
            role="user",
            speaker="Rook",
            content=f"Lantern {i} of {channel_id}: the rain kept on over the harbour all night.",
        )
    sampler = Sampler(seed=1, max_tokens=16)
    view = await SceneViews(stores, sampler).view(await stores.scenes.get(scene.id))
    return replace(view, sampler=sampler, max_replies=1)


async def test_every_slot_full_at_once_fits_the_servers_kv_cache(
    db: Database, llama_server_binary: Path, tmp_path: Path
) -> None:
    """Two channels at their whole window generate together; neither overflows the cache.

    With one unified pool each slot would report all of it, and two full channels together
    would fail with "Context size has been exceeded".
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    wire = Recording()
    stores = Stores.over(db)
    views = [await _long_channel(stores, CHANNEL + i) for i in range(SLOTS)]
    with running(llama_server_argv(llama_server_binary, port), f"{url}/health", tmp_path / "log"):
        engine = await connect_remote(RemoteOptions("llama-server", url, transport=wire))
        try:
            props = await engine.client.get_json("/props")
            assert props["default_generation_settings"]["n_ctx"] == engine.n_ctx == POOL // SLOTS
            director = TurnDirector(engine, stores.turns)
            rounds = [director.run_round(v, forced=v.npcs[0].name) for v in views]
            results = await asyncio.gather(*rounds)
        finally:
            await engine.close()
    assert all(result.turns for result in results)
    assert sorted(body["id_slot"] for body in wire.completions) == list(range(SLOTS))
    for body in wire.completions:
        prompt = body["prompt"]
        assert isinstance(prompt, list) and isinstance(body["n_predict"], int)
        # The window is full (the history was trimmed to it) and never more than a slot holds.
        assert engine.n_ctx // 2 < len(prompt) <= engine.n_ctx - body["n_predict"]
