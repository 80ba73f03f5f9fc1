"""What the director reads and returns: scenes, plans, hooks, results and its error types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from bot.director.budget import BudgetPlan
from bot.domain import DiceRoll, PromptContext, Role, Sampler, StateEdit, Voice
from bot.engine.base import CancelToken, Completion, GenerationRequest
from bot.errors import UserError
from bot.lore.placement import LoreActivation, SceneLore
from bot.prompts import Prompt, PromptFormat, RenderedPrompt

# "muted": every NPC the model could choose is muted, and no speaker was forced.
# "passed": the model chose that nobody answers (the players are talking among themselves).
RoundEnd = Literal["players", "cap", "empty", "cancelled", "no-cast", "muted", "passed"]
# Whose view of the scene a prompt reads, as the turn store's `witness`: None the whole scene,
# a character's id what it witnessed, `PUBLIC` what a viewer with no character may read.
Witness = int | None
PUBLIC = 0  # the turn store's own; character ids start at 1


class StoredTurn(Protocol):
    """What the director reads from a stored turn (a stored row or a read-only line of one)."""

    @property
    def id(self) -> int: ...

    @property
    def seq(self) -> int: ...

    @property
    def role(self) -> str: ...

    @property
    def speaker(self) -> str: ...

    @property
    def content(self) -> str: ...


class TurnHistory(Protocol):
    """The part of the turn store the director uses."""

    async def lines(
        self,
        scene_id: int,
        limit: int,
        *,
        before_seq: int | None = None,
        witness: int | None = None,
    ) -> Sequence[StoredTurn]: ...

    async def append(
        self,
        scene_id: int,
        *,
        role: Role,
        speaker: str,
        content: str,
        character_id: int | None = None,
        author_id: int | None = None,
        pending: bool = False,
        audience: Collection[int] | None = None,
    ) -> StoredTurn: ...

    async def add_swipe(self, turn_id: int, content: str) -> StoredTurn: ...

    async def edit(self, turn_id: int, content: str) -> StoredTurn: ...


class DirectorEngine(Protocol):
    """The part of a `TextEngine` the director uses."""

    @property
    def n_ctx(self) -> int: ...

    async def count_many(self, prompts: list[Prompt]) -> list[int]: ...

    async def complete(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion: ...


@dataclass(frozen=True)
class MarkerOutcome:
    """What a marker resolved to: the text written into the turn in its place, and the record."""

    text: str
    roll: DiceRoll | None = None
    edit: StateEdit | None = None


class MarkerResolver(Protocol):
    """Resolves markers for a scene: rolls dice, checks state changes (synchronous and cheap)."""

    def resolve(self, marker: str) -> MarkerOutcome | None:
        """The outcome of `marker` (the text between the brackets); None drops it as invalid."""
        ...


@dataclass(frozen=True)
class CastMember:
    """An NPC the director may voice; a muted one speaks only when forced (named)."""

    name: str
    character_id: int | None = None
    muted: bool = False
    voice: Voice = field(default_factory=Voice)  # its own sampler, length, talkativeness, backend


@dataclass(frozen=True)
class StorySoFar:
    """A view's summary of the turns up to `through`; no text when it has none."""

    text: str | None = None
    through: int = 0


@dataclass(frozen=True)
class Memory:
    """A recalled turn or chapter of the speaker's view, and why it came back."""

    seq: int  # the turn's seq, or the first turn a chapter covers: memories read oldest first
    speaker: str  # who said it; a chapter's title
    text: str
    score: float  # the database's own rank (bm25 or ts_rank_cd): higher matched better
    terms: tuple[str, ...]  # the query words it matched
    ref: int = 0  # the turn's or the chapter's id
    chapter: bool = False

    @property
    def key(self) -> tuple[bool, int, str]:
        """What tells one memory from another: an edited turn is a new memory."""
        return self.chapter, self.ref, self.text


@dataclass(frozen=True)
class RecallQuery:
    """What recall for one NPC's prompt reads: its view and what was said last."""

    scene_id: int
    witness: Witness
    speaker: str
    sheet: str  # the speaker's own sheet (its keywords join the query)
    recent: tuple[str, ...]  # the newest turns of the view, oldest first, OOC left out
    before_seq: int  # the first turn of the prompt's window: only older turns come back
    own_story: bool = False  # the view has a story (and chapters) of its own


@dataclass(frozen=True)
class RecallFound:
    """What a recall source found: the query words and the memories, best first."""

    words: tuple[str, ...] = ()
    memories: tuple[Memory, ...] = ()


class RecallSource(Protocol):
    """Finds the memories of a speaker's view that match what was said last (a port)."""

    @property
    def budget(self) -> int:
        """Tokens the Memories block of one prompt may take; 0 turns recall off."""
        ...

    async def recall(self, query: RecallQuery) -> RecallFound: ...

    async def unchanged(self, memories: Sequence[Memory]) -> bool:
        """Whether every one of `memories` is still there as it was (not deleted or edited)."""
        ...


