"""Scene files (TOML): players, NPCs, scenario and opening turns for `chat` and `prompt`."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.characters.cards import CardError
from bot.characters.drafts import CharacterDraft, draft_from_card, draft_from_sheet
from bot.characters.sheet import SheetError
from bot.characters.voice import VoiceError, VoiceRules
from bot.domain import FORMAT_NAMES, LENGTHS
from bot.errors import UserError
from bot.lore import Lorebook, LoreEntry, LoreError, check_book, load_lorebook
from bot.lore.character_filter import fold
from bot.lore.tables import entry_from_table
from bot.scenes.file_turns import (
    Presence,
    RollTurn,
    TurnBody,
    TurnProblem,
    Whisper,
    away_after,
    parse_turn,
)
from bot.state.rules import Stat, StateError
from bot.state.tables import stats_from_table

__all__ = [
    "EXAMPLE_SCENE",
    "Presence",
    "RollTurn",
    "SceneFile",
    "SceneFileError",
    "TurnBody",
    "Whisper",
    "load_scene_file",
]

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
    # (speaker, text), (speaker, a roll), (speaker, a whisper), or (who, entering or leaving)
    turns: tuple[tuple[str, TurnBody], ...]
    lorebooks: tuple[Lorebook, ...] = ()
    summary: str | None = None  # the story so far of the opening turns
    summary_through: int = 0  # how many of the opening [[turns]] it covers (greetings too)
    # Each character's starting tracked values (`state = {…}`), by the character's name.
    states: tuple[tuple[str, tuple[Stat, ...]], ...] = ()
    mechanics: bool = False  # NPCs roll dice and change tracked values through markers
    # Characters (names as their entries give them) outside the scene when it opens, and after
    # the file's last entry: where a resumed scene's cast starts again.
    away: tuple[str, ...] = ()
    away_at_end: tuple[str, ...] = ()


class _Places:
    """Where a `[[turns]]` or `[[lore]]` entry is: `path:LINE turns[3]`, or `path turns[3]`."""

    def __init__(self, path: Path, text: str, data: dict[str, Any]) -> None:
        self.path, self.text, self.data = path, text, data
        self.lines: dict[str, list[int]] = {}

    def __call__(self, table: str, index: int) -> str:
        if table not in self.lines:
            self.lines[table] = _header_lines(self.text, table)
        lines, entries = self.lines[table], self.data.get(table)
        # A header inside a multi-line string, or an inline array, would put the count out:
        # then no line is better than a wrong one.
        if isinstance(entries, list) and len(lines) == len(entries):
            return f"{self.path}:{lines[index]} {table}[{index}]"
        return f"{self.path} {table}[{index}]"


def _header_lines(text: str, table: str) -> list[int]:
    """The line number of each `[[table]]` header, in order."""
    name = re.escape(table)
    header = re.compile(
        rf"""^[ \t]*\[\[[ \t]*(?:{name}|"{name}"|'{name}')[ \t]*\]\][ \t]*(?:#.*)?$""",
        re.MULTILINE,
    )
    return [text.count("\n", 0, found.start()) + 1 for found in header.finditer(text)]


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


