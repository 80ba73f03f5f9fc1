"""Scene files (TOML): players, NPCs, scenario and opening turns for `chat` and `prompt`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.characters.cards import CardError
from bot.characters.drafts import CharacterDraft, draft_from_card, draft_from_sheet, typed_name
from bot.characters.sheet import SheetError
from bot.dice import DiceError, check_dice
from bot.dice.limits import REASON_MAX_CHARS
from bot.domain import FORMAT_NAMES, LENGTHS
from bot.errors import UserError
from bot.lore import Lorebook, LoreError, check_book, load_lorebook
from bot.lore.tables import entry_from_table
from bot.state.rules import Stat, StateError
from bot.state.tables import stats_from_table

# Package data, so an installed wheel carries it too (see [tool.setuptools.package-data]).
EXAMPLE_SCENE = Path(__file__).resolve().parents[1] / "examples" / "lantern-harbor.toml"
RESULT_LIMIT = 10**9  # a recorded result, within the stored total's 32-bit column


class SceneFileError(UserError, ValueError):
    """A scene file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class RollTurn:
    """A `[[turns]]` roll: the checked notation, and a past roll's total (None: roll at import)."""

    expr: str
    reason: str | None = None
    result: int | None = None
    private: bool = False  # only its roller saw it: never in a prompt


@dataclass(frozen=True)
class SceneFile:
    """A parsed scene file."""

    path: Path
    format: str | None
    scenario: str | None
    length: str | None
    players: tuple[CharacterDraft, ...]
    npcs: tuple[CharacterDraft, ...]
    turns: tuple[tuple[str, str | RollTurn], ...]  # (speaker, text) or (speaker, a roll)
    lorebooks: tuple[Lorebook, ...] = ()
    summary: str | None = None  # the story so far of the opening turns
    summary_through: int = 0  # how many of the opening [[turns]] it covers (greetings too)
    # Each character's starting tracked values (`state = {…}`), by the character's name.
    states: tuple[tuple[str, tuple[Stat, ...]], ...] = ()
    mechanics: bool = False  # NPCs roll dice and change tracked values through markers


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
    turns = [_turn(turn, f"{path} turns[{i}]") for i, turn in enumerate(data.get("turns", []))]
    mechanics = data.get("mechanics", False)
    if not isinstance(mechanics, bool):
        raise SceneFileError(f"{path}: mechanics must be true or false")
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
        mechanics,
    )


def _turn(turn: Any, where: str) -> tuple[str, str | RollTurn]:
    """One `[[turns]]` table: a speaker with `text`, or with a `roll`."""
    if (
        not isinstance(turn, dict)
        or not turn.get("speaker")
        or ("text" in turn) == ("roll" in turn)
    ):
        raise SceneFileError(f"{where}: needs speaker and either text or roll")
    try:
        speaker = typed_name(str(turn["speaker"]))
    except SheetError as exc:
        raise SceneFileError(f"{where}: {exc}") from None
    if "text" in turn:
        if "private" in turn:
            raise SceneFileError(f"{where}: only a roll turn can be private")
        return speaker, str(turn["text"])
    return speaker, _roll(turn, where)


def _roll(turn: dict[str, Any], where: str) -> RollTurn:
    """`roll = "1d20+5"`, optional `reason`, `result` (a past roll's total) and `private`."""
    try:
        expr = check_dice(str(turn["roll"]))
    except DiceError as exc:
        raise SceneFileError(f"{where}: {exc}") from None
    reason = turn.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise SceneFileError(f"{where}: reason must be text")
    reason = " ".join((reason or "").split()) or None  # one line, as /roll keeps it
    if reason is not None and len(reason) > REASON_MAX_CHARS:
        raise SceneFileError(f"{where}: the reason is limited to {REASON_MAX_CHARS} characters")
    result = turn.get("result")
    if result is not None and (
        isinstance(result, bool) or not isinstance(result, int) or abs(result) > RESULT_LIMIT
    ):
        raise SceneFileError(
            f"{where}: result must be a whole number from -{RESULT_LIMIT} to {RESULT_LIMIT}"
        )
    private = turn.get("private", False)
    if not isinstance(private, bool):
        raise SceneFileError(f"{where}: private must be true or false")
    return RollTurn(expr, reason, result, private)


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
