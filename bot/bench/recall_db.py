"""`bench --database URL`: the recall figures on a database of the admin's choosing.

The main bench keeps its figures on a scratch SQLite file; this runs recall@5 and recall_ms on
another database (PostgreSQL, where `tsvector` does the searching) with the same campaign and
the same retrieval code. The database must be empty: it is migrated and filled with the
generated campaign, which stays there afterwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.bench.recall import (
    RECALL_TURNS,
    CampaignTable,
    campaign,
    campaign_speaker,
    recall_at_5,
    recall_ms,
)
from bot.bench.recall import store_turns as store_campaign
from bot.bench.text import FillerText
from bot.errors import UserError
from bot.store import Database, Scene, Stores
from bot.store.migrate import upgrade

CHANNEL = 940


@dataclass(frozen=True)
class RecallDbSizes:
    """The campaign the figures are measured on."""

    campaign_turns: int = 10_000
    questions: int = 50
    gap: int = 2_000  # turns between a fact and its question, at least
    ms_turns: int = RECALL_TURNS["full"]


@dataclass(frozen=True)
class RecallDbFigures:
    """recall@5 on the campaign, and one prompt's retrieval at `ms_turns` stored turns."""

    backend: str
    at_5: float
    ms: float
    sizes: RecallDbSizes


async def measure_recall_db(url: str, sizes: RecallDbSizes) -> RecallDbFigures:
    """Migrate the empty database at `url`, store the campaign, and measure both figures."""
    await upgrade(url)
    db = Database(url)
    try:
        async with db.session() as s:
            if await s.scalar(select(func.count()).select_from(Scene)):
                raise UserError("the bench fills the database it measures: give it an empty one")
        stores = Stores.over(db)
        table = await CampaignTable.open(stores, CHANNEL)
        texts, plants = campaign(sizes.campaign_turns, sizes.questions, sizes.gap, seed=5)
        await store_campaign(db, table, texts)
        at_5 = await recall_at_5(db, table, texts, plants)
        more = FillerText(9)
        grown = max(0, sizes.ms_turns - sizes.campaign_turns)
        extra = [more.line(campaign_speaker(i)) for i in range(grown)]
        await store_campaign(db, table, extra, sizes.campaign_turns)
        ms = await recall_ms(table, texts, plants)
    finally:
        await db.dispose()
    return RecallDbFigures(make_url(url).get_backend_name(), at_5, ms, sizes)


async def run_recall_db_bench(
    url: str, *, quick: bool, json_path: Path | None, console: Console
) -> int:
    """Measure, print the two rows, write the JSON; returns the exit code."""
    sizes = RecallDbSizes(ms_turns=RECALL_TURNS["quick" if quick else "full"])
    console.print(f"recall on {make_url(url).render_as_string(hide_password=True)}")
    figures = await measure_recall_db(url, sizes)
    table = Table(title=f"recall on {figures.backend}")
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_row(
        f"recall@5: {sizes.questions} facts asked {sizes.gap:,}+ turns later "
        f"in {sizes.campaign_turns:,} turns (target ≥ 0.9)",
        f"{figures.at_5:.2f}",
    )
    table.add_row(
        f"recall_ms: one prompt's retrieval at {sizes.ms_turns:,} stored turns",
        f"{figures.ms:.2f} ms",
    )
    console.print(table)
    if json_path is not None:
        data = {
            "backend": figures.backend,
            "recall_at_5": figures.at_5,
            "recall_ms": figures.ms,
            "meta": {"campaign_turns": sizes.campaign_turns, "ms_turns": sizes.ms_turns},
        }
        json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0
