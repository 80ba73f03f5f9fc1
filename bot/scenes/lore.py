"""The lorebooks a scene reads: its cast's and players' card books and its server books."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

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


Reader = Callable[[], Lorebook | None]


def _build(version: str, read: Reader, limits: LoreLimits) -> CompiledBook | None:
    """Read, check and compile one book (CPU-bound: a card's JSON, thousands of keys)."""
    book = read()
    return None if book is None else CompiledBook(check_book(book, limits), version)


def _card_reader(card: dict[str, Any]) -> Reader:
    return lambda: book_from_card(card)


def _stored_reader(book: Lorebook) -> Reader:
    return lambda: book


class SceneLoreSources:
    """Builds a scene's `SceneLore`, compiling each book once per version, in a worker thread."""

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
        # Versions over the caps, so they are not read again, with the line the GM sees.
        self._refused: dict[str, str] = {}

    def _known(self, version: str, refused: list[str]) -> tuple[bool, CompiledBook | None]:
        """(whether `version` was seen, its compiled book if it was not refused)."""
        found = self.cache.find(version)
        if found is None and version in self._refused:
            refused.append(self._refused[version])
            return True, None
        return found is not None, found

    async def _compile(
        self, version: str, read: Reader, owner: str, refused: list[str]
    ) -> CompiledBook | None:
        """`read` checked and compiled off the event loop, then cached (or refused, once)."""
        try:
            compiled = await asyncio.to_thread(_build, version, read, self.limits)
        except LoreError as exc:  # one bad book must not stop the scene
            log.warning("lorebook of %s left out: %s", owner, exc)
            self._refused[version] = f"{owner}: {exc}"
            refused.append(self._refused[version])
            return None
        return None if compiled is None else self.cache.put(compiled)

    async def _card_book(self, character: Character, refused: list[str]) -> CompiledBook | None:
        if not character.card_json:
            return None
        version = f"card:{character.id}:{character.updated_at.isoformat()}"
        seen, found = self._known(version, refused)
        if seen:
            return found
        owner = f"{character.name}'s card"
        return await self._compile(version, _card_reader(character.card_json), owner, refused)

    async def _server_books(self, scene: Scene, refused: list[str]) -> list[CompiledBook]:
        compiled: list[CompiledBook] = []
        for row in await self.stores.lore.scene_books(scene.id):
            version = f"book:{row.id}:{row.revision}"
            seen, found = self._known(version, refused)
            if not seen:
                read = _stored_reader(await self.stores.lore.load(row.id))
                found = await self._compile(version, read, row.name, refused)
            if found is not None:
                compiled.append(found)
        return compiled

    async def scene_lore(
        self, scene: Scene, cast: Sequence[Character], players: Sequence[Character], user: str
    ) -> SceneLore:
        """Card books first (the V2 spec gives them precedence), then the scene's server books."""
        refused: list[str] = []
        sources = [
            LoreSource(book, character.name)
            for character in (*cast, *players)
            if (book := await self._card_book(character, refused)) is not None
        ]
        cast_names = join_names([c.name for c in cast]) or "the characters"
        books = await self._server_books(scene, refused)
        sources += [LoreSource(book, cast_names) for book in books]
        return SceneLore(tuple(sources), user, self.config, tuple(refused))