def _lore_tables(
    data: dict[str, Any], places: _Places, characters: Sequence[CharacterDraft]
) -> list[Lorebook]:
    """The scene's own `[[lore]]` entries, as one book."""
    tables = data.get("lore", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise SceneFileError(f"{places.path}: lore must be [[lore]] tables")
    entries = []
    for i, table in enumerate(tables):
        try:
            entries.append(_for_known(entry_from_table(table), characters))
        except LoreError as exc:
            raise SceneFileError(f"{places('lore', i)}: {exc}") from None
    if not entries:
        return []
    try:  # the book-wide caps (regex keys, keys per book) too, not only each entry's
        return [check_book(Lorebook(entries=tuple(entries), name="scene lore"))]
    except LoreError as exc:
        raise SceneFileError(f"{places.path} lore: {exc}") from None


def _for_known(entry: LoreEntry, characters: Sequence[CharacterDraft]) -> LoreEntry:
    """`entry`, if the characters it is limited to (`characters = [...]`) are all the file's."""
    limit = entry.characters
    known = {fold(c.name) for c in characters}
    stray = next((n for n in limit.names if fold(n) not in known), None) if limit else None
    if stray is not None:  # a typo would limit the entry to nobody, silently
        raise LoreError(f"characters names {stray}, who is not in [[players]] or [[npcs]]")
    return entry


def load_scene_file(path: str | Path, voices: VoiceRules | None = None) -> SceneFile:
    """Read and validate a scene file; `voices` checks the NPCs' own settings (any backend
    name and 2048 tokens at most without it)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise SceneFileError(f"{path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SceneFileError(f"{path}: not valid TOML ({exc})") from None
    places = _Places(path, text, data)
    fmt = data.get("format")
    if fmt is not None and fmt not in FORMAT_NAMES:
        raise SceneFileError(f"{path}: format must be one of {', '.join(FORMAT_NAMES)}")
    length = data.get("length")
    if length is not None and length not in LENGTHS:
        raise SceneFileError(f"{path}: length must be one of {', '.join(LENGTHS)}")
    players, npcs, states, away = _cast(data, path, voices or VoiceRules())
    turns = _turns(data, places)
    try:
        gone = away_after(turns, [p.name for p in players], [n.name for n in npcs], away)
    except TurnProblem as exc:
        raise SceneFileError(f"{places('turns', exc.index or 0)}: {exc}") from None
    mechanics = data.get("mechanics", False)
    if not isinstance(mechanics, bool):
        raise SceneFileError(f"{path}: mechanics must be true or false")
    scenario = data.get("scenario") or next((n.scenario for n in npcs if n.scenario), None)
    lorebooks = (*_book_files(data, path), *_lore_tables(data, places, (*players, *npcs)))
    summary, through = _summary(data, path, len(turns))
    return SceneFile(
        path,
        fmt,
        scenario,
        length,
        players,
        npcs,
        turns,
        lorebooks,
        summary,
        through,
        states,
        mechanics,
        away=away,
        away_at_end=tuple(c.name for c in (*players, *npcs) if c.name.casefold() in gone),
    )


_Cast = tuple[
    tuple[CharacterDraft, ...],
    tuple[CharacterDraft, ...],
    tuple[tuple[str, tuple[Stat, ...]], ...],
    tuple[str, ...],
]


def _cast(data: dict[str, Any], path: Path, voices: VoiceRules) -> _Cast:
    """Players, NPCs (with their voices), their starting values, and who starts away."""
    drafts: dict[str, tuple[CharacterDraft, ...]] = {}
    states: list[tuple[str, tuple[Stat, ...]]] = []
    away: list[str] = []
    for table in ("players", "npcs"):
        entries = data.get(table, [])
        drafts[table] = tuple(
            _character(entry, path.parent, f"{path} {table}[{i}]")
            for i, entry in enumerate(entries)
        )
        states += _states(entries, drafts[table], f"{path} {table}")
        away += _away(entries, drafts[table], f"{path} {table}")
    drafts["npcs"] = _voices(data.get("npcs", []), drafts["npcs"], f"{path} npcs", voices)
    if not drafts["npcs"]:
        raise SceneFileError(f"{path}: a scene needs at least one [[npcs]] entry")
    _refuse_shared_names(path, drafts["players"], drafts["npcs"])
    return drafts["players"], drafts["npcs"], tuple(states), tuple(away)


def _voices(
    entries: list[Any], drafts: tuple[CharacterDraft, ...], where: str, rules: VoiceRules
) -> tuple[CharacterDraft, ...]:
    """Each NPC's own settings (`temperature = 1.1`, ...), over those of its card."""
    found = []
    for i, (entry, draft) in enumerate(zip(entries, drafts, strict=True)):
        try:
            found.append(replace(draft, voice=rules.from_table(entry, draft.voice)))
        except VoiceError as exc:
            raise SceneFileError(f"{where}[{i}] ({draft.name}): {exc}") from None
    return tuple(found)


def _away(entries: list[Any], drafts: tuple[CharacterDraft, ...], where: str) -> list[str]:
    """The names of the entries with `present = false`: outside until an `enter` event."""
    away = []
    for i, (entry, draft) in enumerate(zip(entries, drafts, strict=True)):
        present = entry.get("present", True)
        if not isinstance(present, bool):
            raise SceneFileError(f"{where}[{i}]: present must be true or false")
        if not present:
            away.append(draft.name)
    return away


def _turns(data: dict[str, Any], places: _Places) -> tuple[tuple[str, TurnBody], ...]:
    """Every `[[turns]]` entry, read."""
    turns = []
    for i, turn in enumerate(data.get("turns", [])):
        try:
            turns.append(parse_turn(turn))
        except TurnProblem as exc:
            raise SceneFileError(f"{places('turns', i)}: {exc}") from None
    return tuple(turns)


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
