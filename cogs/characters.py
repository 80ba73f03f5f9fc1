"""`/character …` and `/npc …`: one implementation over `CharacterCommands` for both kinds."""

from __future__ import annotations

import builtins
from typing import ClassVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.characters.service import CharacterCommands, CharacterInput, Kind
from bot.characters.voices import RESETS, VoiceChange, VoiceCommands
from bot.domain import LENGTHS
from bot.errors import UserError
from cogs.common import actor_from, answer, gm_only, read_attachment
from cogs.registry import services_of

SHEET_SUFFIXES = (".txt", ".md")
MODAL_SHEET_LIMIT = 4000  # Discord's cap for one text input
CARD_HELP = "A V2/V3 card (.png/.json) or a sheet file (.txt/.md)"
AVATAR_LINK_HELP = "An https:// image link, instead of attaching the picture"
LENGTH_CHOICES = [app_commands.Choice(name=v, value=v) for v in LENGTHS]
RESET_CHOICES = [app_commands.Choice(name=v, value=v) for v in RESETS]


async def character_input(
    name: str | None,
    sheet: str | None,
    file: discord.Attachment | None,
    avatar_url: str | None,
) -> CharacterInput:
    """Options → input: a .txt/.md attachment is a sheet, a .png/.json one is a card."""
    loaded = await read_attachment(file)
    card = None
    if loaded is not None and loaded[0].lower().endswith(SHEET_SUFFIXES):
        try:
            sheet = loaded[1].decode("utf-8")
        except UnicodeDecodeError:
            raise UserError("That sheet file is not UTF-8 text.") from None
    else:
        card = loaded
    return CharacterInput(
        name=name,
        sheet=sheet,
        card=card,
        card_url=file.url if file is not None else None,
        avatar_url=avatar_url,
    )


def avatar_of(attachment: discord.Attachment | None, link: str | None) -> str | None:
    """A given link wins over an attachment (whose expiring link the bot refreshes)."""
    if link:
        if not link.startswith("https://"):
            raise UserError("avatar_link must be an https:// link to an image.")
        return link
    return attachment.url if attachment is not None else None


class SheetModal(discord.ui.Modal):
    """A multi-line form for writing a sheet (slash options cannot hold newlines)."""

    def __init__(
        self,
        service: CharacterCommands,
        kind: Kind,
        *,
        editing: str | None = None,
        name: str | None = None,
        sheet: str = "",
        avatar_url: str | None = None,
    ) -> None:
        label = "NPC" if kind == "npc" else "character"
        super().__init__(title=f"{'Edit' if editing else 'New'} {label}"[:45])
        self.service, self.kind, self.editing, self.avatar_url = service, kind, editing, avatar_url
        self.name: discord.ui.TextInput[SheetModal] = discord.ui.TextInput(
            label="Name", max_length=80, default=name, required=editing is None
        )
        self.sheet: discord.ui.TextInput[SheetModal] = discord.ui.TextInput(
            label="Sheet (**Field**: value, - items)",
            style=discord.TextStyle.paragraph,
            max_length=MODAL_SHEET_LIMIT,
            default=sheet or None,
            required=True,
        )
        if editing is None:
            self.add_item(self.name)
        self.add_item(self.sheet)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        data = CharacterInput(
            name=self.name.value or None, sheet=self.sheet.value, avatar_url=self.avatar_url
        )
        actor = actor_from(interaction)
        if self.editing is None:
            await answer(interaction, self.service.create(actor, self.kind, data))
        else:
            await answer(interaction, self.service.edit(actor, self.kind, self.editing, data))


