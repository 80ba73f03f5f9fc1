"""Lore in the real prompt, byte for byte in each format: placement, budget, OOC and macros."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.director import TurnDirector
from bot.domain import FORMAT_NAMES, LoreInsert, Persona, PromptContext, PromptTurn, Sampler
from bot.prompts import Prompt, get_format, render_prompt
from bot.scenes.views import SceneViews
from bot.store import Database, Scene, Stores
from tests.lore.helpers import book
from tests.prompts.test_injection import HOSTILE, _structure
from tests.scripted_engine import ScriptedEngine

HARBOR = book(
    {"keys": ["fog"], "content": "Fog hides the Teeth.", "position": "before_char"},
    {"keys": ["ledger"], "content": "{{char}} keeps the ledger for {{user}}."},
    {"keys": ["bell"], "content": "The bell tolls.", "position": "at_depth", "depth": 1},
    {"keys": ["gate"], "content": "Never seen.", "position": "before_char"},
    name="Harbor",
)


async def _scene(db: Database, fmt: str) -> tuple[Stores, Scene]:
    stores = Stores.over(db)
    scene = await stores.scenes.start(guild_id=1, channel_id=10, format=fmt)
    scene = await stores.scenes.update(scene.id, scenario="Night at {{char}}'s harbor.")
    marta = await stores.characters.create(
        guild_id=1, kind="npc", name="Marta", sheet="The harbormaster; {{user}} owes her."
    )
    rook = await stores.characters.create(
        guild_id=1, kind="player", name="Rook", owner_id=100, sheet="A smuggler called {{char}}."
    )
    await stores.scenes.add_cast(scene.id, marta.id)
    await stores.scenes.bind_player(scene.id, 100, rook.id)
    stored = await stores.lore.save_book(1, HARBOR)
    await stores.lore.attach(scene.id, stored.id)
    await stores.turns.append(
        scene.id, role="user", speaker="Rook", content="The fog rolls in. Ring the bell!"
    )
    await stores.turns.append(scene.id, role="user", speaker="Rook", content="((OOC: the gate?))")
    await stores.turns.append(
        scene.id, role="model", speaker="Marta", content="Check the ledger first."
    )
    return stores, scene


async def _prompt(db: Database, fmt: str) -> str:
    stores, scene = await _scene(db, fmt)
    director = TurnDirector(ScriptedEngine(), stores.turns)
    view = await SceneViews(stores, Sampler(seed=1)).view(scene)
    return (await director.build_prompt(view, "Marta")).rendered.text


GROUP_SYSTEM = (
    "You are involved in a multi-character internet-style roleplaying session with a human "
    "user, who is playing as Rook. Do not generate dialogue for the user's character, Rook. "
    "Focus on the other characters.\n"
    "[Lore]\n"
    "Fog hides the Teeth.\n"
    "[Human User]\n"
    "Rook\n"
    "Character Bio: A smuggler called Rook.\n"
    "[Involved Characters]\n"
    "Marta\n"
    "Character Bio: The harbormaster; Rook owes her.\n"
    "---\n"
    "[Lore]\n"
    "Marta keeps the ledger for Rook.\n"
    "[Scenario]\n"
    "Night at Marta's harbor.\n"
    "The roleplay begins now."
)


@pytest.mark.parametrize(
    ("fmt", "opens", "close"),
    [
        (
            "group-inst",
            {"system": "[INST]system\n", "user": "[INST]user\n", "model": "[INST]model\n"},
            "[/INST]",
        ),
        (
            "chatml",
            {
                "system": "<|im_start|>system\n",
                "user": "<|im_start|>user\n",
                "model": "<|im_start|>assistant\n",
            },
            "<|im_end|>",
        ),
    ],
)
async def test_group_formats_place_lore_around_the_characters_and_at_depth(
    db: Database, fmt: str, opens: dict[str, str], close: str
) -> None:
    assert await _prompt(db, fmt) == (
        f"{opens['system']}{GROUP_SYSTEM}{close}\n"
        f"{opens['user']}Rook: The fog rolls in. Ring the bell!{close}\n"
        f"{opens['system']}The bell tolls.{close}\n"
        f"{opens['model']}Marta: Check the ledger first.{close}\n"
        f"{opens['model']}Marta:"
    )


async def test_alpaca_places_lore_around_the_personas_and_at_depth(db: Database) -> None:
    assert await _prompt(db, "alpaca-limarp") == (
        "\n"
        "### Instruction:\n"
        "Fog hides the Teeth.\n"
        "\n"
        "Marta's Persona: The harbormaster; Rook owes her.\n"
        "\n"
        "Rook's Persona: A smuggler called Rook.\n"
        "\n"
        "Marta keeps the ledger for Rook.\n"
        "\n"
        "Scenario: Night at Marta's harbor.\n"
        "\n"
        "Play the role of Marta. You must engage in a roleplaying chat with Rook below this "
        "line. Do not write dialogues and narration for Rook.\n"
        "\n"
        "### Input:\n"
        "Rook: The fog rolls in. Ring the bell!\n"
        "\n"
        "### Input:\n"
        "The bell tolls.\n"
        "\n"
        "### Response:\n"
        "Marta: Check the ledger first.\n"
        "\n"
        "### Response:\n"
        "Marta:"
    )


async def test_lore_shrinks_the_history_and_the_prompt_stays_in_budget(db: Database) -> None:
    stores, scene = await _scene(db, "group-inst")
    for i in range(60):
        await stores.turns.append(
            scene.id, role="user", speaker="Rook", content=f"Turn {i}: fog and more fog " * 3
        )
    long = await stores.lore.save_book(1, book({"keys": ["fog"], "content": "Veil. " * 80}))
    await stores.lore.attach(scene.id, long.id)
    engine = ScriptedEngine(n_ctx=900)
    director = TurnDirector(engine, stores.turns, trim_step=1)
    view = await SceneViews(stores, Sampler(seed=1, max_tokens=100)).view(scene)
    with_lore = await director.build_prompt(view, "Marta")
    no_lore = replace(view, lore=replace(view.lore, sources=()))
    without = await director.build_prompt(no_lore, "Marta")
    assert with_lore.lore.fired and not without.lore.fired
    assert len(with_lore.history) < len(without.history)
    (tokens,) = await engine.count_many([with_lore.rendered.prompt])
    assert tokens <= 900 - 100
    assert with_lore.budget.used_tokens <= 900 - 100


async def test_the_budget_for_lore_is_at_most_half_of_what_the_sheets_leave(
    db: Database,
) -> None:
    stores, scene = await _scene(db, "group-inst")
    engine = ScriptedEngine(n_ctx=260)
    director = TurnDirector(engine, stores.turns, margin=0)
    view = await SceneViews(stores, Sampler(seed=1, max_tokens=100)).view(scene)
    plan = await director.build_prompt(view, "Marta")
    assert 0 < plan.lore.budget < 1024
    assert plan.lore.used <= plan.lore.budget
    assert plan.history  # the newest turns still fit


async def test_ooc_turns_are_not_scanned(db: Database) -> None:
    stores, scene = await _scene(db, "group-inst")
    director = TurnDirector(ScriptedEngine(), stores.turns)
    plan = await director.build_prompt(await SceneViews(stores, Sampler()).view(scene))
    assert "Never seen." not in plan.rendered.text  # "gate" only appears in an OOC turn
    assert {e.title for e in plan.lore.fired} == {"fog", "ledger", "bell"}


@pytest.mark.parametrize("fmt_name", FORMAT_NAMES)
@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_lore_at_depth_stays_one_plain_block(fmt_name: str, payload: str) -> None:
    fmt = get_format(fmt_name)
    turns = [PromptTurn("user", "Rook", "Hello.")]
    ctx = PromptContext(players=(), npcs=(Persona("Marta", "m"),))

    def rendered(text: str) -> Prompt:
        inserts = [LoreInsert(0, role, f"{text} lore") for role in ("system", "user", "assistant")]
        return render_prompt(fmt, ctx, turns, "Marta", inserts).prompt

    benign, hostile = rendered(""), rendered(payload)
    assert [s.text for s in hostile.segments if s.special] == [
        s.text for s in benign.segments if s.special
    ]
    assert _structure(hostile.text) == _structure(benign.text)
