"""Campaign recall: `recall_at_5`, `recall_ms` and `recall_reuse_ratio`.

- `recall_at_5`: a generated campaign (10,000 turns in the full profile) with 50 planted facts,
  each asked about 2,000 or more turns later; the fraction of questions whose planted turn is
  among the first five memories the question's prompt recalls (full text alone).
- `recall_at_5_embed`: the same on the same campaign with RECALL_EMBED_MODEL's embeddings ranked
  in, when the bench is given one (every turn embedded first; how long that took beside it).
  Only an embedding model's figure means anything: the demo model, a causal LM, runs the path.
- `recall_ms`: one prompt's retrieval (its query words, the turn and chapter searches) at
  100,000 stored turns (20,000 in the quick profile), the median over the questions.
- `recall_reuse_ratio`: prompt tokens kept from one prompt to the next over 20 rounds with
  recall on, over the same with recall off, on twin scenes (the model's tokenizer).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from statistics import median

from sqlalchemy import insert, literal, select

from bot.bench.text import FillerText
from bot.core import Core
from bot.director import SceneView, TurnDirector
from bot.director.types import RecallQuery
from bot.domain import Sampler
from bot.engine.base import TextEngine
from bot.engine.state_cache import common_prefix
from bot.prompts import Prompt
from bot.recall.embedder import Embedder
from bot.recall.service import plug_recall
from bot.recall.source import SceneRecall
from bot.scenes.views import SceneViews
from bot.store import Database, Stores, Turn
from bot.store.models import TurnWitness

# Turns stored when `recall_ms` is measured, by bench profile.
RECALL_TURNS = {"full": 100_000, "quick": 20_000}
WINDOW_TURNS = 64  # about what a 4,096-token prompt holds of these turns
RECENT = 3  # the turns whose words a prompt's recall searches with
_CHUNK = 5_000
_ADJECTIVES = (
    "copper", "crimson", "cracked", "gilded", "salt-stained", "ivory", "blackened", "silver",
    "tarnished", "painted", "broken", "bone", "jade", "rusted", "velvet", "amber", "iron",
)  # fmt: skip
_OBJECTS = (
    "whistle", "compass", "lantern", "ledger", "key", "dagger", "locket", "chart", "seal",
    "flute", "ring", "spyglass", "hourglass", "coin", "mask", "thimble", "chalice", "map",
    "brooch", "bell", "knife", "medallion", "figurine", "box", "pipe",
)  # fmt: skip
_HIDING = (
    "under the loose plank of the tar sheds", "behind the chandler's counter",
    "inside the third barrel at the rope walk", "beneath the lighthouse stair",
    "in the drowned shrine past the reef", "under the watch house floor",
    "in the roof of the harbormaster's hut", "inside the flooded tunnel mouth",
)  # fmt: skip


@dataclass
class RecallFigures:
    """What the recall phase measured."""

    at_5: float | None = None
    at_5_embed: float | None = None  # with RECALL_EMBED_MODEL, on the same campaign
    embed_model: str | None = None
    embed_seconds: float | None = None  # embedding every turn of the campaign
    questions: int = 0
    campaign_turns: int = 0
    ms: float | None = None
    ms_turns: int = 0
    reuse_ratio: float | None = None
    reuse_on: float | None = None
    reuse_off: float | None = None
    reuse_rounds: int = 0
    memories_placed: float = 0.0  # per prompt with recall on, on average


@dataclass(frozen=True)
class _Plant:
    """A planted fact and the question about it, by turn index."""

    fact: int
    question: int
    text: str


class CampaignTable:
    """A scene of two players and two NPCs, every turn witnessed by all four."""

    def __init__(self, stores: Stores, scene_id: int, ids: dict[str, int]) -> None:
        self.stores, self.scene_id, self.ids = stores, scene_id, ids

    @classmethod
    async def open(cls, stores: Stores, channel: int) -> CampaignTable:
        """A new scene in `channel` with its four characters, all present."""
        scene = await stores.scenes.start(guild_id=channel, channel_id=channel, format="chatml")
        ids: dict[str, int] = {}
        for name in ("Mara", "Tobin"):
            npc = await stores.characters.create(
                guild_id=channel, kind="npc", name=name, sheet=_sheet(name)
            )
            await stores.scenes.add_cast(scene.id, npc.id)
            ids[name] = npc.id
        for user, name in enumerate(("Rook", "Ilse"), start=1):
            pc = await stores.characters.create(
                guild_id=channel, kind="player", name=name, owner_id=user, sheet=_sheet(name)
            )
            await stores.scenes.bind_player(scene.id, user, pc.id)
            ids[name] = pc.id
        return cls(stores, scene.id, ids)

    async def say(self, speaker: str, text: str) -> None:
        """A turn of one of the four, stored as the bot stores it (witnessed by all four)."""
        role = "model" if speaker in ("Mara", "Tobin") else "user"
        await self.stores.turns.append(
            self.scene_id, role=role, speaker=speaker, content=text, character_id=self.ids[speaker]
        )


def _sheet(name: str) -> str:
    return f"**Character Name**: {name}\n**Occupation/Profession**: Harbour hand"


def campaign_speaker(index: int) -> str:
    return ("Rook", "Mara", "Ilse", "Tobin")[index % 4]


def campaign(turns: int, facts: int, gap: int, seed: int) -> tuple[list[str], list[_Plant]]:
    """The texts of a campaign of `turns` turns and its planted facts (asked `gap`+ later)."""
    rng = random.Random(seed)
    filler = FillerText(seed)
    texts = [filler.line(campaign_speaker(i)) for i in range(turns)]
    things = rng.sample([(a, o) for a in _ADJECTIVES for o in _OBJECTS], facts)
    last_fact = turns - gap - turns // 20
    spacing = max(1, last_fact // facts)
    plants: list[_Plant] = []
    for n, (adjective, thing) in enumerate(things):
        fact = 20 + n * spacing
        question = min(turns - 1, fact + gap + rng.randrange(turns // 20))
        while any(p.question == question for p in plants) or question % 4 == 1:
            question -= 1  # a player asks, on a turn no other question took
        texts[fact] = f"I hid the {adjective} {thing} {rng.choice(_HIDING)}."
        texts[question] = f"Mara, where did I hide the {adjective} {thing}?"
        plants.append(_Plant(fact, question, texts[fact]))
    return texts, plants


async def store_turns(
    db: Database, table: CampaignTable, texts: Sequence[str], start: int = 0
) -> int:
    """Bulk-store `texts` after the scene's last turn, each witnessed by the whole table."""
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        for first in range(0, len(texts), _CHUNK):
            rows = [
                {
                    "scene_id": table.scene_id,
                    "seq": start + first + n + 1,
                    "role": "model" if campaign_speaker(first + n) in ("Mara", "Tobin") else "user",
                    "speaker": campaign_speaker(first + n),
                    "content": text,
                    "swipes": [text],
                    "created_at": now,
                    "updated_at": now,
                }
                for n, text in enumerate(texts[first : first + _CHUNK])
            ]
            await conn.execute(insert(Turn), rows)
        new = select(Turn.id).where(Turn.scene_id == table.scene_id, Turn.seq > start)
        for character in table.ids.values():
            stmt = insert(TurnWitness).from_select(
                ["turn_id", "character_id"], new.add_columns(literal(character))
            )
            await conn.execute(stmt)
    return start + len(texts)


