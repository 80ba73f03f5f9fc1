"""Why a lore entry is in a prompt: the reasons reports show, and activation's candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .compiled import CompiledEntry

__all__ = ["Candidate", "Undecided", "Why", "WhyKind"]

WhyKind = Literal["constant", "key", "recursion", "sticky", "held", "anchored"]


@dataclass(frozen=True, slots=True)
class Why:
    """The reason an entry fired."""

    kind: WhyKind
    key: str | None = None
    secondary: str | None = None
    level: int = 0
    via: str | None = None
    ago: int = 0
    left: int = 0
    origin: Why | None = None

    def describe(self) -> str:
        """One line for reports, e.g. `key "fog" (AND ANY: "pier")`."""
        if self.kind == "constant":
            return "constant"
        if self.kind == "sticky":
            first = self.origin.describe() if self.origin else "?"
            return f"sticky: fired {self.ago} turn(s) ago by {first}; {self.left} more turn(s)"
        if self.kind == "held":
            first = self.origin.describe() if self.origin else "?"
            return f"held until the window moves (fired by {first})"
        if self.kind == "anchored":
            now = self.origin.describe() if self.origin else "?"
            return f"{now}; placed after the turn it began firing on, until the window moves"
        text = f'key "{self.key}"'
        if self.secondary:
            text += f" ({self.secondary})"
        if self.kind == "recursion":
            text += f", recursion level {self.level} from {self.via}"
        return text


@dataclass(frozen=True, slots=True)
class Candidate:
    """An entry that fired, before the token budget has its say."""

    source: int
    entry: CompiledEntry
    why: Why


@dataclass(frozen=True, slots=True)
class Undecided:
    """An entry the time budget left undecided for the next prompt, and what was not done."""

    source: int
    entry: CompiledEntry
    reason: str
