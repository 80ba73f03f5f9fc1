"""Which entries fired and why, as lines of text for `tavernkeep prompt --lore` and GMs."""

from __future__ import annotations

from .placement import FiredEntry, LoreActivation

__all__ = ["describe_activation"]


def _where(entry: FiredEntry) -> str:
    if entry.placement == "at_depth":
        return f"at depth {entry.depth} ({entry.role})"
    return "before the characters" if entry.placement == "before_char" else "after the characters"


def _line(entry: FiredEntry) -> str:
    return f"  {entry.book} › {entry.title}: {entry.why.describe()} [{entry.tokens} tokens]"


def describe_activation(activation: LoreActivation) -> list[str]:
    """A header line, then each fired entry under its placement, then what the budget dropped."""
    fired, dropped = activation.fired, activation.dropped
    if not fired and not dropped:
        return ["No lore entries fired."]
    lines = [
        f"{len(fired)} lore entries fired, {activation.used} of {activation.budget} tokens"
        + (f"; {len(dropped)} dropped for the budget" if dropped else "")
    ]
    groups: dict[str, list[FiredEntry]] = {}
    for entry in fired:
        groups.setdefault(_where(entry), []).append(entry)
    for where, entries in groups.items():
        lines.append(f"{where}:")
        lines.extend(_line(e) for e in entries)
    if dropped:
        lines.append("dropped (over the token budget):")
        lines.extend(_line(e) for e in dropped)
    return lines
