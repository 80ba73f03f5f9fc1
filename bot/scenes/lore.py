"""The lorebooks a scene reads: its cast's and players' card books and its server books."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.lore import (
    CompiledBook,
    LoreCache,
    LoreConfig,
    LoreError,
    LoreLimits,
    LoreSource,
    SceneLore,
    book_from_card,
    check_book,
)
from bot.lore.model import Lorebook
from bot.prompts.macros import join_names
from bot.store import Character, Scene, Stores

log = logging.getLogger(__name__)


class SceneLoreSources:
    """Builds a scene's `SceneLore`, compiling each book once per version."""

    def __init__(
        self,
        stores: Stores,
        config: LoreConfig | None = None,
        limits: LoreLimits | None = None,
        cache: LoreCache | None = None,
    ) -> None:
        self.stores = stores
        self.config = config or LoreConfig()
        self.limits = limits or LoreLimits()
        self.cache = cache or LoreCache()
        self._refused: set[str] = set()  # versions over the caps, so they are not re-read

    def _compile(self, version: str, book: Lorebook, owner: str) -> CompiledBook | None:
        try:
            return self.cache.add(version, check_book(book, self.limits))
        except LoreError as exc:  # one bad book must not stop the scene
            log.warning("lorebook of %s left out: %s", owner, exc)
            self._refused.add(version)
            return None

    def _card_book(self, character: Character) -> CompiledBook | None:
        if not character.card_json:
            return None
        version = f"card:{character.id}:{character.updated_at.isoformat()}"
        found = self.cache.find(version)
        if found is not None or version in self._refused:
            return found
        book = book_from_card(character.card_json)
        return self._compile(version, book, character.name) if book is not None else None

    async def _server_books(self, scene: Scene) -> list[CompiledBook]:
        compiled: list[CompiledBook] = []
        for row in await self.stores.lore.scene_books(scene.id):
            version = f"book:{row.id}:{row.revision}"
            found = self.cache.find(version)
            if found is None and version not in self._refused:
                found = self._compile(version, await self.stores.lore.load(row.id), row.name)
            if found is not None:
                compiled.append(found)
        return compiled

    async def scene_lore(
        self, scene: Scene, cast: Sequence[Character], players: Sequence[Character], user: str
    ) -> SceneLore:
        """Card books first (the V2 spec gives them precedence), then the scene's server books."""
        sources = [
            LoreSource(book, character.name)
            for character in (*cast, *players)
            if (book := self._card_book(character)) is not None
        ]
        cast_names = join_names([c.name for c in cast]) or "the characters"
        sources += [LoreSource(book, cast_names) for book in await self._server_books(scene)]
        return SceneLore(tuple(sources), user, self.config)
