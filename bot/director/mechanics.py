"""Dice and state markers in generation: the teaching, the marker shapes, the resolving loop.

With mechanics on, a `]` stop ends generation at every closing bracket. If the text since the
last stop holds an open `[` that starts a marker (`[roll 1d20+3 Stealth]`, `[Rook HP -3]`), the
resolver turns it into its outcome (or it is dropped) and generation goes on from the prompt and
the text so far, so the model narrates an outcome it did not choose. Any other open bracket gets
its `]` back and generation goes on the same way; with no open bracket the turn has ended.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.director.types import DirectorEngine, MarkerOutcome, MarkerResolver, SceneView
from bot.domain import CancelToken, DiceRoll, PromptContext, StateEdit
from bot.engine.base import GenerationRequest
from bot.errors import UserError
from bot.prompts import Prompt, PromptFormat

log = logging.getLogger(__name__)

MARKER_STOP = "]"
MARKER_MAX = 120  # characters between the brackets: longer bracketed text is never a marker
MAX_MARKERS = 8  # per turn: the next one ends the turn (dropped), so a looping model stops
MAX_PIECES = 20  # generations per turn, plain brackets included

# `roll` then the expression and an optional reason; the resolver checks the expression.
_ROLL = re.compile(r"roll(?:\s.*)?", re.IGNORECASE | re.DOTALL)
# Character and key (two words at least, either may hold spaces), then `=`, `+` or `-` and a
# value: `Rook HP -3`, `Rook HP = 12/20`, `Marta Vell Inventory +rope`. Which words name the
# character and which the key is the resolver's to decide: it knows both.
_STATE = re.compile(r"[^\W_][\w '’.-]*?\s[^\W_][\w '’.-]*?\s*[=+-]\s*\S.*", re.DOTALL)
_CLOSED = re.compile(rf"[ \t]*\[([^\[\]\n]{{1,{MARKER_MAX}}})\]")  # with the spaces before it

TEACHING = (
    "[Dice and State]\n"
    "When the outcome of an action is uncertain, do not decide it: write a roll marker such as "
    "[roll 1d20+3 Stealth] and the result is written into it; then narrate what that result "
    "means. When a character's tracked value changes, write a state marker with the "
    "character's name, the value's name and the change: [{name} HP -3], [{name} Gold +10], "
    "[{name} HP = 12/20], [{name} Inventory +rope], [{name} Inventory -rope]. Never write a "
    "result yourself."
)


def is_marker(inner: str) -> bool:
    """Whether the text between `[` and `]` is a marker (valid or not) rather than prose."""
    if not 0 < len(inner) <= MARKER_MAX or "\n" in inner or "[" in inner:
        return False
    return bool(_ROLL.fullmatch(inner) or _STATE.fullmatch(inner))


def markers_in(text: str) -> list[str]:
    """The closed markers in `text`, as written (brackets included)."""
    return [m.group().lstrip(" \t") for m in _CLOSED.finditer(text) if is_marker(m.group(1))]


def drop_markers(text: str) -> str:
    """`text` without its closed markers (text nothing resolves, such as a player's draft)."""
    return _CLOSED.sub(lambda m: "" if is_marker(m.group(1)) else m.group(), text)


def teaching(ctx: PromptContext) -> str:
    """The paragraph that teaches the markers, with one of the scene's characters as example."""
    people = (*ctx.npcs, *ctx.players)
    return TEACHING.format(name=people[0].name if people else "Mara")


def taught_system(system: Prompt, fmt: PromptFormat, ctx: PromptContext) -> Prompt:
    """The system block with the teaching as its last paragraph, before its closing marker."""
    segments = system.segments
    # A format's block ends with its closing marker (group-inst, chatml) or with text (alpaca).
    cut = len(segments) - 1 if segments and segments[-1].special else len(segments)
    body, closer = Prompt(segments[:cut]), Prompt(segments[cut:])
    return body + fmt.separator + Prompt.plain(teaching(ctx)) + closer


def system_block(scene: SceneView, ctx: PromptContext) -> Prompt:
    """The scene's system block for `ctx`, teaching the markers when mechanics are on."""
    block = scene.fmt.system_block(ctx)
    return taught_system(block, scene.fmt, ctx) if scene.mechanics else block


class RefuseAll:
    """The resolver of a scene with mechanics on but nothing to resolve with: drops every marker."""

    def resolve(self, marker: str) -> MarkerOutcome | None:
        return None


def resolver_of(scene: SceneView) -> MarkerResolver | None:
    """What resolves the scene's markers while generating; None with mechanics off."""
    if not scene.mechanics:
        return None
    return scene.resolver or RefuseAll()


def open_marker(piece: str) -> int | None:
    """Where the open bracket that starts a marker is in `piece`, if `piece` ends inside one."""
    start = piece.rfind("[")
    if start < 0 or "]" in piece[start:]:
        return None
    return start if is_marker(piece[start + 1 :]) else None


@dataclass(frozen=True)
class Mark:
    """A resolved marker: where its outcome ends in the generated text, and the outcome."""

    end: int
    outcome: MarkerOutcome


@dataclass(frozen=True)
class Said:
    """A reply as it is stored, with the rolls and state changes written into it, in order."""

    text: str
    rolls: tuple[DiceRoll, ...] = ()
    edits: tuple[StateEdit, ...] = ()


@dataclass(frozen=True)
class Spoken:
    """Generated text with every marker in it resolved or dropped, and the outcomes."""

    text: str
    marks: tuple[Mark, ...] = ()

    def said(self, cleaned: str) -> Said:
        """`cleaned` (`text` trimmed and cut) with the outcomes of the markers it still holds."""
        # The clean-up keeps one stretch of the text: outcomes past its end were cut off.
        at = self.text.find(cleaned) if cleaned else -1
        end = at + len(cleaned) if at >= 0 else 0
        kept = [m.outcome for m in self.marks if m.end <= end]
        rolls = tuple(o.roll for o in kept if o.roll is not None)
        return Said(cleaned, rolls, tuple(o.edit for o in kept if o.edit is not None))


class HeldStream:
    """Streams generated text on, holding back what may still turn out to be a marker."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        self.sink = sink
        self.piece = ""
        self.sent = 0

    def feed(self, text: str) -> None:
        self.piece += text
        # An open bracket within a marker's length of the end may still start one.
        # Only a bracket not closed yet may open a marker (a piece never holds the `]` stop).
        tail = max(self.sent, len(self.piece) - MARKER_MAX - 1, self.piece.rfind("]") + 1)
        held = self.piece.find("[", tail)
        # Trailing spaces wait too: a dropped marker takes the spaces before it along.
        self._send_to(len(self.piece[: held if held >= 0 else None].rstrip()))

    def end_piece(self, final: str) -> None:
        """The piece is over and reads `final` (what was sent is always a prefix of it)."""
        self.piece, self.sent = final, min(self.sent, len(final))
        self._send_to(len(final))
        self.piece, self.sent = "", 0

    def _send_to(self, end: int) -> None:
        if end > self.sent:
            self.sink(self.piece[self.sent : end])
            self.sent = end


async def generate(
    engine: DirectorEngine,
    request: GenerationRequest,
    cancel: CancelToken,
    on_text: Callable[[str], None] | None,
    resolver: MarkerResolver | None,
) -> Spoken:
    """Generate to the end of the turn, resolving markers on the way (None: mechanics off)."""
    if resolver is None:
        return Spoken((await engine.complete(request, cancel, on_text)).text)
    stream = HeldStream(on_text) if on_text is not None else None
    stops = (*request.stops, MARKER_STOP)
    text, marks, seen = "", list[Mark](), 0
    for _ in range(MAX_PIECES):
        remaining = request.sampler.max_tokens
        if text:
            (used,) = await engine.count_many([Prompt.plain(text)])
            remaining -= used
        if remaining <= 0:
            break
        completion = await engine.complete(
            replace(
                request,
                prompt=request.prompt + Prompt.plain(text) if text else request.prompt,
                sampler=replace(request.sampler, max_tokens=remaining),
                stops=stops,
            ),
            cancel,
            stream.feed if stream is not None else None,
        )
        piece = completion.text
        more = completion.finish_reason == "stop" and not cancel.cancelled
        start = open_marker(piece)
        if start is None:
            # An open bracket means the `]` stop fired (or the model ended inside it, and then
            # the bracket is closed for it): keep the `]` and go on. None: the turn has ended.
            more = more and piece.rfind("[") > piece.rfind("]")
            final = piece + MARKER_STOP if more else piece
        else:
            seen += 1
            outcome, more = _settle(resolver, piece[start:], more, seen)
            kept = piece[:start]
            final = kept + outcome.text if outcome is not None else kept.rstrip()
            if outcome is not None:
                marks.append(Mark(len(text) + len(final), outcome))
        if stream is not None:
            stream.end_piece(final)
        text += final
        if not more:
            break
    return Spoken(text, tuple(marks))


def _settle(
    resolver: MarkerResolver, marker: str, finished: bool, seen: int
) -> tuple[MarkerOutcome | None, bool]:
    """The outcome of `marker` (from its `[`), or None to drop it; and whether to go on."""
    if not finished:  # cut off by the token limit or a cancel: never resolved
        log.info("dropped unfinished marker %r", marker)
        return None, False
    if seen > MAX_MARKERS:
        log.info("marker %r is past the turn's %d: the turn ends there", marker, MAX_MARKERS)
        return None, False
    # A model that saw results in the history may write one in: it is never passed on.
    asked = marker[1:].split(":", 1)[0].strip()
    try:
        outcome = resolver.resolve(asked)
    except UserError as exc:  # a resolver's refusal, raised rather than returned
        log.info("dropped invalid marker %r: %s", marker, exc)
        return None, True
    if outcome is None:
        log.info("dropped invalid marker %r", marker)
    return outcome, True
