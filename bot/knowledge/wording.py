"""Everything a person reads about whispers, tells and who is here."""

from __future__ import annotations

from collections.abc import Sequence

from bot.prompts.macros import join_names

# Shown after a speaker's name wherever a GM reads a turn only some characters witnessed.
WHISPER_MARK = "(whisper to {names})"
TELL_MARK = "(told to {names})"
NOBODY = "nobody"
TYPED_NAME_MAX = 80
WHISPER_USAGE = "Use /whisper NPC text: the NPC's name first, then what you say."


def typed_name(name: str) -> str:
    """A name someone typed, as an error repeats it: one line, bounded."""
    flat = " ".join(name.split()) or "(no name)"
    return flat if len(flat) <= TYPED_NAME_MAX else flat[: TYPED_NAME_MAX - 1] + "…"


def mark(kind: str, audience: Sequence[str]) -> str:
    """The GM's label of a whisper or a tell to these characters; "" for any other turn."""
    names = join_names(sorted(audience)) or NOBODY
    if kind == "whisper":
        return WHISPER_MARK.format(names=names)
    if kind == "tell":
        return TELL_MARK.format(names=names)
    return ""


def whispered(speaker: str, npc: str, text: str) -> str:
    """The whisper as its author sees it."""
    return f"*{speaker} whispers to **{npc}**:* {text}"


def answered(npc: str, text: str) -> str:
    """The NPC's private answer as the whisperer sees it."""
    return f"**{npc}** *(only you hear this)*: {text}"


def paused(npc: str) -> str:
    """A whisper stored in a paused scene."""
    return f"{npc} heard you, but the scene is paused: no answer comes."


def stopped(npc: str) -> str:
    """A whisper whose answer a scene end, clear or pause cut off."""
    return f"{npc} heard you, but the scene changed before they could answer."


def told(npc: str, in_cast: bool) -> str:
    """A GM's tell, confirmed."""
    later = "" if in_cast else " (not in the cast now: they know it when they join)"
    return f"Told **{npc}** alone{later}. No one else knows it."


def left(character: str) -> str:
    return f"**{character}** leaves the scene: they witness nothing until /scene enter."


def entered(character: str) -> str:
    return f"**{character}** enters the scene."


def already(character: str, here: bool) -> str:
    return f"**{character}** is already {'here' if here else 'away'}."


def who(cast: Sequence[tuple[str, bool]], present: Sequence[str], away: Sequence[str]) -> str:
    """`/scene who`: the NPCs (muted ones marked), and the players here and away."""
    npcs = [f"{name} (muted)" if muted else name for name, muted in cast]
    lines = [
        f"**NPCs** {', '.join(npcs) or NOBODY}",
        f"**Players here** {', '.join(present) or NOBODY}",
    ]
    if away:
        lines.append(f"**Away** {', '.join(away)}")
    return "\n".join(lines)


def secret_counts(whispers: int, tells: int) -> str:
    """The `/scene status` line counting turns only some characters know."""
    return f"**Secrets** {_count(whispers, 'whisper')} · {_count(tells, 'tell')}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