class CharacterGroupCog(commands.GroupCog):
    """Create, edit and delete, shared by `/character` and `/npc`; the subclasses add the rest."""

    kind: ClassVar[Kind]
    descriptions: ClassVar[dict[str, str]] = {}
    # Shared commands that are GMs' only in this group (NPCs are the GMs' business).
    gm_commands: ClassVar[tuple[str, ...]] = ()

    def __init__(self, service: CharacterCommands) -> None:
        self.service = service
        group = self.app_command
        assert group is not None  # a GroupCog always has its group
        for name, text in self.descriptions.items():
            command = group.get_command(name)
            if command is not None:
                command.description = text
        for name in self.gm_commands:
            shared = group.get_command(name)
            if isinstance(shared, app_commands.Command):
                gm_only(shared)

    async def names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        member = getattr(interaction.namespace, "member", None)
        names = await self.service.names(
            actor_from(interaction), self.kind, current, getattr(member, "id", None)
        )
        return [app_commands.Choice(name=n, value=n) for n in names]

    @app_commands.command(name="create", description="Create one (no sheet or card: opens a form)")
    @app_commands.describe(card=CARD_HELP, avatar_link=AVATAR_LINK_HELP)
    async def create(
        self,
        interaction: discord.Interaction,
        name: str | None = None,
        sheet: str | None = None,
        card: discord.Attachment | None = None,
        avatar: discord.Attachment | None = None,
        avatar_link: str | None = None,
    ) -> None:
        actor = actor_from(interaction)
        await self.service.require_rights(actor, self.kind)  # before any option is checked
        if sheet is None and card is None:
            avatar_url = avatar_of(avatar, avatar_link)
            modal = SheetModal(self.service, self.kind, name=name, avatar_url=avatar_url)
            await interaction.response.send_modal(modal)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await character_input(name, sheet, card, avatar_of(avatar, avatar_link))
        await answer(interaction, self.service.create(actor, self.kind, data))

    @app_commands.command(name="edit", description="Change a sheet, card or avatar")
    @app_commands.describe(card=CARD_HELP, avatar_link=AVATAR_LINK_HELP)
    @app_commands.autocomplete(name=names)
    async def edit(
        self,
        interaction: discord.Interaction,
        name: str,
        sheet: str | None = None,
        card: discord.Attachment | None = None,
        avatar: discord.Attachment | None = None,
        avatar_link: str | None = None,
    ) -> None:
        actor = actor_from(interaction)
        await self.service.require_rights(actor, self.kind)  # before any option is checked
        avatar_url = avatar_of(avatar, avatar_link)
        if sheet is None and card is None and avatar_url is None:
            current = await self.service.sheet_of(actor, self.kind, name)
            if len(current) > MODAL_SHEET_LIMIT:
                raise UserError(
                    f"This sheet is longer than the form allows ({MODAL_SHEET_LIMIT} characters): "
                    "attach the whole sheet as a .txt file in the card option instead."
                )
            modal = SheetModal(self.service, self.kind, editing=name, sheet=current)
            await interaction.response.send_modal(modal)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await character_input(None, sheet, card, avatar_url)
        await answer(interaction, self.service.edit(actor, self.kind, name, data))

    @app_commands.command(name="delete", description="Delete one")
    @app_commands.autocomplete(name=names)
    async def delete(self, interaction: discord.Interaction, name: str) -> None:
        await answer(interaction, self.service.delete(actor_from(interaction), self.kind, name))


@app_commands.guild_only()
class PlayerCharacterCog(
    CharacterGroupCog, group_name="character", group_description="Your characters"
):
    """`/character …`: a player's own characters."""

    kind = "player"
    descriptions: ClassVar[dict[str, str]] = {
        "create": "Create your character (no sheet: opens a form)",
        "edit": "Change your character's sheet, card or avatar",
        "delete": "Delete one of your characters",
    }

    @app_commands.command(name="list", description="List your characters, or a member's")
    async def list(
        self, interaction: discord.Interaction, member: discord.Member | None = None
    ) -> None:
        member_id = member.id if member else None
        await answer(interaction, self.service.list(actor_from(interaction), "player", member_id))

    @app_commands.command(name="show", description="Show a character's sheet")
    @app_commands.autocomplete(name=CharacterGroupCog.names)
    async def show(
        self, interaction: discord.Interaction, name: str, member: discord.Member | None = None
    ) -> None:
        member_id = member.id if member else None
        work = self.service.show(actor_from(interaction), "player", name, member_id)
        await answer(interaction, work)

    @app_commands.command(name="use", description="Play this character in this channel's scene")
    @app_commands.autocomplete(name=CharacterGroupCog.names)
    async def use(self, interaction: discord.Interaction, name: str) -> None:
        await answer(interaction, self.service.use(actor_from(interaction), name))


