"""`/scene …`: a thin adapter over `SceneCommands`."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.characters.service import CharacterCommands
from bot.domain import FORMAT_NAMES, LENGTHS, REPLY_MODES
from bot.knowledge.service import KnowledgeCommands
from bot.lore.service import LoreCommands
from bot.memory.service import MemoryCommands
from bot.scenes.service import SceneCommands, SceneSettings
from cogs.buttons import clear_confirmation
from cogs.common import NO_MENTIONS, actor_from, answer, gm_only, npc_choices
from cogs.lore import book_choices
from cogs.registry import services_of


def _choices(values: tuple[str, ...]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=v, value=v) for v in values]


FORMATS = _choices(FORMAT_NAMES)
LENGTH_CHOICES = _choices(("none", *LENGTHS))
REPLY_MODE_CHOICES = _choices(REPLY_MODES)
ON_OFF = _choices(("on", "off"))


@app_commands.guild_only()
class SceneCog(
    commands.GroupCog, group_name="scene", group_description="Roleplay scenes (GM), and who is here"
):
    """Scenes: starting and ending them, the cast, settings, prompt, export and clear; presence."""

    lore = app_commands.Group(name="lore", description="The lorebooks this scene reads")

    def __init__(
        self,
        scenes: SceneCommands,
        characters: CharacterCommands,
        lore: LoreCommands,
        memory: MemoryCommands,
        knowledge: KnowledgeCommands,
    ) -> None:
        self.scenes = scenes
        self.characters = characters
        self.lore_books = lore
        self.memory_service = memory
        self.knowledge = knowledge

    async def npc_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await npc_choices(self.characters, interaction, current)

    @gm_only
    @app_commands.command(name="start", description="Turn roleplay on in this channel or thread")
    @app_commands.choices(format=FORMATS)
    async def start(self, interaction: discord.Interaction, format: str | None = None) -> None:
        await answer(interaction, self.scenes.start(actor_from(interaction), format))

    @gm_only
    @app_commands.command(name="end", description="Turn roleplay off here (history is kept)")
    async def end(self, interaction: discord.Interaction) -> None:
        # A running round is stopped first; acknowledging first keeps Discord from timing out.
        await answer(interaction, self.scenes.end(actor_from(interaction)), defer="public")

    @gm_only
    @app_commands.command(name="status", description="This scene's settings, cast and players")
    async def status(self, interaction: discord.Interaction) -> None:
        # Counting whispers and tells reads the whole history: acknowledge first.
        await answer(interaction, self.scenes.status(actor_from(interaction)), defer="private")

    @app_commands.command(name="who", description="Who is here: the NPCs, and players here or away")
    async def who(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.knowledge.who(actor_from(interaction)))

    @app_commands.command(
        name="leave", description="Your character steps out: it witnesses nothing"
    )
    async def leave(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.knowledge.set_present(actor_from(interaction), False))

    @app_commands.command(name="enter", description="Your character comes back into the scene")
    async def enter(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.knowledge.set_present(actor_from(interaction), True))

    @gm_only
    @app_commands.command(name="add", description="Add an NPC to the cast (posts its greeting)")
    @app_commands.autocomplete(npc=npc_names)
    async def add(self, interaction: discord.Interaction, npc: str) -> None:
        work = self.scenes.add_npc(actor_from(interaction), npc)
        await answer(interaction, work, defer="public")

    @gm_only
    @app_commands.command(name="remove", description="Remove an NPC from the cast")
    @app_commands.autocomplete(npc=npc_names)
    async def remove(self, interaction: discord.Interaction, npc: str) -> None:
        await answer(interaction, self.scenes.remove_npc(actor_from(interaction), npc))

    @gm_only
    @app_commands.command(name="pause", description="Hold the NPCs back (posts are still kept)")
    async def pause(self, interaction: discord.Interaction) -> None:
        # A running round is stopped first; acknowledging first keeps Discord from timing out.
        await answer(interaction, self.scenes.pause(actor_from(interaction)), defer="public")

    @gm_only
    @app_commands.command(name="resume", description="Let the NPCs answer again")
    async def resume(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.scenes.resume(actor_from(interaction)))

    @gm_only
    @app_commands.command(name="mute", description="An NPC stays present but speaks only if named")
    @app_commands.autocomplete(npc=npc_names)
    async def mute(self, interaction: discord.Interaction, npc: str) -> None:
        await answer(interaction, self.scenes.mute(actor_from(interaction), npc, True))

    @gm_only
    @app_commands.command(name="unmute", description="A muted NPC may be chosen to speak again")
    @app_commands.autocomplete(npc=npc_names)
    async def unmute(self, interaction: discord.Interaction, npc: str) -> None:
        await answer(interaction, self.scenes.mute(actor_from(interaction), npc, False))

    @gm_only
    @app_commands.command(name="settings", description="Format, length, reply mode and sampling")
    @app_commands.describe(
        length="LimaRP response length (alpaca-limarp format); none = let the model decide",
        reply_mode=(
            "auto: after a pause; table: once all players posted; mention: if named; manual"
        ),
        max_replies="NPC turns per round (1-8)",
        round_timeout="Table mode: seconds the NPCs wait for every player (10-86400)",
        mechanics="on: NPCs roll dice and change tracked values (/stat) through markers",
    )
    @app_commands.choices(
        format=FORMATS, length=LENGTH_CHOICES, reply_mode=REPLY_MODE_CHOICES, mechanics=ON_OFF
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        format: str | None = None,
        length: str | None = None,
        reply_mode: str | None = None,
        max_replies: app_commands.Range[int, 1, 8] | None = None,
        temperature: app_commands.Range[float, 0.0, 2.0] | None = None,
        min_p: app_commands.Range[float, 0.0, 1.0] | None = None,
        mechanics: str | None = None,
        round_timeout: app_commands.Range[int, 10, 86_400] | None = None,
    ) -> None:
        switch = None if mechanics is None else mechanics == "on"
        changes = SceneSettings(
            format, length, reply_mode, max_replies, temperature, min_p, switch, round_timeout
        )
        await answer(interaction, self.scenes.settings(actor_from(interaction), changes))

    @gm_only
    @app_commands.command(name="scenario", description="Set the scenario (empty text removes it)")
    async def scenario(self, interaction: discord.Interaction, text: str) -> None:
        await answer(interaction, self.scenes.scenario(actor_from(interaction), text))

    @gm_only
    @app_commands.command(name="prompt", description="The exact prompt the model sees next")
    @app_commands.rename(as_npc="as")
    @app_commands.describe(as_npc="The prompt this NPC would speak from next (what it witnessed)")
    @app_commands.autocomplete(as_npc=npc_names)
    async def prompt(self, interaction: discord.Interaction, as_npc: str | None = None) -> None:
        work = self.scenes.prompt(actor_from(interaction), as_npc)
        await answer(interaction, work, defer="private")

    @gm_only
    @app_commands.command(name="export", description="Download this scene's transcript")
    async def export(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.scenes.export(actor_from(interaction)), defer="private")

    @gm_only
    @app_commands.command(name="clear", description="Delete this scene's history (asks first)")
    async def clear(self, interaction: discord.Interaction) -> None:
        reply, scene_id = await self.scenes.clear_request(actor_from(interaction))
        await interaction.response.send_message(
            reply.text,
            view=clear_confirmation(scene_id),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def book_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await book_choices(self.lore_books, interaction, current)

    @gm_only
    @lore.command(name="add", description="This scene reads a lorebook from now on")
    @app_commands.autocomplete(book=book_names)
    async def lore_add(self, interaction: discord.Interaction, book: str) -> None:
        await answer(interaction, self.lore_books.attach(actor_from(interaction), book))

    @gm_only
    @lore.command(name="remove", description="This scene stops reading a lorebook")
    @app_commands.autocomplete(book=book_names)
    async def lore_remove(self, interaction: discord.Interaction, book: str) -> None:
        await answer(interaction, self.lore_books.detach(actor_from(interaction), book))

    memory = app_commands.Group(name="memory", description="The story so far (GM)")

    @gm_only
    @memory.command(name="show", description="Show the story so far and the turns it covers")
    @app_commands.rename(as_npc="as")
    @app_commands.describe(as_npc="The story this NPC reads (what it witnessed)")
    @app_commands.autocomplete(as_npc=npc_names)
    async def memory_show(
        self, interaction: discord.Interaction, as_npc: str | None = None
    ) -> None:
        await answer(interaction, self.memory_service.show(actor_from(interaction), as_npc))

    @gm_only
    @memory.command(name="edit", description="Rewrite the story so far")
    @app_commands.rename(as_npc="as")
    @app_commands.describe(as_npc="Rewrite this NPC's own story instead of the shared one")
    @app_commands.autocomplete(as_npc=npc_names)
    async def memory_edit(
        self, interaction: discord.Interaction, text: str, as_npc: str | None = None
    ) -> None:
        await answer(interaction, self.memory_service.edit(actor_from(interaction), text, as_npc))

    @gm_only
    @memory.command(name="clear", description="Forget the story so far")
    async def memory_clear(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.memory_service.clear(actor_from(interaction)))

    chapters = app_commands.Group(name="chapters", description="Closed chapters of the story (GM)")

    @gm_only
    @chapters.command(name="list", description="The chapters: titles, turns covered, texts")
    @app_commands.rename(as_npc="as")
    @app_commands.describe(as_npc="This NPC's own chapters (what it witnessed)")
    @app_commands.autocomplete(as_npc=npc_names)
    async def chapters_list(
        self, interaction: discord.Interaction, as_npc: str | None = None
    ) -> None:
        work = self.memory_service.chapters.show(actor_from(interaction), as_npc)
        await answer(interaction, work)

    @gm_only
    @chapters.command(name="edit", description="Retitle or rewrite a chapter")
    @app_commands.rename(as_npc="as")
    @app_commands.describe(
        number="The chapter's number in /scene chapters list",
        title="Its new title",
        text="Its new text",
        as_npc="A chapter of this NPC's own story",
    )
    @app_commands.autocomplete(as_npc=npc_names)
    async def chapters_edit(
        self,
        interaction: discord.Interaction,
        number: app_commands.Range[int, 1, 100_000],
        title: app_commands.Range[str, 1, 100] | None = None,
        text: str | None = None,
        as_npc: str | None = None,
    ) -> None:
        actor = actor_from(interaction)
        work = self.memory_service.chapters.edit(actor, number, title, text, as_npc)
        # Its size is counted by the model's tokenizer: acknowledge first.
        await answer(interaction, work, defer="private")

    @gm_only
    @chapters.command(name="merge", description="Merge a chapter with the next one")
    @app_commands.rename(as_npc="as")
    @app_commands.describe(
        first="The first chapter's number in /scene chapters list",
        as_npc="Chapters of this NPC's own story",
    )
    @app_commands.autocomplete(as_npc=npc_names)
    async def chapters_merge(
        self,
        interaction: discord.Interaction,
        first: app_commands.Range[int, 1, 100_000],
        as_npc: str | None = None,
    ) -> None:
        work = self.memory_service.chapters.merge(actor_from(interaction), first, as_npc)
        await answer(interaction, work, defer="private")


async def setup(bot: commands.Bot) -> None:
    """discord.py's extension entry point: add this cog over the bot's services."""
    services = services_of(bot)
    await bot.add_cog(
        SceneCog(
            services.get(SceneCommands),
            services.get(CharacterCommands),
            services.get(LoreCommands),
            services.get(MemoryCommands),
            services.get(KnowledgeCommands),
        )
    )
