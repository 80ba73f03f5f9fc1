"""Lore entries as commands write them and as GMs read them: input, entry text, prompt report."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.channel.ports import Reply
from bot.channel.text import MESSAGE_LIMIT
from bot.errors import UserError
from bot.lore import LoreActivation, Lorebook, LoreEntry, LoreError, LoreLimits, check_book
from bot.lore.character_filter import (
    CARD_KEY,
    EXTENSION_KEYS,
    filter_json,
    names_from_text,
)
from bot.lore.model import LOGICS, Logic
from bot.lore.report import describe_activation, shortfall

PLACEMENTS = ("before_char", "after_char", "at_depth")
# SillyTavern's numeric positions for the placements a command can choose (0, 1, 4: at depth).
_ST_POSITION = {"before_char": 0, "after_char": 1, "at_depth": 4}
_LOGIC_NAMES: dict[Logic, str] = {
    "and_any": "AND ANY",
    "not_all": "NOT ALL",
    "not_any": "NOT ANY",
    "and_all": "AND ALL",
}
# A `/regex/flags` key may hold commas; anything else ends at the next comma.
_KEY = re.compile(r"\s*(/(?:\\.|[^/\\])+/[a-z]*(?=\s*(?:,|$))|[^,]+)")


def split_keys(text: str) -> tuple[str, ...]:
    """Comma-separated keys, trimmed, empty ones dropped."""
    return tuple(k for k in (m.group(1).strip() for m in _KEY.finditer(text)) if k)


@dataclass(frozen=True)
class EntryInput:
    """What `/lore add` or `/lore edit` carried; None leaves a field as it is."""

    keys: str | None = None
    content: str | None = None
    secondary_keys: str | None = None
    logic: str | None = None
    constant: bool | None = None
    placement: str | None = None
    depth: int | None = None
    order: int | None = None
    enabled: bool | None = None
    title: str | None = None
    characters: str | None = None  # `Mara, Rook`, `!Mara` (all but Mara), empty or `everyone`

    def changes_anything(self) -> bool:
        return any(getattr(self, f.name) is not None for f in dataclasses.fields(self))

    def apply(self, entry: LoreEntry, limits: LoreLimits) -> LoreEntry:
        """`entry` with these changes, checked against the caps."""
        changes: dict[str, Any] = {}
        extensions = dict(entry.extensions)
        if self.keys is not None:
            changes["keys"] = split_keys(self.keys)
        if self.content is not None:
            changes["content"] = self.content.strip()
        if self.secondary_keys is not None:
            secondary = split_keys(self.secondary_keys)
            changes.update(secondary_keys=secondary, selective=bool(secondary))
        if self.logic is not None:
            if self.logic not in LOGICS:
                raise UserError(f"logic must be one of: {', '.join(LOGICS)}.")
            extensions["selectiveLogic"] = LOGICS.index(self.logic)  # as SillyTavern writes it
        if self.constant is not None:
            changes["constant"] = self.constant
        if self.enabled is not None:
            changes["enabled"] = self.enabled
        if self.order is not None:
            changes["insertion_order"] = self.order
        if self.title is not None:
            # SillyTavern shows `comment` as the title; a card entry with a `name` shows that.
            changes["name" if entry.name is not None else "comment"] = self.title.strip()
        placement = self.placement or ("at_depth" if self.depth is not None else None)
        if placement is not None:
            if placement not in PLACEMENTS:
                raise UserError(f"placement must be one of: {', '.join(PLACEMENTS)}.")
            extensions["position"] = _ST_POSITION[placement]
            changes["position"] = "before_char" if placement == "before_char" else "after_char"
        if self.depth is not None:
            extensions["depth"] = self.depth
        if self.characters is not None:
            changes["extras"] = _with_characters(entry, extensions, self.characters)
        changed = dataclasses.replace(entry, extensions=extensions, **changes)
        return checked_entry(changed, limits)


def _with_characters(entry: LoreEntry, extensions: dict[str, Any], text: str) -> dict[str, Any]:
    """The entry's extras with the filter `text` gives, where SillyTavern keeps it.

    `extensions` loses the places other tools kept a filter in, so that none of them outlives
    the one written here (or comes back when it is lifted).
    """
    names, exclude = names_from_text(text)  # its errors are one line for the GM
    previous = entry.filter_data
    for key in EXTENSION_KEYS:
        extensions.pop(key, None)
    extras = dict(entry.extras)
    extras.pop(CARD_KEY, None)
    if names:
        extras[CARD_KEY] = filter_json(names, exclude, previous)
    return extras


def checked_entry(entry: LoreEntry, limits: LoreLimits) -> LoreEntry:
    """An entry fit to store: content, keys unless constant, and within the caps."""
    if not entry.content.strip():
        raise UserError("A lore entry needs some content.")
    if not entry.constant and not any(k.strip() for k in entry.keys):
        raise UserError("A lore entry needs at least one key (or constant: True).")
    try:
        check_book(Lorebook(entries=(entry,)), limits)
    except LoreError as exc:
        raise UserError(str(exc).replace("That lorebook's entry 1", "That entry")) from None
    return entry


def _where(entry: LoreEntry) -> str:
    if entry.placement == "at_depth":
        return f"at depth {entry.depth} ({entry.role})"
    if entry.placement == "outlet":
        return "an outlet (placed only by a macro)"
    return "before the characters" if entry.placement == "before_char" else "after the characters"


def entry_label(position: int, entry: LoreEntry) -> str:
    """`#3 Title`, the way lists and autocomplete name an entry."""
    return f"#{position + 1} {entry.title}"


def entry_summary(position: int, entry: LoreEntry) -> str:
    """One line for a book overview."""
    how = "constant" if entry.constant else "keys: " + ", ".join(entry.keys[:6])
    if len(entry.keys) > 6 and not entry.constant:
        how += ", …"
    off = " (disabled)" if not entry.enabled else ""
    only = entry.characters
    who = f" · {only.describe()}" if only is not None else ""
    return f"- **{entry_label(position, entry)}**{off} · {how}{who}"[:300]


def entry_text(book: str, position: int, entry: LoreEntry) -> str:
    """Everything a GM needs to read or fix one entry: keys, logic, placement, content."""
    lines = [f"**{book}** › **{entry_label(position, entry)}**"]
    lines.append("Keys: " + (", ".join(entry.keys) or "none"))
    if entry.needs_secondary:
        secondary = ", ".join(entry.secondary_keys or ())
        lines.append(f"Secondary keys ({_LOGIC_NAMES[entry.logic]}): {secondary}")
    facts = ["constant" if entry.constant else "fires on its keys", _where(entry)]
    facts.append(f"order {entry.insertion_order:g}")
    if entry.priority is not None:
        facts.append(f"priority {entry.priority:g}")
    if entry.sticky is not None:
        facts.append(f"sticky {entry.sticky}")
    if entry.cooldown:
        facts.append(f"cooldown {entry.cooldown}")
    if entry.chance < 100:
        facts.append(f"{entry.chance:g}% chance")
    if entry.delay:
        facts.append(f"from turn {entry.delay}")
    if entry.groups:
        first = " first" if entry.group_override else ""
        facts.append(f"group {', '.join(entry.groups)} (weight {entry.group_weight:g}{first})")
    if not entry.enabled:
        facts.append("disabled")
    lines.append(" · ".join(facts))
    lines.extend(_characters_lines(entry))
    lines.extend(("", entry.content))
    return "\n".join(lines)


def _characters_lines(entry: LoreEntry) -> list[str]:
    """The entry's character filter, and its SillyTavern tags (kept for export, not used)."""
    lines = []
    only = entry.characters
    if only is not None:
        lines.append(f"Characters: {only.describe()}")
    raw = entry.filter_data
    tags = raw.get("tags") if isinstance(raw, dict) else None
    if isinstance(tags, list) and tags:
        lines.append(f"SillyTavern tags in its filter: {len(tags)} (kept for export, not used)")
    return lines


