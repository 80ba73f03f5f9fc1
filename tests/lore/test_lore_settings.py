"""The LORE_* settings reach the lore code through the composition root."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.characters.service import card_limits
from bot.core import lore_config
from bot.lore import LoreConfig, LoreLimits
from bot.lore.service import lore_limits
from bot.settings import SettingsError, load_settings


def test_the_composition_root_maps_the_lore_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings = load_settings(
        lore_budget=77,
        lore_scan_depth=2,
        lore_sticky=0,
        lore_max_recursion=1,
        lore_max_entries=5,
        lore_entry_max_chars=9,
        lore_scan_budget_ms=300,
        lore_book_budget_ms=80,
    )
    assert lore_config(settings) == LoreConfig(
        scan_depth=2,
        sticky=0,
        max_recursion=1,
        budget=77,
        scan_budget_ms=300,
        book_budget_ms=80,
    )
    assert lore_limits(settings) == LoreLimits(max_entries=5, entry_max_chars=9)
    assert card_limits(settings).lore_max_entries == 5


def test_a_bad_lore_setting_names_its_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LORE_SCAN_DEPTH", "500")
    with pytest.raises(SettingsError, match=r"^LORE_SCAN_DEPTH: "):
        load_settings()


def test_the_lore_time_budgets_default_to_the_documented_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    config = lore_config(load_settings())
    assert (config.scan_budget_ms, config.book_budget_ms) == (200, 50)
    assert (LoreConfig().scan_budget_ms, LoreConfig().book_budget_ms) == (200, 50)
    monkeypatch.setenv("LORE_BOOK_BUDGET_MS", "0")
    with pytest.raises(SettingsError, match=r"^LORE_BOOK_BUDGET_MS: "):
        load_settings()
