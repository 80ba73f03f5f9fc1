"""Plain value types shared by the prompt formats, the director, the engines and the store."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Role = Literal["user", "model", "narration"]
ROLES: tuple[Role, ...] = ("user", "model", "narration")
LoreRole = Literal["system", "user", "assistant"]
FORMAT_NAMES: tuple[str, ...] = ("group-inst", "chatml", "alpaca-limarp")
LENGTHS: tuple[str, ...] = (
    "micro",
    "tiny",
    "short",
    "medium",
    "long",
    "massive",
    "huge",
    "enormous",
    "humongous",
    "unlimited",
)
REPLY_MODES: tuple[str, ...] = ("auto", "table", "mention", "manual")
NAME_MAX = 80  # character and speaker names (Discord webhook names allow 80 too)


@dataclass(frozen=True)
class Persona:
    """A character as the prompt sees it: a name and its rendered sheet.

    `sheet` is what every speaker may read; `own_sheet`, when set, is the whole sheet with what
    only the character itself knows (its Secret fields), for its own prompts.
    """

    name: str
    sheet: str
    character_id: int | None = None
    present: bool = True  # in the scene now (a player who left is not)
    own_sheet: str | None = None

    def as_read_by_owner(self) -> Persona:
        """This persona as its own prompts show it: the whole sheet."""
        return self if self.own_sheet is None else replace(self, sheet=self.own_sheet)


@dataclass(frozen=True)
class PromptTurn:
    """One history entry as the prompt sees it."""

    role: Role
    speaker: str
    text: str


@dataclass(frozen=True)
class PromptContext:
    """Everything about a scene that the system/instruction block is built from."""

    players: tuple[Persona, ...]
    npcs: tuple[Persona, ...]
    scenario: str | None = None
    length: str | None = None
    lore_before: tuple[str, ...] = ()  # lore entries before the character definitions
    lore_after: tuple[str, ...] = ()  # and after them
    summary: str | None = None  # the story so far, a block of its own after the system block
    status: tuple[str, ...] = ()  # tracked values, a line per character, after the sheets


@dataclass(frozen=True)
class LoreInsert:
    """Lore placed as a block of its own, `depth` turns from the end of the history."""

    depth: int
    role: LoreRole
    text: str


@dataclass(frozen=True)
class DiceRoll:
    """One roll as stored with a turn: what was rolled, why, and how it came out."""

    expr: str  # as rolled, normalised (`1d20+5`)
    total: int  # the sum, or the number of successes for success counting
    detail: str  # the breakdown a person reads (`12 + 5`)
    reason: str | None = None


StateOp = Literal["set", "add", "remove"]


@dataclass(frozen=True)
class StateEdit:
    """One change to a character's tracked value, as asked for (checked where it is applied).

    `value` is the text as written: `12/20` or `15` for `set`, `-3` or `rope` for `add`,
    `rope` for `remove`.
    """

    character: str
    key: str
    op: StateOp
    value: str


@dataclass(frozen=True)
class Sampler:
    """Sampling settings for one generation."""

    temperature: float = 0.8
    min_p: float = 0.1
    top_p: float = 1.0
    repeat_penalty: float = 1.05
    max_tokens: int = 300
    seed: int = -1


TALKATIVENESS_DEFAULT = 50  # SillyTavern's default (0.5 there), as a percentage


@dataclass(frozen=True)
class Voice:
    """An NPC's own settings; None leaves the scene's (or the default) in place."""

    temperature: float | None = None
    min_p: float | None = None
    max_tokens: int | None = None
    length: str | None = None  # one of `LENGTHS`: the length asked of this NPC's turns
    talkativeness: int | None = None  # 0-100: how often the model's choice may land on it
    backend: str | None = None  # a named backend of the settings; None: the default engine

    def sampler(self, base: Sampler) -> Sampler:
        """`base` with this voice's overrides."""
        return replace(
            base,
            temperature=base.temperature if self.temperature is None else self.temperature,
            min_p=base.min_p if self.min_p is None else self.min_p,
            max_tokens=base.max_tokens if self.max_tokens is None else self.max_tokens,
        )

    @property
    def talks(self) -> int:
        """Its talkativeness, the default when unset."""
        return TALKATIVENESS_DEFAULT if self.talkativeness is None else self.talkativeness


class CancelToken:
    """Set it to stop a running generation (or a whole round) at the next token."""

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
