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
from bot.errors import UserError
from bot.lore import Lorebook, LoreError, check_book, load_lorebook
from bot.lore.tables import entry_from_table
from bot.state.rules import Stat, StateError
from bot.state.tables import stats_from_table

# Package data, so an installed wheel carries it too (see [tool.setuptools.package-data]).
EXAMPLE_SCENE = Path(__file__).resolve().parents[1] / "examples" / "lantern-harbor.toml"


class SceneFileError(UserError, ValueError):
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
    lorebooks: tuple[Lorebook, ...] = ()
    summary: str | None = None  # the story so far of the opening turns
    summary_through: int = 0  # how many of the opening [[turns]] it covers (greetings too)
    # Each character's starting tracked values (`state = {…}`), by the character's name.
    states: tuple[tuple[str, tuple[Stat, ...]], ...] = ()


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


def _book_files(data: dict[str, Any], path: Path) -> list[Lorebook]:
    """The lorebook files named by `lorebooks`, relative to the scene file."""
    files = data.get("lorebooks", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise SceneFileError(f"{path}: lorebooks must be a list of file paths")
    books: list[Lorebook] = []
    for i, name in enumerate(files):
        where, book_path = f"{path} lorebooks[{i}]", path.parent / name
        try:
            books.append(load_lorebook(book_path.read_bytes(), book_path.name))
        except OSError as exc:
            raise SceneFileError(f"{where}: cannot read {book_path}: {exc.strerror}") from None
        except LoreError as exc:
            raise SceneFileError(f"{where}: {exc}") from None
    return books


def _lore_tables(data: dict[str, Any], path: Path) -> list[Lorebook]:
    """The scene's own `[[lore]]` entries, as one book."""
    tables = data.get("lore", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise SceneFileError(f"{path}: lore must be [[lore]] tables")
    entries = []
    for i, table in enumerate(tables):
        try:
            entries.append(entry_from_table(table))
        except LoreError as exc:
            raise SceneFileError(f"{path} lore[{i}]: {exc}") from None
    if not entries:
        return []
    try:  # the book-wide caps (regex keys, keys per book) too, not only each entry's
        return [check_book(Lorebook(entries=tuple(entries), name="scene lore"))]
    except LoreError as exc:
        raise SceneFileError(f"{path} lore: {exc}") from None


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
    states = (
        *_states(data.get("players", []), players, f"{path} players"),
        *_states(data.get("npcs", []), npcs, f"{path} npcs"),
    )
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
    lorebooks = (*_book_files(data, path), *_lore_tables(data, path))
    summary, through = _summary(data, path, len(turns))
    return SceneFile(
        path,
        fmt,
        scenario,
        length,
        players,
        npcs,
        tuple(turns),
        lorebooks,
        summary,
        through,
        states,
    )


def _states(
    entries: list[Any], drafts: tuple[CharacterDraft, ...], where: str
) -> list[tuple[str, tuple[Stat, ...]]]:
    """The `state` table of each character entry that has one, checked."""
    states = []
    for i, (entry, draft) in enumerate(zip(entries, drafts, strict=True)):
        try:
            stats = stats_from_table(entry.get("state"))
        except StateError as exc:
            raise SceneFileError(f"{where}[{i}] state: {exc}") from None
        if stats:
            states.append((draft.name, stats))
    return states


def _summary(data: dict[str, Any], path: Path, turns: int) -> tuple[str | None, int]:
    """`summary` and `summary_through` (a count of the opening turns, at most all of them)."""
    summary, through = data.get("summary"), data.get("summary_through", 0)
    if summary is not None and not isinstance(summary, str):
        raise SceneFileError(f"{path}: summary must be text")
    if isinstance(through, bool) or not isinstance(through, int) or not 0 <= through <= turns:
        raise SceneFileError(f"{path}: summary_through must be a number from 0 to {turns}")
    if through and not summary:
        raise SceneFileError(f"{path}: summary_through needs a summary")
    return (summary.strip() or None) if summary else None, through
