"""End to end: /lore and /scene lore with the real bot, store and demo model.

One bot runs for the module against the loopback fake Discord; every test opens its own
channel, and what each test sent is checked for pings and tracebacks after it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e import (
    Npc,
    Running,
    answer_of,
    cast_scene,
    checked_test,
    command,
    is_ephemeral,
    module_bot,
    player_says,
)

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

REEF = "The Teeth is a reef of black rock across the harbor mouth; @everyone fears it."
WORLD_INFO = {
    "entries": {
        "0": {"uid": 0, "key": ["Teeth"], "content": REEF, "comment": "The Teeth", "position": 1},
        "1": {"uid": 1, "key": ["abbess"], "content": "The tithe ship.", "comment": "Abbess"},
    }
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    db = tmp_path_factory.mktemp("e2e-lore") / "bot.db"
    async for bot in module_bot(db, max_new_tokens=16):
        yield bot


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def checked(running: Running) -> AsyncIterator[None]:
    async for _ in checked_test(running):
        yield


def files_of(message: dict[str, Any]) -> dict[str, str]:
    return {a["filename"]: bytes(a["data"]).decode() for a in message["attachments"]}


async def test_an_imported_book_attached_to_a_scene_fires_in_the_next_prompt(
    running: Running,
) -> None:
    fake, gm = running.fake, running.fake.admin_id
    chan = await cast_scene(running, "lore-prompt", [Npc("Harbormaster")], reply_mode="manual")
    blob = json.dumps(WORLD_INFO).encode()
    imported = await command(
        fake,
        "lore",
        "import",
        user_id=gm,
        channel_id=chan,
        attachments={"file": ("harbor-lore.json", blob)},
    )
    assert is_ephemeral(imported)
    assert imported["content"].startswith("Imported lorebook **harbor-lore** (2 entries).")
    handle = await fake.slash(
        "scene",
        subcommand="add",
        group="lore",
        user_id=gm,
        channel_id=chan,
        options={"book": "harbor-lore"},
    )
    attached = await answer_of(fake, handle)
    assert attached["content"] == "This scene now reads lorebook **harbor-lore**."

    await player_says(running, chan, fake.player_ids[0], "We row out past the Teeth.")
    prompt = await command(fake, "scene", "prompt", user_id=gm, channel_id=chan)
    assert is_ephemeral(prompt)
    assert REEF in files_of(prompt)["prompt.txt"]
    assert 'harbor-lore › The Teeth: key "Teeth"' in prompt["content"]
    assert "Abbess" not in prompt["content"]


async def test_a_player_cannot_import_but_can_list_lorebooks(running: Running) -> None:
    fake = running.fake
    chan = await fake.open_channel("lore-player")
    player = fake.player_ids[0]
    refused = await command(
        fake,
        "lore",
        "import",
        user_id=player,
        channel_id=chan,
        attachments={"file": ("mine.json", json.dumps(WORLD_INFO).encode())},
    )
    assert is_ephemeral(refused) and len(refused["content"]) < 100
    assert refused["content"] == "Only a GM can do that (Manage Server or the GM role)."
    assert await running.core.stores.lore.find(fake.guild_id, "mine") is None
    listed = await command(fake, "lore", "list", user_id=player, channel_id=chan)
    assert is_ephemeral(listed) and "**mine**" not in listed["content"]


async def test_lore_add_without_content_opens_a_form_and_books_autocomplete(
    running: Running,
) -> None:
    fake, gm = running.fake, running.fake.admin_id
    chan = await fake.open_channel("lore-form")
    handle = await fake.slash(
        "lore",
        subcommand="add",
        user_id=gm,
        channel_id=chan,
        options={"book": "Bells", "keys": "bell"},
    )
    form = await handle.response()
    assert form["type"] == 9
    ids = [row["components"][0]["custom_id"] for row in form["data"]["components"]]
    keys, secondary, title, content = ids
    submitted = await fake.submit_modal(
        form["data"]["custom_id"],
        {keys: "bell, chime", secondary: "", title: "", content: "Two rings:\nthe tide turns."},
        user_id=gm,
        channel_id=chan,
    )
    created = await answer_of(fake, submitted)
    assert created["content"] == "Created lorebook **Bells** with entry #1 bell."
    choices = await fake.autocomplete(
        "lore", subcommand="show", user_id=gm, channel_id=chan, focused="book", value="bel"
    )
    assert [c["value"] for c in choices] == ["Bells"]
    shown = await command(
        fake, "lore", "show", user_id=gm, channel_id=chan, options={"book": "Bells", "entry": "1"}
    )
    assert shown["content"].endswith("Two rings:\nthe tide turns.")
    assert "Keys: bell, chime" in shown["content"]
