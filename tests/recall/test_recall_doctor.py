"""`tavernkeep doctor` says whether recall also searches by meaning, and with which model."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from bot.doctor import run_doctor
from bot.settings import bundled_demo_model, load_settings


@pytest.mark.parametrize(
    ("embed", "budget", "expected"),
    [
        (False, 256, "off (RECALL_EMBED_MODEL unset: recall by words alone)"),
        (True, 256, "(llama); turns are embedded after rounds"),
        (True, 0, "is set, but RECALL_BUDGET=0 turns recall off"),
    ],
)
async def test_doctor_names_the_embedding_model(
    tmp_path: Path, embed: bool, budget: int, expected: str
) -> None:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'doctor.db'}",
        recall_embed_model=bundled_demo_model() if embed else None,
        recall_budget=budget,
    )
    console = Console(record=True, width=200, highlight=False)
    await run_doctor(settings, console)
    (row,) = [line for line in console.export_text().splitlines() if "recall embeddings" in line]
    assert expected in row