def _query(
    table: CampaignTable, texts: Sequence[str], question: int, window: int = WINDOW_TURNS
) -> RecallQuery:
    """The recall query of Mara's prompt answering the turn at index `question`."""
    return RecallQuery(
        scene_id=table.scene_id,
        witness=table.ids["Mara"],
        speaker="Mara",
        sheet=_sheet("Mara"),
        recent=tuple(texts[max(0, question - RECENT + 1) : question + 1]),
        before_seq=question + 1 - window + 1,  # seqs start at 1
    )


async def recall_at_5(
    db: Database,
    table: CampaignTable,
    texts: Sequence[str],
    plants: Sequence[_Plant],
    source: SceneRecall | None = None,
    window: int = WINDOW_TURNS,
) -> float:
    """The fraction of questions whose planted turn is among the first five memories found
    (full text alone, unless `source` recalls by meaning too)."""
    source = source or SceneRecall(table.stores.recall, 256)
    hits = 0
    for plant in plants:
        query = _query(table, texts, plant.question, window)
        found = await source.recall(query)
        hits += any(m.seq == plant.fact + 1 for m in found.memories[:5])
    return hits / len(plants)


async def recall_at_5_embed(
    db: Database,
    table: CampaignTable,
    texts: Sequence[str],
    plants: Sequence[_Plant],
    embedder: Embedder,
    window: int = WINDOW_TURNS,
) -> tuple[float, float]:
    """`recall_at_5` with `embedder`'s vectors ranked in; and the seconds embedding took.

    Every turn of the campaign is embedded first, as the bot's chores would have by then.
    """
    source = SceneRecall(table.stores.recall, 256, embedder)
    started = time.perf_counter()
    await source.catch_up(table.scene_id, limit=None)
    seconds = time.perf_counter() - started
    return await recall_at_5(db, table, texts, plants, source, window), seconds


async def recall_ms(table: CampaignTable, texts: Sequence[str], plants: Sequence[_Plant]) -> float:
    """The median time of one prompt's retrieval, over the questions."""
    source = SceneRecall(table.stores.recall, 256)
    times = []
    for plant in (*plants[:3], *plants):  # the first three warm the caches
        query = _query(table, texts, plant.question)
        started = time.perf_counter()
        await source.recall(query)
        times.append((time.perf_counter() - started) * 1000)
    return median(times[3:])


@dataclass
class _Reuse:
    """Prompt tokens kept from one prompt to the next, and all prompt tokens."""

    reused: int = 0
    total: int = 0
    placed: int = 0

    @property
    def share(self) -> float | None:
        return self.reused / self.total if self.total else None


