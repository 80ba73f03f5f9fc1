"""Scene files (TOML): players, NPCs, scenario and opening turns for `chat` and `prompt`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.characters.cards import CardError
from bot.characters.drafts import CharacterDraft, draft_from_card, draft_from_sheet, typed_name
from bot.characters.sheet import SheetError
from bot.domain import FORMAT_NAMES, LENGTHS

EXAMPLE_SCENE = Path(__file__).resolve().parents[2] / "examples" / "lantern-harbor.toml"


class SceneFileError(ValueError):
    """A scene file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class SceneFile:
    """A parsed scene file."""

    path: Path
    format: str | None
    scenario: str | None
    length: str | None
    players: tuple[CharacterDraft, ...]
    npcs: tuple[CharacterDraft, ...]
    turns: tuple[tuple[str, str], ...]


def _character(entry: Any, base: Path, where: str) -> CharacterDraft:
    if not isinstance(entry, dict):
        raise SceneFileError(f"{where}: expected a table with name and sheet or card")
    name = entry.get("name")
    try:
        if "card" in entry:
            card_path = base / str(entry["card"])
            try:
                data = card_path.read_bytes()
            except OSError as exc:
                raise SceneFileError(
                    f"{where}: cannot read card {card_path}: {exc.strerror}"
                ) from None
            return draft_from_card(data, card_path.name, name)
        return draft_from_sheet(
            str(entry.get("sheet", "")) or f"**Character Name**: {name}",
            name,
            entry.get("greeting"),
        )
    except (SheetError, CardError) as exc:
        raise SceneFileError(f"{where}: {exc}") from None


def _refuse_shared_names(
    path: Path, players: tuple[CharacterDraft, ...], npcs: tuple[CharacterDraft, ...]
) -> None:
    """A player and an NPC may not share a name (the prompt could not tell them apart)."""
    npc_names = {n.name.casefold() for n in npcs}
    for player in players:
        if player.name.casefold() in npc_names:
            raise SceneFileError(f"{path}: {player.name} is both a player and an NPC")


def load_scene_file(path: str | Path) -> SceneFile:
    """Read and validate a scene file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SceneFileError(f"{path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SceneFileError(f"{path}: not valid TOML ({exc})") from None
    fmt = data.get("format")
    if fmt is not None and fmt not in FORMAT_NAMES:
        raise SceneFileError(f"{path}: format must be one of {', '.join(FORMAT_NAMES)}")
    length = data.get("length")
    if length is not None and length not in LENGTHS:
        raise SceneFileError(f"{path}: length must be one of {', '.join(LENGTHS)}")
    players = tuple(
        _character(p, path.parent, f"{path} players[{i}]")
        for i, p in enumerate(data.get("players", []))
    )
    npcs = tuple(
        _character(n, path.parent, f"{path} npcs[{i}]") for i, n in enumerate(data.get("npcs", []))
    )
    if not npcs:
        raise SceneFileError(f"{path}: a scene needs at least one [[npcs]] entry")
    _refuse_shared_names(path, players, npcs)
    turns = []
    for i, turn in enumerate(data.get("turns", [])):
        if not isinstance(turn, dict) or not turn.get("speaker") or "text" not in turn:
            raise SceneFileError(f"{path} turns[{i}]: needs speaker and text")
        try:
            speaker = typed_name(str(turn["speaker"]))
        except SheetError as exc:
            raise SceneFileError(f"{path} turns[{i}]: {exc}") from None
        turns.append((speaker, str(turn["text"])))
    scenario = data.get("scenario") or next((n.scenario for n in npcs if n.scenario), None)
    return SceneFile(path, fmt, scenario, length, players, npcs, tuple(turns))
