"""Prompt formats: group-inst, chatml and alpaca-limarp."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Protocol

from bot.domain import FORMAT_NAMES, LENGTHS, LoreInsert, Persona, PromptContext, PromptTurn
from bot.errors import UserError
from bot.prompts.macros import join_names
from bot.prompts.segments import Prompt

__all__ = [
    "AlpacaLimarpFormat",
    "ChatMLFormat",
    "FloorChoice",
    "GroupInstFormat",
    "PromptFormat",
    "RenderedPrompt",
    "UnknownFormatError",
    "counted_turn_block",
    "get_format",
    "is_ooc",
    "join_names",
    "prompt_header",
    "prompt_stops",
    "render_prompt",
    "summary_block",
    "turn_block",
    "with_inserts",
]

# Turn blocks kept rendered: a few channels' windows of 100–200 turns each.
TURN_BLOCKS = 4096


class UnknownFormatError(UserError, ValueError):
    """Raised when a prompt format name is not one of FORMAT_NAMES."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown prompt format {name!r}; valid formats: {', '.join(FORMAT_NAMES)}"
        )
        self.name = name


@dataclass(frozen=True)
class FloorChoice:
    """The text pieces the director uses to let the model pick who speaks next."""

    lead: Prompt
    npc: str
    player: str


class PromptFormat(Protocol):
    """A prompt layout: system block, one block per turn, and a generation header."""

    name: str
    separator: str

    def __hash__(self) -> int: ...  # one shared instance per format, a key of the block caches

    def system_block(self, ctx: PromptContext) -> Prompt:
        """Render the system / instruction block."""
        ...

    def turn_block(self, turn: PromptTurn) -> Prompt:
        """Render one history turn; independent of its position in the prompt."""
        ...

    def lore_block(self, insert: LoreInsert) -> Prompt:
        """Render lore placed at a depth in the history, as a block of its own."""
        ...

    def response_header(self, ctx: PromptContext) -> Prompt:
        """Return the generation prefix, without a speaker name."""
        ...

    def player_header(self) -> Prompt:
        """Return the opening of a player's block, for drafting a player's post."""
        ...

    def floor_choice(self) -> FloorChoice:
        """Return the pieces for letting the model choose the next role."""
        ...

    def stop_strings(self, ctx: PromptContext) -> list[str]:
        """Return the stop strings for a generation in this scene."""
        ...


_MARK = Prompt.special


def is_ooc(text: str) -> bool:
    """Tell whether a message is out of character ("((", "//" or "OOC:")."""
    head = text.lstrip()
    return head.startswith(("((", "//")) or head[:4].upper() == "OOC:"


def _player_stops(ctx: PromptContext) -> list[str]:
    """Return "\\n{Name}:" for each human-played character, without duplicates."""
    return list(dict.fromkeys(f"\n{p.name}:" for p in ctx.players))


def _speaker_line(turn: PromptTurn) -> Prompt:
    """Render the "{Name}: {text}" line of a turn."""
    return Prompt.plain(f"{turn.speaker}: {turn.text}")


def _role(roles: dict[str, str], turn: PromptTurn) -> str:
    """Map a turn's role to a format's role word."""
    try:
        return roles[turn.role]
    except KeyError:
        raise ValueError(f"unknown turn role {turn.role!r}") from None


def _bio(persona: Persona) -> str:
    """Render a character entry of the seed-000 system prompt."""
    return f"{persona.name}\nCharacter Bio: {persona.sheet}"


_LORE_HEADER = "[Lore]"
_STATUS_HEADER = "[Status]"


def _group_system_prompt(ctx: PromptContext) -> Prompt:
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
    # Lore gets a bracketed section like the seed's own, so it never reads as part of a bio.
    if ctx.lore_before:
        lines.extend((_LORE_HEADER, *ctx.lore_before))
    if names:
        lines.append("[Human User]")
        lines.append("\n---\n".join(_bio(p) for p in ctx.players))
    lines.append("[Involved Characters]")
    for npc in ctx.npcs:
        lines.extend((_bio(npc), "---"))
    if ctx.status:
        lines.extend((_STATUS_HEADER, *ctx.status))
    if ctx.lore_after:
        lines.extend((_LORE_HEADER, *ctx.lore_after))
    if ctx.scenario:
        lines.extend(("[Scenario]", ctx.scenario))
    lines.append("The roleplay begins now.")
    return Prompt.plain("\n".join(lines))


