"""A round renders the turns it has not rendered before, and only those; the prompt is the same."""

from __future__ import annotations

import uuid

import pytest

from bot.names import plain_name
from bot.prompts import counted_turn_block, turn_block
from bot.store import Database
from tests.director.table_scene import table
from tests.scripted_engine import ScriptedEngine


async def test_the_next_prompt_builds_only_the_new_turn_s_block(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = await table(db, ScriptedEngine())
    for i in range(40):
        await t.post(f"Post {i} of a long evening at the harbor wall.")
    view = await t.view()
    fmt_class = type(view.fmt)
    original = fmt_class.turn_block
    built: list[str] = []

    def counting(self: object, turn: object) -> object:
        built.append(getattr(turn, "text"))  # noqa: B009 (the turn as the format gets it)
        return original(self, turn)  # type: ignore[arg-type]

    monkeypatch.setattr(fmt_class, "turn_block", counting)
    await t.director.build_prompt(view, "Marta Vell")
    new = f"A new post nobody has written before: {uuid.uuid4().hex}"
    await t.post(new)
    built.clear()
    cached = await t.director.build_prompt(view, "Marta Vell")
    assert [text for text in built if "nobody has written" in text] == [new]
    assert len(built) == 1  # counted and rendered from one block; the 40 older ones kept

    # Built from scratch, the prompt is the same.
    for cache in (turn_block, counted_turn_block, plain_name):
        cache.cache_clear()
    fresh = await t.director.build_prompt(view, "Marta Vell")
    assert fresh.rendered.prompt == cached.rendered.prompt
    assert len(built) > 40
