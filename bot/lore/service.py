"""The `/lore` and `/scene lore` command logic: server lorebooks and the scenes that read them."""

from __future__ import annotations

import asyncio
import json
import re

from bot.channel.access import Access
from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, Reply
from bot.errors import UserError
from bot.lore import Lorebook, LoreEntry, LoreLimits, export_card_book, load_lorebook
from bot.lore.limits import check_totals
from bot.lore.wording import EntryInput, book_overview, entry_label, entry_text, long_reply
from bot.settings import Settings
from bot.store import DuplicateNameError, LoreStore, SceneStore, StoredLorebook
from bot.store.lore import book_name

__all__ = ["EntryInput", "LoreCommands"]

AUTOCOMPLETE_MAX = 25  # Discord shows at most this many choices
_ENTRY_NUMBER = re.compile(r"^#?(\d+)(?:\s|$)")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-").lower() or "lorebook"


class LoreCommands:
    """Importing, writing, reading and exporting server lorebooks, and attaching them to scenes."""

    def __init__(
        self, lore: LoreStore, scenes: SceneStore, access: Access, limits: LoreLimits
    ) -> None:
        self.lore = lore
        self.scenes = scenes
        self.access = access
        self.limits = limits

    @property
    def max_file_bytes(self) -> int:
        """The largest lorebook file an import reads."""
        return self.limits.json_max_bytes

    async def require_gm(self, actor: Actor) -> None:
        """Refuse a non-GM before a form opens."""
        await self.access.require_gm(actor)

    async def _book(self, actor: Actor, name: str) -> StoredLorebook:
        row = await self.lore.find(actor.guild_id, name)
        if row is None:
            raise UserError(f"No lorebook called {name!r}. /lore list shows them.")
        return row

    async def _entry(self, row: StoredLorebook, ref: str) -> tuple[int, LoreEntry]:
        """An entry by number (`3`, `#3`, `#3 Title`), else by title or key (case-insensitive)."""
        entries = await self.lore.entries(row.id)
        number = _ENTRY_NUMBER.match(ref.strip())
        if number:
            wanted = int(number.group(1)) - 1
            found = [(p, e) for p, e in entries if p == wanted]
        else:
            folded = ref.strip().casefold()
            found = [(p, e) for p, e in entries if e.title.casefold() == folded]
            found = found or [(p, e) for p, e in entries if folded in map(str.casefold, e.keys)]
        if not found:
            raise UserError(f"{row.name} has no entry {ref!r}. /lore show {row.name} lists them.")
        return found[0]

    async def import_book(
        self,
        actor: Actor,
        filename: str,
        data: bytes,
        *,
        name: str | None = None,
        replace: bool = False,
    ) -> Reply:
        """A SillyTavern World Info file, a lorebook_v3 file or a card's character_book."""
        await self.access.require_gm(actor)
        # Parsing a large untrusted file is CPU work: keep it off the event loop.
        book = await asyncio.to_thread(load_lorebook, data, filename, self.limits)
        if not book.entries:
            raise UserError("That lorebook has no entries.")
        final = book_name(name or book.name)
        try:
            row = await self.lore.save_book(actor.guild_id, book, name=final, replace=replace)
        except DuplicateNameError:
            raise UserError(
                f"There is already a lorebook called {final}: import under another name "
                "(name:) or replace it (replace: True)."
            ) from None
        verb = "Replaced" if replace and row.revision > 1 else "Imported"
        return Reply(
            f"{verb} lorebook **{row.name}** ({len(book.entries)} entries). "
            "Attach it to a scene with /scene lore add."
        )

    async def list_books(self, actor: Actor) -> Reply:
        """The server's lorebooks, marking those this channel's scene reads."""
        books = await self.lore.list_books(actor.guild_id)
        if not books:
            return Reply("No lorebooks yet. A GM can add one with /lore import or /lore add.")
        scene = await self.scenes.by_channel(actor.channel_id)
        attached = {b.id for b in await self.lore.scene_books(scene.id)} if scene else set()
        lines = [
            f"- **{row.name}** · {count} entries" + (" · read here" if row.id in attached else "")
            for row, count in books
        ]
        return long_reply("\n".join(lines), f"{len(books)} lorebooks:", "lorebooks.txt")

    async def show(self, actor: Actor, book: str, entry: str | None = None) -> Reply:
        """A book's overview, or one entry's keys, logic, placement and content (GM)."""
        await self.access.require_gm(actor)
        row = await self._book(actor, book)
        if entry is not None:
            position, found = await self._entry(row, entry)
            text = entry_text(row.name, position, found)
            header = f"**{row.name}** › **{entry_label(position, found)}** (long: see the file)"
            return long_reply(text, header, f"{_slug(row.name)}-{position + 1}.txt")
        loaded = await self.lore.load(row.id)
        text = book_overview(row.name, loaded, await self.lore.entries(row.id))
        return long_reply(text, f"**{row.name}** (long: see the file)", f"{_slug(row.name)}.txt")

    async def add_entry(self, actor: Actor, book: str, data: EntryInput) -> Reply:
        """Append an entry; a book of that name that does not exist yet is created (GM)."""
        await self.access.require_gm(actor)
        entry = data.apply(LoreEntry(), self.limits)
        row = await self.lore.find(actor.guild_id, book)
        if row is None:
            row = await self.lore.save_book(
                actor.guild_id, Lorebook(entries=(entry,)), name=book_name(book)
            )
            return Reply(f"Created lorebook **{row.name}** with entry #1 {entry.title}.")
        entries = [e for _, e in await self.lore.entries(row.id)]
        if len(entries) >= self.limits.max_entries:
            raise UserError(f"{row.name} is full (the limit is {self.limits.max_entries}).")
        check_totals([*entries, entry], self.limits)  # regex keys are capped per book
        position = await self.lore.add_entry(row.id, entry)
        return Reply(f"Added **{entry_label(position, entry)}** to **{row.name}**.")

    async def entry_content(self, actor: Actor, book: str, entry: str) -> EntryInput:
        """An entry's keys, secondary keys, content and title, to prefill an edit form (GM)."""
        await self.access.require_gm(actor)
        _, found = await self._entry(await self._book(actor, book), entry)
        return EntryInput(
            keys=", ".join(found.keys),
            content=found.content,
            secondary_keys=", ".join(found.secondary_keys or ()) if found.needs_secondary else "",
            title=found.title,
        )

    async def edit_entry(self, actor: Actor, book: str, entry: str, data: EntryInput) -> Reply:
        """Change an entry's fields; the others, and its unknown fields, stay (GM)."""
        await self.access.require_gm(actor)
        if not data.changes_anything():
            raise UserError("Nothing to change: give keys, content or another option.")
        row = await self._book(actor, book)
        position, found = await self._entry(row, entry)
        changed = data.apply(found, self.limits)
        others = [e for p, e in await self.lore.entries(row.id) if p != position]
        check_totals([*others, changed], self.limits)
        await self.lore.replace_entry(row.id, position, changed)
        return Reply(f"Updated **{entry_label(position, changed)}** in **{row.name}**.")

    async def delete(self, actor: Actor, book: str, entry: str | None = None) -> Reply:
        """Delete one entry, or without `entry` the whole book and its scene links (GM)."""
        await self.access.require_gm(actor)
        row = await self._book(actor, book)
        if entry is None:
            await self.lore.delete_book(row.id)
            return Reply(f"Deleted lorebook **{row.name}**; no scene reads it any more.")
        position, found = await self._entry(row, entry)
        await self.lore.delete_entry(row.id, position)
        return Reply(f"Deleted **{entry_label(position, found)}** from **{row.name}**.")

    async def export(self, actor: Actor, book: str) -> Reply:
        """The book as a V2 character_book JSON file (GM)."""
        await self.access.require_gm(actor)
        row = await self._book(actor, book)
        loaded = await self.lore.load(row.id)
        data = json.dumps(export_card_book(loaded), ensure_ascii=False, indent=2).encode()
        note = f"**{row.name}** as a V2 character_book ({len(loaded.entries)} entries)."
        return Reply(note, file=(f"{_slug(row.name)}.json", data))

    async def attach(self, actor: Actor, book: str) -> Reply:
        """This channel's scene reads the book from its next prompt on (GM)."""
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        row = await self._book(actor, book)
        if not await self.lore.attach(scene.id, row.id):
            return Reply(f"This scene already reads **{row.name}**.")
        return Reply(f"This scene now reads lorebook **{row.name}**.")

    async def detach(self, actor: Actor, book: str) -> Reply:
        """This channel's scene stops reading the book (GM)."""
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        row = await self._book(actor, book)
        if not await self.lore.detach(scene.id, row.id):
            raise UserError(f"This scene does not read **{row.name}**.")
        return Reply(f"This scene no longer reads lorebook **{row.name}**.")

    async def names(self, actor: Actor, current: str) -> list[str]:
        """Autocomplete: the server's book names containing `current`."""
        folded = current.casefold()
        books = await self.lore.list_books(actor.guild_id)
        return [r.name for r, _ in books if folded in r.name.casefold()][:AUTOCOMPLETE_MAX]

    async def entry_names(self, actor: Actor, book: str, current: str) -> list[str]:
        """Autocomplete: `#3 Title` for the book's entries matching `current` (GM)."""
        if not await self.access.is_gm(actor):
            return []
        row = await self.lore.find(actor.guild_id, book)
        if row is None:
            return []
        folded = current.casefold()
        labels = [entry_label(p, e)[:100] for p, e in await self.lore.entries(row.id)]
        return [label for label in labels if folded in label.casefold()][:AUTOCOMPLETE_MAX]


def lore_limits(settings: Settings) -> LoreLimits:
    """What one lorebook may hold."""
    return LoreLimits(
        max_entries=settings.lore_max_entries, entry_max_chars=settings.lore_entry_max_chars
    )


def build(deps: ChannelDeps) -> LoreCommands:
    """The lorebook feature over the shared channel parts."""
    return LoreCommands(
        deps.stores.lore, deps.stores.scenes, deps.access, lore_limits(deps.settings)
    )
