"""Prompt formats (DESIGN.md section 5): group-inst, chatml and alpaca-limarp."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from bot.domain import FORMAT_NAMES, LENGTHS, Persona, PromptContext, PromptTurn

__all__ = [
    "AlpacaLimarpFormat",
    "ChatMLFormat",
    "FloorChoice",
    "GroupInstFormat",
    "PromptFormat",
    "RenderedPrompt",
    "UnknownFormatError",
    "get_format",
    "is_ooc",
    "join_names",
    "render_prompt",
]


class UnknownFormatError(ValueError):
    """Raised when a prompt format name is not one of FORMAT_NAMES."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown prompt format {name!r}; valid formats: {', '.join(FORMAT_NAMES)}"
        )
        self.name = name


@dataclass(frozen=True)
class FloorChoice:
    """The text pieces the director uses to let the model pick who speaks next."""

    lead: str
    npc: str
    player: str


class PromptFormat(Protocol):
    """A prompt layout: system block, one block per turn, and a generation header."""

    name: str
    separator: str

    def system_block(self, ctx: PromptContext) -> str:
        """Render the system / instruction block."""
        ...

    def turn_block(self, turn: PromptTurn) -> str:
        """Render one history turn; independent of its position in the prompt."""
        ...

    def response_header(self, ctx: PromptContext) -> str:
        """Return the generation prefix, without a speaker name."""
        ...

    def floor_choice(self) -> FloorChoice:
        """Return the pieces for letting the model choose the next role."""
        ...

    def stop_strings(self, ctx: PromptContext) -> list[str]:
        """Return the stop strings for a generation in this scene."""
        ...


def join_names(names: Sequence[str]) -> str:
    """Join names as "A", "A and B" or "A, B and C"."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def is_ooc(text: str) -> bool:
    """Tell whether a message is out of character ("((", "//" or "OOC:")."""
    head = text.lstrip()
    return head.startswith(("((", "//")) or head[:4].upper() == "OOC:"


def _player_stops(ctx: PromptContext) -> list[str]:
    """Return "\\n{Name}:" for each human-played character, without duplicates."""
    return list(dict.fromkeys(f"\n{p.name}:" for p in ctx.players))


def _speaker_line(turn: PromptTurn) -> str:
    """Render the "{Name}: {text}" line of a turn."""
    return f"{turn.speaker}: {turn.text}"


def _role(roles: dict[str, str], turn: PromptTurn) -> str:
    """Map a turn's role to a format's role word."""
    try:
        return roles[turn.role]
    except KeyError:
        raise ValueError(f"unknown turn role {turn.role!r}") from None


def _bio(persona: Persona) -> str:
    """Render a character entry of the seed-000 system prompt."""
    return f"{persona.name}\nCharacter Bio: {persona.sheet}"


def _group_system_prompt(ctx: PromptContext) -> str:
    """Build the seed-000 system prompt shared by group-inst and chatml."""
    names = [p.name for p in ctx.players]
    lines: list[str] = []
    if not names:
        lines.append(
            "You are involved in a multi-character internet-style roleplaying session. "
            "Focus on the other characters."
        )
    else:
        who = join_names(names)
        if len(names) == 1:
            opening = (
                f"with a human user, who is playing as {who}. "
                f"Do not generate dialogue for the user's character, {who}."
            )
        else:
            opening = (
                f"with human users, who are playing as {who}. "
                f"Do not generate dialogue for the users' characters, {who}."
            )
        lines.append(
            "You are involved in a multi-character internet-style roleplaying session "
            f"{opening} Focus on the other characters."
        )
        lines.append("[Human User]")
        lines.append("\n---\n".join(_bio(p) for p in ctx.players))
    lines.append("[Involved Characters]")
    for npc in ctx.npcs:
        lines.extend((_bio(npc), "---"))
    if ctx.scenario:
        lines.extend(("[Scenario]", ctx.scenario))
    lines.append("The roleplay begins now.")
    return "\n".join(lines)


class GroupInstFormat:
    """Seed 000's [INST]-block variant of ChatML, with non-alternating turns."""

    name = "group-inst"
    separator = "\n"
    _roles: ClassVar[dict[str, str]] = {"user": "user", "narration": "user", "model": "model"}

    def system_block(self, ctx: PromptContext) -> str:
        """Render the [INST]system block."""
        return f"[INST]system\n{_group_system_prompt(ctx)}[/INST]"

    def turn_block(self, turn: PromptTurn) -> str:
        """Render one [INST]user or [INST]model block."""
        return f"[INST]{_role(self._roles, turn)}\n{_speaker_line(turn)}[/INST]"

    def response_header(self, ctx: PromptContext) -> str:
        """Open a model block."""
        return "[INST]model\n"

    def floor_choice(self) -> FloorChoice:
        """Let the model continue with "[INST]" and then a role word."""
        return FloorChoice(lead="\n[INST]", npc="model", player="user")

    def stop_strings(self, ctx: PromptContext) -> list[str]:
        """Stop on block markers and on any player's speaker line."""
        return ["[/INST]", "[INST]", "<|im_end|>", *_player_stops(ctx)]