def book_overview(name: str, book: Lorebook, entries: Sequence[tuple[int, LoreEntry]]) -> str:
    """A book's settings, then one line per entry."""
    facts = [f"{len(entries)} entries"]
    if book.scan_depth is not None:
        facts.append(f"scan depth {book.scan_depth}")
    if book.token_budget is not None:
        facts.append(f"budget {book.token_budget} tokens")
    lines = [f"**{name}** · {' · '.join(facts)}"]
    if book.description:
        lines.append(book.description.strip()[:300])
    lines.extend(entry_summary(p, e) for p, e in entries)
    return "\n".join(lines)


def long_reply(text: str, header: str, filename: str) -> Reply:
    """`text` as the message, or as a file under `header` when Discord would refuse it."""
    if len(text) <= MESSAGE_LIMIT:
        return Reply(text)
    return Reply(header, file=(filename, text.encode()))


def prompt_reply(note: str, prompt: str, activation: LoreActivation, has_lore: bool) -> Reply:
    """The `/scene prompt` answer: the prompt file and, with lore, which entries fired and why."""
    files = [("prompt.txt", prompt.encode())]
    if not has_lore and not activation.refused:  # books left out are news even if all were
        return Reply(note, file=files[0])
    report = "\n".join(describe_activation(activation))
    text = f"{note}\n{report}"
    if len(text) > MESSAGE_LIMIT:
        missing = shortfall(activation)
        text = (
            f"{note}\n{len(activation.fired)} lore entries fired"
            + (f"; {missing}" if missing else "")
            + ": see lore.txt."
        )
        files.append(("lore.txt", (report + "\n").encode()))
    return Reply(text, file=files[0], more_files=tuple(files[1:]))
