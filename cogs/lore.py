"""`/lore …`: a thin adapter over `LoreCommands`."""

from __future__ import annotations

import dataclasses

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserError
from bot.lore.model import LOGICS
from bot.lore.service import EntryInput, LoreCommands
from bot.lore.wording import PLACEMENTS
from cogs.common import actor_from, answer, gm_only, read_attachment
from cogs.registry import services_of

MODAL_TEXT_LIMIT = 4000  # Discord's cap for one text input
LORE_SUFFIXES = (".json", ".png")
LOGIC_CHOICES = [app_commands.Choice(name=v, value=v) for v in LOGICS]
PLACEMENT_CHOICES = [app_commands.Choice(name=v, value=v) for v in PLACEMENTS]
OPTION_HELP = {
    "keys": "Comma-separated keys that make the entry fire (/regex/flags allowed)",
    "content": "What goes into the prompt (leave out to write it in a form)",
    "secondary_keys": "Comma-separated; combined with the keys by `logic` (empty removes them)",
    "logic": "How the secondary keys combine: and_any, and_all, not_any, not_all",
    "constant": "Always in the prompt, keys or not",
    "placement": "before_char / after_char (the system block) or at_depth (in the history)",
    "depth": "Turns from the end for at_depth entries",
    "order": "Insertion order (higher goes later)",
    "title": "A label for lists (SillyTavern's comment)",
    "characters": "Only these characters get it, comma-separated; !Mara, Rook: all but them; "
    "everyone: no limit",
}