@app_commands.guild_only()
class NpcCog(CharacterGroupCog, group_name="npc", group_description="Server NPCs (GM)"):
    """`/npc …`: the server's NPCs, managed by GMs."""

    kind = "npc"
    gm_commands = ("create", "edit", "delete")
    descriptions: ClassVar[dict[str, str]] = {
        "create": "Create a server NPC (no sheet or card: opens a form)",
        "edit": "Change an NPC's sheet, card or avatar",
        "delete": "Delete an NPC",
    }

    def __init__(self, service: CharacterCommands, voices: VoiceCommands) -> None:
        super().__init__(service)
        self.voices = voices

    @gm_only
    @app_commands.command(name="list", description="List the server's NPCs")
    async def list(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.service.list(actor_from(interaction), "npc"))

    @gm_only
    @app_commands.command(name="show", description="Show an NPC's sheet")
    @app_commands.autocomplete(name=CharacterGroupCog.names)
    async def show(self, interaction: discord.Interaction, name: str) -> None:
        await answer(interaction, self.service.show(actor_from(interaction), "npc", name))

    @gm_only
    @app_commands.command(name="export", description="Download an NPC as a Character Card V2")
    @app_commands.autocomplete(name=CharacterGroupCog.names)
    async def export(self, interaction: discord.Interaction, name: str) -> None:
        await answer(interaction, self.service.export(actor_from(interaction), name))

    async def backend_names(
        self, interaction: discord.Interaction, current: str
    ) -> builtins.list[app_commands.Choice[str]]:  # `list` is a command of this cog
        return [app_commands.Choice(name=n, value=n) for n in self.voices.backend_names(current)]

    @gm_only
    @app_commands.command(
        name="settings", description="An NPC's own sampling, length, talkativeness and backend"
    )
    @app_commands.describe(
        npc="The NPC; with no other option, shows its settings",
        temperature="0-2; unset: the scene's",
        min_p="0-1; unset: the scene's",
        max_tokens="Its longest turn, in tokens",
        length="The response length asked of its turns (alpaca-limarp format)",
        talkativeness="0-100: how often the choice of speaker lands on it (50 by default)",
        backend="A named backend from the settings; default: the main engine",
        reset="Clear one setting, or all, before the others are set",
    )
    @app_commands.choices(length=LENGTH_CHOICES, reset=RESET_CHOICES)
    @app_commands.autocomplete(npc=CharacterGroupCog.names, backend=backend_names)
    async def settings(
        self,
        interaction: discord.Interaction,
        npc: str,
        temperature: app_commands.Range[float, 0.0, 2.0] | None = None,
        min_p: app_commands.Range[float, 0.0, 1.0] | None = None,
        max_tokens: app_commands.Range[int, 1, 8192] | None = None,
        length: str | None = None,
        talkativeness: app_commands.Range[int, 0, 100] | None = None,
        backend: str | None = None,
        reset: str | None = None,
    ) -> None:
        change = VoiceChange(temperature, min_p, max_tokens, length, talkativeness, backend, reset)
        await answer(interaction, self.voices.settings(actor_from(interaction), npc, change))


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: add `/character` and `/npc` over the bot's services."""
    services = services_of(bot)
    characters = services.get(CharacterCommands)
    await bot.add_cog(PlayerCharacterCog(characters))
    await bot.add_cog(NpcCog(characters, services.get(VoiceCommands)))