class GroupInstFormat:
    """Seed 000's [INST]-block variant of ChatML, with non-alternating turns."""

    name = "group-inst"
    separator = "\n"
    _roles: ClassVar[dict[str, str]] = {"user": "user", "narration": "user", "model": "model"}
    _lore_roles: ClassVar[dict[str, str]] = {
        "system": "system",
        "user": "user",
        "assistant": "model",
    }

    def system_block(self, ctx: PromptContext) -> Prompt:
        """Render the [INST]system block."""
        return _MARK("[INST]system\n") + _group_system_prompt(ctx) + _MARK("[/INST]")

    def turn_block(self, turn: PromptTurn) -> Prompt:
        """Render one [INST]user or [INST]model block."""
        role = _role(self._roles, turn)
        return _MARK(f"[INST]{role}\n") + _speaker_line(turn) + _MARK("[/INST]")

    def lore_block(self, insert: LoreInsert) -> Prompt:
        """Render an [INST]system (user, model) block holding the lore text, without a name."""
        role = self._lore_roles[insert.role]
        return _MARK(f"[INST]{role}\n") + Prompt.plain(insert.text) + _MARK("[/INST]")

    def response_header(self, ctx: PromptContext) -> Prompt:
        """Open a model block."""
        return _MARK("[INST]model\n")

    def player_header(self) -> Prompt:
        """Open a user block."""
        return _MARK("[INST]user\n")

    def floor_choice(self) -> FloorChoice:
        """Let the model continue with "[INST]" and then a role word."""
        return FloorChoice(lead=Prompt.plain("\n") + _MARK("[INST]"), npc="model", player="user")

    def stop_strings(self, ctx: PromptContext) -> list[str]:
        """Stop on block markers and on any player's speaker line."""
        return ["[/INST]", "[INST]", "<|im_end|>", *_player_stops(ctx)]


class ChatMLFormat:
    """Seed 000's ChatML layout, for 1-on-1 scenes or ChatML-native models."""

    name = "chatml"
    separator = "\n"
    _roles: ClassVar[dict[str, str]] = {"user": "user", "narration": "user", "model": "assistant"}

    def system_block(self, ctx: PromptContext) -> Prompt:
        """Render the system message."""
        return _MARK("<|im_start|>system\n") + _group_system_prompt(ctx) + _MARK("<|im_end|>")

    def turn_block(self, turn: PromptTurn) -> Prompt:
        """Render one user or assistant message."""
        role = _role(self._roles, turn)
        return _MARK(f"<|im_start|>{role}\n") + _speaker_line(turn) + _MARK("<|im_end|>")

    def lore_block(self, insert: LoreInsert) -> Prompt:
        """Render a system (user, assistant) message holding the lore text, without a name."""
        start = _MARK(f"<|im_start|>{insert.role}\n")
        return start + Prompt.plain(insert.text) + _MARK("<|im_end|>")

    def response_header(self, ctx: PromptContext) -> Prompt:
        """Open an assistant message."""
        return _MARK("<|im_start|>assistant\n")

    def player_header(self) -> Prompt:
        """Open a user message."""
        return _MARK("<|im_start|>user\n")

    def floor_choice(self) -> FloorChoice:
        """Let the model continue with "<|im_start|>" and then a role word."""
        lead = Prompt.plain("\n") + _MARK("<|im_start|>")
        return FloorChoice(lead=lead, npc="assistant", player="user")

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

    def system_block(self, ctx: PromptContext) -> Prompt:
        """Render the instruction: lore, personas (NPCs first), lore, scenario, the role line."""
        # Lore paragraphs go in unlabelled, as SillyTavern's Alpaca story string puts them.
        paragraphs = ["\n".join(ctx.lore_before)] if ctx.lore_before else []
        paragraphs += [f"{p.name}'s Persona: {p.sheet}" for p in (*ctx.npcs, *ctx.players)]
        if ctx.status:
            paragraphs.append("\n".join(("Status:", *ctx.status)))
        if ctx.lore_after:
            paragraphs.append("\n".join(ctx.lore_after))
        if ctx.scenario:
            paragraphs.append(f"Scenario: {ctx.scenario}")
        npcs = join_names([n.name for n in ctx.npcs]) or "the characters"
        players = join_names([p.name for p in ctx.players]) or "the user"
        paragraphs.append(
            f"Play the role of {npcs}. You must engage in a roleplaying chat with {players} "
            f"below this line. Do not write dialogues and narration for {players}."
        )
        # The card asks for an empty line before "### Instruction:" for consistent tokenization.
        return Prompt.plain("\n") + _MARK("### Instruction:\n") + "\n\n".join(paragraphs)

    def turn_block(self, turn: PromptTurn) -> Prompt:
        """Render one ### Input or ### Response section, never with a length modifier."""
        return _MARK(f"### {_role(self._roles, turn)}:\n") + _speaker_line(turn)

    def lore_block(self, insert: LoreInsert) -> Prompt:
        """Render lore as a ### Input section (### Response for the assistant role)."""
        # Alpaca has one instruction, at the top; mid-chat system text is input, as in SillyTavern.
        section = "Response" if insert.role == "assistant" else "Input"
        return _MARK(f"### {section}:\n") + Prompt.plain(insert.text)

    def response_header(self, ctx: PromptContext) -> Prompt:
        """Open the final ### Response section, with the scene's length modifier if any."""
        if not ctx.length:
            return _MARK("### Response:\n")
        if ctx.length not in LENGTHS:
            raise ValueError(f"unknown length {ctx.length!r}; valid lengths: {', '.join(LENGTHS)}")
        return _MARK(f"### Response: (length = {ctx.length})\n")

    def player_header(self) -> Prompt:
        """Open an ### Input section."""
        return _MARK("### Input:\n")

    def floor_choice(self) -> FloorChoice:
        """Let the model continue with "### " and then a section word."""
        return FloorChoice(
            lead=Prompt.plain("\n\n") + _MARK("### "), npc="Response", player="Input"
        )

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

    system: Prompt
    turns: tuple[Prompt, ...]
    header: Prompt
    separator: str
    stops: tuple[str, ...]

    @property
    def prompt(self) -> Prompt:
        """The full prompt, in segments."""
        return Prompt.join(self.separator, (self.system, *self.turns, self.header))

    @property
    def text(self) -> str:
        """The full prompt text."""
        return self.prompt.text