class ChatMLFormat:
    """Seed 000's ChatML layout, for 1-on-1 scenes or ChatML-native models."""

    name = "chatml"
    separator = "\n"
    _roles: ClassVar[dict[str, str]] = {"user": "user", "narration": "user", "model": "assistant"}

    def system_block(self, ctx: PromptContext) -> str:
        """Render the system message."""
        return f"<|im_start|>system\n{_group_system_prompt(ctx)}<|im_end|>"

    def turn_block(self, turn: PromptTurn) -> str:
        """Render one user or assistant message."""
        return f"<|im_start|>{_role(self._roles, turn)}\n{_speaker_line(turn)}<|im_end|>"

    def response_header(self, ctx: PromptContext) -> str:
        """Open an assistant message."""
        return "<|im_start|>assistant\n"

    def floor_choice(self) -> FloorChoice:
        """Let the model continue with "<|im_start|>" and then a role word."""
        return FloorChoice(lead="\n<|im_start|>", npc="assistant", player="user")

    def stop_strings(self, ctx: PromptContext) -> list[str]:
        """Stop on message markers and on any player's speaker line."""
        return ["<|im_end|>", "<|im_start|>", "[INST]", *_player_stops(ctx)]


class AlpacaLimarpFormat:
    """Seed 003's extended Alpaca layout with the LimaRP length modifier.

    With no players the instruction says "the user" in place of player names, and with no
    NPCs "the characters" in place of NPC names.
    """

    name = "alpaca-limarp"
    separator = "\n\n"
    _roles: ClassVar[dict[str, str]] = {"user": "Input", "narration": "Input", "model": "Response"}

    def system_block(self, ctx: PromptContext) -> str:
        """Render the instruction: personas (NPCs first), scenario, then the role line."""
        paragraphs = [f"{p.name}'s Persona: {p.sheet}" for p in (*ctx.npcs, *ctx.players)]
        if ctx.scenario:
            paragraphs.append(f"Scenario: {ctx.scenario}")
        npcs = join_names([n.name for n in ctx.npcs]) or "the characters"
        players = join_names([p.name for p in ctx.players]) or "the user"
        paragraphs.append(
            f"Play the role of {npcs}. You must engage in a roleplaying chat with {players} "
            f"below this line. Do not write dialogues and narration for {players}."
        )
        # The card asks for an empty line before "### Instruction:" for consistent tokenization.
        return "\n### Instruction:\n" + "\n\n".join(paragraphs)

    def turn_block(self, turn: PromptTurn) -> str:
        """Render one ### Input or ### Response section, never with a length modifier."""
        return f"### {_role(self._roles, turn)}:\n{_speaker_line(turn)}"

    def response_header(self, ctx: PromptContext) -> str:
        """Open the final ### Response section, with the scene's length modifier if any."""
        if not ctx.length:
            return "### Response:\n"
        if ctx.length not in LENGTHS:
            raise ValueError(f"unknown length {ctx.length!r}; valid lengths: {', '.join(LENGTHS)}")
        return f"### Response: (length = {ctx.length})\n"

    def floor_choice(self) -> FloorChoice:
        """Let the model continue with "### " and then a section word."""
        return FloorChoice(lead="\n\n### ", npc="Response", player="Input")

    def stop_strings(self, ctx: PromptContext) -> list[str]:
        """Stop on section headers, stray ChatML tokens and any player's speaker line."""
        return [
            "### Input",
            "### Response",
            "### Instruction",
            "<|im_end|>",
            "<|im_start|>",
            *_player_stops(ctx),
        ]


_FORMATS: dict[str, PromptFormat] = {
    f.name: f for f in (GroupInstFormat(), ChatMLFormat(), AlpacaLimarpFormat())
}


def get_format(name: str) -> PromptFormat:
    """Return the prompt format called `name`."""
    try:
        return _FORMATS[name]
    except KeyError:
        raise UnknownFormatError(name) from None


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt in pieces, so callers can extend it turn by turn."""

    system: str
    turns: tuple[str, ...]
    header: str
    separator: str
    stops: tuple[str, ...]

    @property
    def text(self) -> str:
        """Return the full prompt text."""
        return self.separator.join((self.system, *self.turns, self.header))


def render_prompt(
    fmt: PromptFormat,
    ctx: PromptContext,
    turns: Sequence[PromptTurn],
    speaker: str | None = None,
) -> RenderedPrompt:
    """Render a scene's prompt, dropping OOC turns and optionally forcing the speaker."""
    header = fmt.response_header(ctx)
    if speaker:
        # No trailing space: the model generates it, which keeps tokenization natural.
        header += f"{speaker}:"
    return RenderedPrompt(
        system=fmt.system_block(ctx),
        turns=tuple(fmt.turn_block(t) for t in turns if not is_ooc(t.text)),
        header=header,
        separator=fmt.separator,
        stops=tuple(fmt.stop_strings(ctx)),
    )
