"""The recall bench: its generated campaign, recall@5 on both databases, prefix reuse."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from bot.bench.recall import (
    CampaignTable,
    RecallFigures,
    _Plant,
    campaign,
    recall_at_5,
    recall_at_5_embed,
    recall_ms,
    store_turns,
)
from bot.bench.recall_db import RecallDbSizes, measure_recall_db
from bot.bench.recall_report import put_recall, recall_rows
from bot.bench.report import Report
from bot.errors import UserError
from bot.recall.embedder import Embedder
from bot.settings import bundled_demo_model
from bot.store import Database, Stores
from bot.store.migrate import upgrade
from bot.store.models import RecallEmbedding, Turn
from tests.cli import clean_env, run_cli


def test_the_campaign_asks_about_each_fact_long_after() -> None:
    texts, plants = campaign(10_000, 50, 2_000, seed=5)
    assert len(texts) == 10_000 and len(plants) == 50
    assert len({p.question for p in plants}) == 50
    for plant in plants:
        assert plant.question - plant.fact >= 2_000
        assert texts[plant.fact] == plant.text and texts[plant.fact].startswith("I hid the ")
        thing = " ".join(plant.text.split()[3:5])
        assert texts[plant.question] == f"Mara, where did I hide the {thing}?"
        assert plant.question % 4 != 1  # a player's turn, never Mara's
        # Nothing else of the campaign names the thing.
        assert [i for i, t in enumerate(texts) if thing in t] == [plant.fact, plant.question]
    assert campaign(10_000, 50, 2_000, seed=5) == (texts, plants)


async def test_recall_at_5_finds_nine_facts_in_ten(db: Database) -> None:
    # The bench's campaign at three fifths of its size: the same shape, a shorter test (on
    # PostgreSQL, without ranking by rarity again, 26 of these 30 facts come back).
    stores = Stores.over(db)
    table = await CampaignTable.open(stores, 940)
    texts, plants = campaign(6_000, 30, 2_000, seed=5)
    await store_turns(db, table, texts)
    at_5 = await recall_at_5(db, table, texts, plants)
    assert at_5 >= 0.9
    assert await recall_ms(table, texts, plants[:3]) > 0


@pytest.mark.model  # the demo model embeds every turn: SQLite only, the path is the same
async def test_recall_at_5_embed_is_measured_beside_recall_at_5_on_one_campaign(
    db: Database,
) -> None:
    # The bench's functions on a campaign of 24 short turns (every one embedded by the real
    # model) and a window of 4. The demo model is a causal LM standing in for an embedding
    # model: its figure means nothing, only that the path runs beside the words' figure.
    texts = [f"Rain on the roof, hour {n}." for n in range(24)]
    plants = []
    for fact, question, thing in ((2, 22, "jade brooch"), (5, 18, "ivory dagger")):
        texts[fact] = f"I hid the {thing} under the plank."
        texts[question] = f"Mara, where did I hide the {thing}?"
        plants.append(_Plant(fact, question, texts[fact]))
    stores = Stores.over(db)
    table = await CampaignTable.open(stores, 940)
    await store_turns(db, table, texts)
    words = await recall_at_5(db, table, texts, plants, window=4)
    embedder = Embedder(bundled_demo_model())  # type: ignore[arg-type]
    try:
        at_5, seconds = await recall_at_5_embed(db, table, texts, plants, embedder, window=4)
    finally:
        await embedder.close()
    assert words == 1.0 and 0.0 <= at_5 <= 1.0 and seconds > 0
    async with db.session() as s:
        stored = await s.scalar(sa.select(sa.func.count()).select_from(RecallEmbedding))
    assert stored == len(texts)


def test_the_recall_figures_go_into_the_json_and_the_table() -> None:
    report = Report()
    figures = RecallFigures(
        at_5=0.94,
        questions=50,
        campaign_turns=10_000,
        ms=4.2,
        ms_turns=100_000,
        reuse_ratio=0.98,
        reuse_on=0.89,
        reuse_off=0.91,
        reuse_rounds=20,
    )
    put_recall(report, figures)
    assert "missing" not in report.meta  # no embedding model given: nothing is missing
    assert report.figures == {
        "recall_at_5": 0.94,
        "recall_ms": 4.2,
        "recall_reuse_ratio": 0.98,
        "recall_prefix_hit": 0.89,
        "recall_free_prefix_hit": 0.91,
    }
    table = Table(*"abcde")
    recall_rows(table, report.get, report.meta)
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    assert "recall@5: facts asked 2,000+ turns later (50 in 10,000 turns" in text
    assert "at 100,000 turns (SQLite)" in text and "4.20 ms" in text
    assert text.count("met") == 3 and "not met" not in text
    empty = Table(*"abcde")
    recall_rows(empty, Report().get, {})
    assert empty.row_count == 0


def test_recall_with_embeddings_goes_beside_full_text() -> None:
    report = Report()
    figures = RecallFigures(at_5=0.94, questions=50, campaign_turns=10_000)
    figures.at_5_embed, figures.embed_model, figures.embed_seconds = 0.96, "bge.gguf", 42.0
    put_recall(report, figures)
    assert report.figures["recall_at_5_embed"] == 0.96
    assert report.meta["recall"]["embed_model"] == "bge.gguf"
    table = Table(*"abcde")
    recall_rows(table, report.get, report.meta)
    console = Console(width=200, record=True)
    console.print(table)
    assert "recall@5 with embeddings (bge.gguf, embedding took 42 s)" in console.export_text()


async def test_bench_database_measures_recall_on_the_database_it_is_given(
    db_url: str, backend: str
) -> None:
    # `bench --database URL` at a small size: the same campaign and retrieval, on this backend.
    sizes = RecallDbSizes(campaign_turns=3_000, questions=10, gap=1_000, ms_turns=4_000)
    figures = await measure_recall_db(db_url, sizes)
    assert figures.backend == backend
    assert figures.at_5 >= 0.9 and figures.ms > 0
    db = Database(db_url)
    try:
        async with db.session() as s:
            stored = await s.scalar(sa.select(sa.func.count()).select_from(Turn))
    finally:
        await db.dispose()
    assert stored == 4_000
    # It fills the database it measures, so it refuses one that holds scenes already.
    with pytest.raises(UserError, match="empty one"):
        await measure_recall_db(db_url, sizes)


async def test_bench_database_on_a_database_with_scenes_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'campaign.db'}"
    await upgrade(url)
    db = Database(url)
    try:
        await Stores.over(db).scenes.start(guild_id=1, channel_id=1, format="chatml")
    finally:
        await db.dispose()
    done = run_cli(["bench", "--database", url], cwd=tmp_path, env=clean_env(), timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "tavernkeep: the bench fills the database it measures: give it an empty one"
    ], done.stderr
    assert "Traceback" not in done.stdout