@dataclass(frozen=True)
class Recalled:
    """The Memories of one prompt: what went in, what the budget left out, and why."""

    words: tuple[str, ...] = ()
    placed: tuple[Memory, ...] = ()  # in the block, oldest first
    left_out: tuple[Memory, ...] = ()  # found, but over the budget
    budget: int = 0
    used: int = 0  # tokens of the block, with its separator
    kept: bool = False  # the previous prompt's block, left in its place: nothing new found
    depth: int = 0  # turns of the window after the block


@dataclass(frozen=True)
class SceneView:
    """A scene as the director needs it for one round."""

    scene_id: int
    channel_key: str
    fmt: PromptFormat
    context: PromptContext
    npcs: tuple[CastMember, ...]
    sampler: Sampler = field(default_factory=Sampler)
    max_replies: int = 3
    lore: SceneLore = field(default_factory=SceneLore)
    # The seq of the newest turn `context.summary` covers: those turns stay out of the prompt.
    # Both are the shared story, for the whole scene and for viewers with no character.
    summary_through: int = 0
    # The story of each character (by id) whose view differs from the shared one.
    stories: Mapping[int, StorySoFar] = field(default_factory=dict)
    # Dice and state markers: taught in the system block, resolved while generating. With
    # mechanics on and no resolver, every marker is dropped.
    mechanics: bool = False
    resolver: MarkerResolver | None = None
    # Old turns and chapters brought back into an NPC's prompt; None: no recall.
    recall: RecallSource | None = None

    @property
    def player_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.context.players)

    @property
    def choosable(self) -> tuple[CastMember, ...]:
        """The NPCs the model's choice of speaker may land on: the unmuted ones."""
        return tuple(m for m in self.npcs if not m.muted)

    def npc(self, name: str) -> CastMember | None:
        folded = name.casefold()
        return next((m for m in self.npcs if m.name.casefold() == folded), None)

    def witness(self, speaker: str | None, *, player: bool = False) -> Witness:
        """The view `speaker`'s prompt reads: its character's, `PUBLIC` if it has none known,
        the whole scene for no speaker (the speaker choice)."""
        if speaker is None:
            return None
        if player:
            folded = speaker.casefold()
            found = next(
                (p.character_id for p in self.context.players if p.name.casefold() == folded),
                None,
            )
        else:
            member = self.npc(speaker)
            found = member.character_id if member else None
        return PUBLIC if found is None else found

    def seen_by(self, view: Witness) -> SceneView:
        """This scene with the story so far of `view`."""
        story = self.stories.get(view) if view else None
        if story is None:
            return self
        context = replace(self.context, summary=story.text)
        return replace(self, context=context, summary_through=story.through)

    def channel(self, view: Witness) -> str:
        """The key of `view`'s KV state: each view's prompts share their own prefix."""
        return self.channel_key if view is None else f"{self.channel_key}#{view}"


@dataclass(frozen=True)
class PromptPlan:
    """A budgeted prompt and how it was cut."""

    rendered: RenderedPrompt
    budget: BudgetPlan
    history: tuple[StoredTurn, ...]
    channel: str  # the key of its view's KV state (`SceneView.channel`)
    lore: LoreActivation = field(default_factory=LoreActivation)
    witness: Witness = None  # whose view it was built from
    recall: Recalled = field(default_factory=Recalled)


@dataclass(frozen=True)
class GeneratedTurn:
    """A turn the director stored, with the rolls and state changes its new text resolved.

    In the order they happened; for a continue, only those of the added text.
    """

    turn: StoredTurn
    rolls: tuple[DiceRoll, ...] = ()
    edits: tuple[StateEdit, ...] = ()


@dataclass
class RoundHooks:
    """Optional callbacks while a round runs (terminal streaming, Discord posting)."""

    speaker: Callable[[str], Awaitable[None]] | None = None
    text: Callable[[str], None] | None = None
    # With it, each turn is stored pending: the hook shows it, then marks it posted.
    stored: Callable[[StoredTurn], Awaitable[None]] | None = None
    # Every turn the director stores (a round's, a swipe's, a continue's), with its rolls and
    # state changes, right after storing it and before `stored`.
    generated: Callable[[GeneratedTurn], Awaitable[None]] | None = None


@dataclass
class RoundResult:
    """The turns a round produced and why it stopped."""

    turns: list[StoredTurn] = field(default_factory=list)
    generated: list[GeneratedTurn] = field(default_factory=list)  # the same turns, with mechanics
    ended: RoundEnd = "players"
    notice: str | None = None


class DirectorError(UserError, RuntimeError):
    """A round could not run; the message is fit to show a user."""


class GenerationFailed(DirectorError):
    """The model backend failed; the cause is chained for the log, the message is for users."""
