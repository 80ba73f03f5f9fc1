"""Which entries fired and why, as lines of text for `tavernkeep prompt --lore` and GMs."""

from __future__ import annotations

from .placement import FiredEntry, LoreActivation

__all__ = ["describe_activation", "shortfall"]


def _where(entry: FiredEntry) -> str:
    if entry.placement == "at_depth":
        return f"at depth {entry.depth} ({entry.role})"
    return "before the characters" if entry.placement == "before_char" else "after the characters"


def _line(entry: FiredEntry) -> str:
    only = f" ({entry.only.describe()})" if entry.only is not None else ""
    return f"  {entry.book} › {entry.title}{only}: {entry.why.describe()} [{entry.tokens} tokens]"


def shortfall(activation: LoreActivation) -> str:
    """What did not get its say, for a header: entries left undecided, books left out."""
    parts = []
    if activation.unevaluated:
        parts.append(f"{len(activation.unevaluated)} not evaluated for lack of time")
    if activation.refused:
        parts.append(f"{len(activation.refused)} lorebook(s) left out")
    return "; ".join(parts)


def describe_activation(activation: LoreActivation) -> list[str]:
    """A header, the fired entries by placement, then what the budgets and caps left out."""
    fired, dropped = activation.fired, activation.dropped
    late, refused = activation.unevaluated, activation.refused
    if not fired and not dropped and not late and not refused:
        return ["No lore entries fired."]
    missing = shortfall(activation)
    lines = [
        f"{len(fired)} lore entries fired, {activation.used} of {activation.budget} tokens"
        + (f"; {len(dropped)} dropped for the budget" if dropped else "")
        + (f"; {missing}" if missing else "")
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
    if late:
        # The scan stops a book when its time is up; these are what it had not decided then.
        lines.append("not evaluated (the lore time budget ran out):")
        lines.extend(f"  {u.book} › {u.title}: {u.reason}" for u in late)
    if refused:
        lines.append("left out (over the lorebook caps):")
        lines.extend(f"  {line}" for line in refused)
    return lines
