"""Whom a player's post addresses: the NPC it replies to, the NPCs it names, or nobody."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.channel.sessions import Trigger
from bot.channel.text import mentioned_names
from bot.store import Scene, Stores


@dataclass(frozen=True)
class Post:
    """A stored player post as the reply mode reads it."""

    content: str
    speaker: str  # the name it is stored under (a bound player's character)
    author_id: int | None = None
    reply_to: int | None = None  # the message a Discord reply points to


class Addressing:
    """Reads a stored post for the round it asks (the reply mode's wait aside)."""

    def __init__(self, stores: Stores, quiet_seconds: float) -> None:
        self.scenes = stores.scenes
        self.turns = stores.turns
        self.quiet_seconds = quiet_seconds

    async def asked(self, scene: Scene, post: Post) -> Trigger | None:
        """Who the post addresses: an NPC it replies to, then the NPCs it names, in order.

        An unaddressed post lets the model choose that nobody answers; a reply to another
        player's post (the players talking among themselves) asks for no round at all.
        """
        cast = [c.name for c in await self.scenes.cast(scene.id)]
        forced = mentioned_names(post.content, cast)
        replied, to_player = await self._replied_to(post, cast)
        if replied is not None:
            forced = (replied, *(name for name in forced if name != replied))
        if forced:
            return Trigger(forced)
        if to_player or scene.reply_mode == "mention":
            return None
        return Trigger(delay=self.quiet_seconds, may_pass=True)

    async def _replied_to(self, post: Post, cast: Sequence[str]) -> tuple[str | None, bool]:
        """(the cast member whose turn the post replies to, whether it replies to another
        player's post)."""
        if post.reply_to is None:
            return None, False
        turn = await self.turns.by_message_id(post.reply_to)
        if turn is None or turn.deleted:
            return None, False
        if turn.role == "model":
            named = turn.speaker.casefold()
            return next((name for name in cast if name.casefold() == named), None), False
        if turn.role != "user":  # the narrator's, say: it addresses nobody in particular
            return None, False
        if post.author_id is not None and turn.author_id is not None:
            return None, turn.author_id != post.author_id
        return None, turn.speaker.casefold() != post.speaker.casefold()