async def book_choices(
    service: LoreCommands, interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete over the server's lorebook names."""
    names = await service.names(actor_from(interaction), current)
    return [app_commands.Choice(name=n, value=n) for n in names]


class EntryModal(discord.ui.Modal):
    """A multi-line form for an entry's keys and content (slash options cannot hold newlines)."""

    def __init__(
        self, service: LoreCommands, book: str, base: EntryInput, editing: str | None = None
    ) -> None:
        super().__init__(title=f"{'Edit' if editing else 'New'} entry in {book}"[:45])
        self.service, self.book, self.base, self.editing = service, book, base, editing

        self.keys = self._field("Keys (comma-separated)", base.keys, 1000)
        self.secondary = self._field("Secondary keys (optional)", base.secondary_keys, 1000)
        self.title_input = self._field("Title (optional)", base.title, 100)
        self.content = self._field("Content", base.content, MODAL_TEXT_LIMIT, paragraph=True)

    def _field(
        self, label: str, value: str | None, limit: int, *, paragraph: bool = False
    ) -> discord.ui.TextInput[EntryModal]:
        """A text input (only the content is required), prefilled with `value`."""
        item: discord.ui.TextInput[EntryModal] = discord.ui.TextInput(
            label=label,
            default=value or None,
            max_length=limit,
            required=paragraph,
            style=discord.TextStyle.paragraph if paragraph else discord.TextStyle.short,
        )
        self.add_item(item)
        return item

    def _value(self, item: discord.ui.TextInput[EntryModal], before: str | None) -> str | None:
        """What was typed; None when an edit left the field as it was."""
        if self.editing is not None and item.value == (before or ""):
            return None
        return item.value if item.value or self.editing is not None else None

    async def on_submit(self, interaction: discord.Interaction) -> None:
        base = self.base
        data = dataclasses.replace(
            base,
            keys=self._value(self.keys, base.keys),
            secondary_keys=self._value(self.secondary, base.secondary_keys),
            title=self._value(self.title_input, base.title),
            content=self._value(self.content, base.content),
        )
        actor = actor_from(interaction)
        if self.editing is None:
            await answer(interaction, self.service.add_entry(actor, self.book, data))
        else:
            await answer(interaction, self.service.edit_entry(actor, self.book, self.editing, data))


@app_commands.guild_only()
class LoreCog(commands.GroupCog, group_name="lore", group_description="Server lorebooks"):
    """Lorebooks: import, list, show, add, edit, delete and export."""

    def __init__(self, service: LoreCommands) -> None:
        self.service = service

    async def books(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await book_choices(self.service, interaction, current)

    async def entries(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        book = str(getattr(interaction.namespace, "book", "") or "")
        labels = await self.service.entry_names(actor_from(interaction), book, current)
        return [app_commands.Choice(name=label, value=label) for label in labels]

    @gm_only
    @app_commands.command(
        name="import", description="Import a World Info, lorebook_v3 or card file"
    )
    @app_commands.describe(
        file="SillyTavern World Info or lorebook_v3 .json, or a card (.json/.png) with a book",
        name="Store it under this name instead of the book's own",
        replace="Replace the lorebook of that name (scenes keep reading it)",
    )
    async def import_(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment,
        name: str | None = None,
        replace: bool = False,
    ) -> None:
        actor = actor_from(interaction)
        await self.service.require_gm(actor)
        await interaction.response.defer(ephemeral=True, thinking=True)
        loaded = await read_attachment(
            file, self.service.max_file_bytes, LORE_SUFFIXES, "Attach a .json or .png lorebook."
        )
        assert loaded is not None
        work = self.service.import_book(actor, *loaded, name=name, replace=replace)
        await answer(interaction, work)

    @app_commands.command(name="list", description="List the server's lorebooks")
    async def list(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.service.list_books(actor_from(interaction)))

    @gm_only
    @app_commands.command(name="show", description="Show a lorebook's entries, or one entry")
    @app_commands.autocomplete(book=books, entry=entries)
    async def show(
        self, interaction: discord.Interaction, book: str, entry: str | None = None
    ) -> None:
        await answer(interaction, self.service.show(actor_from(interaction), book, entry))

    @gm_only
    @app_commands.command(name="add", description="Add an entry (no content: opens a form)")
    @app_commands.describe(book="A lorebook (a new name creates it)", **OPTION_HELP)
    @app_commands.autocomplete(book=books)
    @app_commands.choices(logic=LOGIC_CHOICES, placement=PLACEMENT_CHOICES)
    async def add(
        self,
        interaction: discord.Interaction,
        book: str,
        keys: str | None = None,
        content: str | None = None,
        secondary_keys: str | None = None,
        logic: str | None = None,
        constant: bool | None = None,
        placement: str | None = None,
        depth: app_commands.Range[int, 0, 1000] | None = None,
        order: int | None = None,
        title: str | None = None,
        characters: str | None = None,
    ) -> None:
        actor = actor_from(interaction)
        data = EntryInput(
            keys,
            content,
            secondary_keys,
            logic,
            constant,
            placement,
            depth,
            order,
            None,
            title,
            characters,
        )
        if content is None:
            await self.service.require_gm(actor)
            await interaction.response.send_modal(EntryModal(self.service, book, data))
            return
        await answer(interaction, self.service.add_entry(actor, book, data))

    @gm_only
    @app_commands.command(name="edit", description="Change an entry (no options: opens a form)")
    @app_commands.describe(entry="The entry's number or title", **OPTION_HELP)
    @app_commands.autocomplete(book=books, entry=entries)
    @app_commands.choices(logic=LOGIC_CHOICES, placement=PLACEMENT_CHOICES)
    async def edit(
        self,
        interaction: discord.Interaction,
        book: str,
        entry: str,
        keys: str | None = None,
        content: str | None = None,
        secondary_keys: str | None = None,
        logic: str | None = None,
        constant: bool | None = None,
        placement: str | None = None,
        depth: app_commands.Range[int, 0, 1000] | None = None,
        order: int | None = None,
        enabled: bool | None = None,
        title: str | None = None,
        characters: str | None = None,
    ) -> None:
        actor = actor_from(interaction)
        data = EntryInput(
            keys,
            content,
            secondary_keys,
            logic,
            constant,
            placement,
            depth,
            order,
            enabled,
            title,
            characters,
        )
        if not data.changes_anything():
            current = await self.service.entry_content(actor, book, entry)
            if len(current.content or "") > MODAL_TEXT_LIMIT:
                raise UserError(
                    f"This entry is longer than the form allows ({MODAL_TEXT_LIMIT} characters): "
                    "give the new text in the content option instead."
                )
            await interaction.response.send_modal(
                EntryModal(self.service, book, current, editing=entry)
            )
            return
        await answer(interaction, self.service.edit_entry(actor, book, entry, data))

    @gm_only
    @app_commands.command(name="delete", description="Delete an entry, or a whole lorebook")
    @app_commands.describe(entry="Leave out to delete the whole lorebook")
    @app_commands.autocomplete(book=books, entry=entries)
    async def delete(
        self, interaction: discord.Interaction, book: str, entry: str | None = None
    ) -> None:
        await answer(interaction, self.service.delete(actor_from(interaction), book, entry))

    @gm_only
    @app_commands.command(name="export", description="Download a lorebook as a V2 character_book")
    @app_commands.autocomplete(book=books)
    async def export(self, interaction: discord.Interaction, book: str) -> None:
        await answer(interaction, self.service.export(actor_from(interaction), book))


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: add this cog over the bot's services."""
    services = services_of(bot)
    await bot.add_cog(LoreCog(services.get(LoreCommands)))