def prompt_header(
    fmt: PromptFormat, ctx: PromptContext, speaker: str | None, player: bool
) -> Prompt:
    """The generation prefix: an NPC's (model) block, or a player's when drafting their post."""
    header = fmt.player_header() if player else fmt.response_header(ctx)
    # No trailing space: the model generates it, which keeps tokenization natural.
    return header + f"{speaker}:" if speaker else header


def with_inserts(
    fmt: PromptFormat, blocks: Sequence[Prompt], inserts: Sequence[LoreInsert]
) -> tuple[Prompt, ...]:
    """`blocks` with each lore block `depth` turns from the end (deeper: before the first)."""
    at: dict[int, list[Prompt]] = {}
    for insert in inserts:
        at.setdefault(max(0, len(blocks) - insert.depth), []).append(fmt.lore_block(insert))
    out: list[Prompt] = []
    for index, block in enumerate(blocks):
        out.extend(at.get(index, ()))
        out.append(block)
    out.extend(at.get(len(blocks), ()))
    return tuple(out)


SUMMARY_SPEAKER = "Story so far"


def summary_block(fmt: PromptFormat, text: str) -> Prompt:
    """The story so far as a narration block ("Story so far: …"), plain and defused."""
    # A user-role narration block, like the seeds' own turns: no marker the model never saw.
    return fmt.turn_block(PromptTurn("narration", SUMMARY_SPEAKER, text))


@lru_cache(maxsize=TURN_BLOCKS)
def turn_block(fmt: PromptFormat, turn: PromptTurn) -> Prompt:
    """`fmt.turn_block(turn)`, built once per turn: every round renders its whole window (and
    counts it first), the same turns as the round before but one or two."""
    return fmt.turn_block(turn)


@lru_cache(maxsize=TURN_BLOCKS)
def counted_turn_block(fmt: PromptFormat, turn: PromptTurn) -> Prompt:
    """The turn's block with the separator that joins it to the one before: what is counted."""
    return fmt.separator + turn_block(fmt, turn)


def render_prompt(
    fmt: PromptFormat,
    ctx: PromptContext,
    turns: Sequence[PromptTurn],
    speaker: str | None = None,
    inserts: Sequence[LoreInsert] = (),
    *,
    player: bool = False,
) -> RenderedPrompt:
    """Render a scene's prompt, dropping OOC turns and optionally forcing the speaker.

    Lore `inserts` go in at their depth, the story so far (`ctx.summary`) right after the
    system block. With `player`, the header opens `speaker`'s own
    block (a draft of a player's post): the stops then cut at any NPC's or other player's
    line instead of at the player's own.
    """
    blocks = [turn_block(fmt, t) for t in turns if not is_ooc(t.text)]
    summary = (summary_block(fmt, ctx.summary),) if ctx.summary else ()
    return RenderedPrompt(
        system=fmt.system_block(ctx),
        turns=(*summary, *with_inserts(fmt, blocks, inserts)),
        header=prompt_header(fmt, ctx, speaker, player),
        separator=fmt.separator,
        stops=prompt_stops(fmt, ctx, speaker, player=player),
    )


def prompt_stops(
    fmt: PromptFormat, ctx: PromptContext, speaker: str | None, *, player: bool = False
) -> tuple[str, ...]:
    """Where a generation for `speaker` stops: at any other character's line.

    With `player` (a draft of `speaker`'s post), at any NPC's or other player's line.
    """
    stops = fmt.stop_strings(ctx)
    if player:
        own = f"\n{speaker}:"
        stops = [s for s in stops if s != own] + [f"\n{npc.name}:" for npc in ctx.npcs]
    return tuple(dict.fromkeys(stops))
