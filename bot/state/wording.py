"""How tracked values read: status lines for the prompt and `/stat`, and their history."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.state.rules import (
    ChangeValue,
    Number,
    SceneState,
    Stat,
    StateError,
    Stats,
    StatValue,
    apply,
)
from bot.store import HistoryEntry

EMPTY_LIST = "nothing"
# A character's line in the prompt: 30 long lists would fill the whole context otherwise.
PROMPT_STATUS_MAX = 1000


def value_text(value: StatValue) -> str:
    """`12/20`, `15`, or `rope, lantern`."""
    if isinstance(value, Number):
        return str(value.value) if value.maximum is None else f"{value.value}/{value.maximum}"
    return ", ".join(value) or EMPTY_LIST


def stat_text(stat: Stat) -> str:
    """`HP 12/20`, `Gold 15`, `Inventory: rope, lantern`."""
    if isinstance(stat.value, Number):
        return f"{stat.key} {value_text(stat.value)}"
    return f"{stat.key}: {value_text(stat.value)}"


def status_line(name: str, stats: Stats, limit: int | None = None) -> str | None:
    """`Rook: HP 12/20; Gold 15; Inventory: rope, lantern`, keys in the order first set.

    `;` between values, since a list's items are separated by commas. None without values.
    Past `limit` characters the line ends with `…` after the last value that fits whole.
    """
    if not stats:
        return None
    head, parts = f"{name}: ", [stat_text(stat) for stat in stats.values()]
    line = head + "; ".join(parts)
    if limit is None or len(line) <= limit:
        return line
    kept: list[str] = []
    for part in parts:
        if len(head + "; ".join([*kept, part]) + "; …") > limit:
            break
        kept.append(part)
    if not kept:
        return line[: limit - 1] + "…"
    return head + "; ".join(kept) + "; …"


def change_text(op: str, value: ChangeValue) -> str:
    """`set 12/20`, `+3`, `-3`, `add rope`, `remove rope`, `removed`."""
    if op == "set" and isinstance(value, Number | tuple):
        return f"set {value_text(value)}"
    if op == "add" and isinstance(value, int):
        return f"{value:+d}"
    if isinstance(value, tuple):
        return f"{op} {', '.join(value)}"
    return "removed"


def _source(entry: HistoryEntry) -> str:
    if entry.turn_id is None:
        return "command"
    return f"turn {entry.turn_seq} ({entry.speaker})"


def history_lines(entries: Sequence[HistoryEntry], shown: int) -> list[str]:
    """One line per change, newest last, each with what the value became; the last `shown`."""
    stats: dict[str, Stat] = {}
    lines: list[str] = []
    for entry in entries:
        try:
            stats = apply(stats, entry.change)
        except StateError:
            lines.append(
                f"{_source(entry)}: {change_text(entry.change.op, entry.change.value)} (no effect)"
            )
            continue
        after = stats.get(entry.change.key.casefold())
        result = value_text(after.value) if after else "gone"
        lines.append(
            f"{_source(entry)}: {change_text(entry.change.op, entry.change.value)} → {result}"
        )
    return lines[-shown:]


def status_lines(state: SceneState, present: Iterable[tuple[str, int]]) -> list[str]:
    """A status line for each present (name, character id) that has values, in that order."""
    lines: list[str] = []
    seen: set[int] = set()
    for name, character_id in present:
        line = status_line(name, state.of(character_id), PROMPT_STATUS_MAX)
        if line and character_id not in seen:
            lines.append(line)
        seen.add(character_id)
    return lines
