"""A long campaign for recall tests: a fact planted thousands of turns back, on real stores."""

from __future__ import annotations

import random
from dataclasses import dataclass

import sqlalchemy as sa

from bot.director import SceneView, TurnDirector
from bot.domain import Sampler
from bot.engine.base import Completion
from bot.engine.llama import LlamaEngine
from bot.prompts import Prompt
from bot.recall.service import plug_recall
from bot.scenes.views import SceneViews
from bot.settings import load_settings
from bot.store import Database, Stores
from bot.store.models import Turn
from tests.scripted_engine import ScriptedEngine

FACT = "I hid the silver key under the third floorboard of the cellar."
QUESTION = "Mara, where did I hide the silver key?"
BELL = "The chapel bell was rung at midnight by a drowned priest."
MARA_SHEET = "**Character Name**: Mara\n**Occupation/Profession**: Innkeeper"
# Filler that never names the fact's telling words (silver, key, floorboard, cellar, hid).
_SUBJECTS = ("The rain", "A gull", "The fire", "Old Tobin", "The stew", "A wagon", "The tide")
_VERBS = ("drums on", "circles over", "crackles by", "grumbles at", "steams beside", "rolls past")
_OBJECTS = ("the roof", "the harbour", "the hearth", "the bar", "the window", "the lane")


def filler(count: int, seed: int = 7) -> list[str]:
    """`count` plain turns of harbour small talk, the same for the same seed."""
    rng = random.Random(seed)
    return [
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}, hour {n}."
        for n in range(count)
    ]


async def bulk_turns(db: Database, scene_id: int, texts: list[str], speaker: str = "Rook") -> None:
    """Store `texts` as history turns after the scene's last, in one statement.

    Far quicker than `TurnStore.append` per turn; the full-text triggers index them all the
    same. Witnessed by everyone (`all_witnessed`), as turns stored before presence existed.
    """
    if not texts:
        return
    async with db.session() as s:
        last = await s.scalar(sa.select(sa.func.max(Turn.seq)).where(Turn.scene_id == scene_id))
        rows = [
            {
                "scene_id": scene_id,
                "seq": (last or 0) + 1 + n,
                "role": "user",
                "speaker": speaker,
                "content": text,
                "swipes": [text],
                "all_witnessed": True,
            }
            for n, text in enumerate(texts)
        ]
        await s.execute(sa.insert(Turn), rows)
        await s.commit()


@dataclass
class Campaign:
    """A scene with Rook (a player), Mara (in the cast from the start) and Ivo (joined late)."""

    db: Database
    stores: Stores
    scene_id: int
    ids: dict[str, int]
    fact_id: int = 0

    async def say(self, speaker: str, text: str, **kwargs: object) -> int:
        """A turn by one of the characters, witnessed by whoever is present; its id."""
        turn = await self.stores.turns.append(
            self.scene_id,
            role="model" if speaker in ("Mara", "Ivo") else "user",
            speaker=speaker,
            content=text,
            character_id=self.ids[speaker],
            **kwargs,  # type: ignore[arg-type]
        )
        return turn.id

    async def view(self, budget: int = 256) -> SceneView:
        """The scene view, recalling within `budget` tokens (RECALL_BUDGET)."""
        views = SceneViews(self.stores, Sampler(seed=1))
        plug_recall(views, self.stores, load_settings(recall_budget=budget))
        return await views.view(await self.stores.scenes.get(self.scene_id))


async def campaign(db: Database, fmt: str = "chatml") -> Campaign:
    """The scene and its characters, no turns yet; Ivo is not in the cast."""
    stores = Stores.over(db)
    scene = await stores.scenes.start(guild_id=1, channel_id=10, format=fmt)
    mara = await stores.characters.create(guild_id=1, kind="npc", name="Mara", sheet=MARA_SHEET)
    ivo = await stores.characters.create(
        guild_id=1, kind="npc", name="Ivo", sheet="**Character Name**: Ivo"
    )
    rook = await stores.characters.create(
        guild_id=1, kind="player", name="Rook", owner_id=100, sheet="**Character Name**: Rook"
    )
    await stores.scenes.bind_player(scene.id, 100, rook.id)
    await stores.scenes.add_cast(scene.id, mara.id)
    ids = {"Mara": mara.id, "Ivo": ivo.id, "Rook": rook.id}
    return Campaign(db, stores, scene.id, ids)


async def planted(db: Database, filler_turns: int = 3000, fmt: str = "chatml") -> Campaign:
    """The fact said to Mara alone of the NPCs, `filler_turns` turns of small talk, Ivo in."""
    game = await campaign(db, fmt)
    game.fact_id = await game.say("Rook", FACT)
    await bulk_turns(db, game.scene_id, filler(filler_turns))
    await game.stores.scenes.add_cast(game.scene_id, game.ids["Ivo"])
    await game.say("Rook", QUESTION)
    return game


@dataclass(frozen=True)
class SmallContext:
    """`engine`'s tokenizer behind a smaller context: long histories with fewer turns."""

    engine: LlamaEngine
    n_ctx: int = 2048

    async def count_many(self, prompts: list[Prompt]) -> list[int]:
        return await self.engine.count_many(prompts)

    async def complete(self, *args: object, **kwargs: object) -> Completion:
        raise AssertionError("recall tests build prompts only")


def director(game: Campaign, engine: LlamaEngine | None = None, n_ctx: int = 2048) -> TurnDirector:
    """A director over the campaign's turns in an `n_ctx` context, counting with `engine`'s
    tokenizer (the demo model's), or by words without one (for what counts no tokens)."""
    counted = ScriptedEngine(n_ctx=n_ctx) if engine is None else SmallContext(engine, n_ctx)
    return TurnDirector(counted, game.stores.turns)