async def _reuse(
    director: TurnDirector,
    engine: TextEngine,
    view: SceneView,
    table: CampaignTable,
    turns: list[str],
    rounds: int,
) -> _Reuse:
    """Mara answers `rounds` player turns; what each prompt keeps of the one before.

    The context after a prompt is that prompt and its reply; the engine keeps their longest
    common token prefix with the next prompt (less the one token it replays).
    """
    bos = await engine.tokenize(Prompt.plain(""))
    filler = FillerText(97)
    seen = _Reuse()
    previous: list[int] | None = None
    for n in range(rounds + 1):
        said = turns[n] if n < len(turns) else filler.short("Rook")
        await table.stores.turns.append(
            table.scene_id,
            role="user",
            speaker="Rook",
            content=said,
            character_id=table.ids["Rook"],
        )
        plan = await director.build_prompt(view, "Mara")
        tokens = await engine.tokenize(plan.rendered.prompt)
        if previous is not None:
            seen.reused += min(common_prefix(previous, tokens), len(tokens) - 1)
            seen.total += len(tokens)
            seen.placed += len(plan.recall.placed)
        reply = filler.line("Mara")
        said_ids = await engine.tokenize(Prompt.plain(f" {reply}"))
        previous = tokens + said_ids[len(bos) :]
        await table.stores.turns.append(
            table.scene_id,
            role="model",
            speaker="Mara",
            content=reply,
            character_id=table.ids["Mara"],
        )
    return seen


async def reuse_ratio(
    stores: Stores,
    director: TurnDirector,
    engine: TextEngine,
    views: Callable[[bool], SceneViews],
    rounds: int,
    seed: int,
    channel: int = 950,
) -> tuple[_Reuse, _Reuse]:
    """The same rounds on twin scenes, with recall and without; (on, off)."""
    history, plants = campaign(600, 6, 200, seed)
    asked = {4 * n + 2: f"Mara, where did I hide the {p.text.split()[3]} {p.text.split()[4]}?"
             for n, p in enumerate(plants[:4])}  # fmt: skip
    filler = FillerText(seed)
    turns = [asked.get(n, filler.short("Rook")) for n in range(rounds + 1)]
    seen = []
    for on in (True, False):
        table = await CampaignTable.open(stores, channel + on)
        await store_turns(stores.turns.db, table, history)
        scene = await stores.scenes.get(table.scene_id)
        view = replace(await views(on).view(scene), max_replies=1)
        seen.append(await _reuse(director, engine, view, table, turns, rounds))
    return seen[0], seen[1]


async def measure_recall(
    core: Core, sampler: Sampler, profile: str, note: Callable[[str], None]
) -> RecallFigures:
    """Every recall figure, on new scenes of the bench's scratch database."""
    stores, director = core.stores, core.director
    big_turns = RECALL_TURNS.get(profile, RECALL_TURNS["full"])
    figures = RecallFigures(campaign_turns=10_000, ms_turns=big_turns, reuse_rounds=20)
    db = stores.turns.db
    table = await CampaignTable.open(stores, 940)
    texts, plants = campaign(10_000, 50, 2_000, seed=5)
    await store_turns(db, table, texts)
    figures.at_5 = await recall_at_5(db, table, texts, plants)
    figures.questions = len(plants)
    note(f"recall@5 {figures.at_5:.0%} over {len(plants)} questions, 10,000 turns")
    model = core.settings.recall_embed_model
    if model is not None:
        embedder = Embedder(model, gpu_layers=-1, threads=core.settings.n_threads)
        try:
            at_5, seconds = await recall_at_5_embed(db, table, texts, plants, embedder)
        finally:
            await embedder.close()
        figures.at_5_embed, figures.embed_seconds, figures.embed_model = at_5, seconds, model.name
        note(
            f"recall@5 with {model.name}'s embeddings {at_5:.0%} "
            f"(embedding 10,000 turns took {seconds:.0f} s)"
        )
    more = FillerText(9)
    grown = [more.line(campaign_speaker(i)) for i in range(big_turns - 10_000)]
    await store_turns(db, table, grown, 10_000)
    figures.ms = await recall_ms(table, texts, plants)
    note(f"one prompt's retrieval at {big_turns:,} turns: {figures.ms:.2f} ms (median)")

    # Recall by words alone: the twin scenes' turns are never embedded.
    words_only = core.settings.model_copy(update={"recall_embed_model": None})

    def views(on: bool) -> SceneViews:
        made = SceneViews(stores, sampler)
        if on:
            plug_recall(made, stores, words_only)
        return made

    on, off = await reuse_ratio(stores, director, core.engine, views, figures.reuse_rounds, seed=11)
    figures.reuse_on, figures.reuse_off = on.share, off.share
    if on.share is not None and off.share:
        figures.reuse_ratio = on.share / off.share
    figures.memories_placed = on.placed / figures.reuse_rounds
    note(
        f"prefix reuse with recall {on.share or 0:.1%}, without {off.share or 0:.1%} "
        f"({figures.memories_placed:.1f} memories a prompt)"
    )
    return figures
