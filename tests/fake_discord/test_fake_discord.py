"""Smoke test: the fake Discord serves the real discord.py client end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fake_discord import FakeDiscord, point_discord_py_at, restore_discord_py_urls

TIMEOUT = 10.0


class Panel(discord.ui.View):
    """A persistent view with one button."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Roll", custom_id="smoke:roll")
    async def roll(
        self, interaction: discord.Interaction, button: discord.ui.Button[Panel]
    ) -> None:
        """Answer the click ephemerally, naming the clicker."""
        await interaction.response.send_message(f"rolled for {interaction.user.id}", ephemeral=True)


@app_commands.command(description="Check the bot is alive")
async def ping(interaction: discord.Interaction) -> None:
    """Reply ephemerally."""
    await interaction.response.send_message("pong", ephemeral=True)


@app_commands.command(description="Speak through a channel webhook")
async def hook(interaction: discord.Interaction) -> None:
    """Create a webhook, post through it, then confirm in a followup."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    channel = interaction.channel
    assert isinstance(channel, discord.TextChannel)
    webhook = await channel.create_webhook(name="Tavernkeep")
    await webhook.send(
        "The door creaks open.",
        username="Narrator",
        allowed_mentions=discord.AllowedMentions.none(),
        wait=True,
    )
    await interaction.followup.send("sent", ephemeral=True)


class SmokeBot(commands.Bot):
    """A minimal bot: /ping, /hook, a persistent panel and an on_message recorder."""

    def __init__(self, guild_id: int) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
        self.guild = discord.Object(guild_id)
        self.seen: asyncio.Queue[discord.Message] = asyncio.Queue()

    async def setup_hook(self) -> None:
        """Register the commands, the persistent view and the listener."""
        self.tree.add_command(ping, guild=self.guild)
        self.tree.add_command(hook, guild=self.guild)
        self.add_view(Panel())
        self.add_listener(self.record, "on_message")

    async def record(self, message: discord.Message) -> None:
        """Queue every message the bot receives."""
        await self.seen.put(message)

    async def next_message(self, predicate: Callable[[discord.Message], bool]) -> discord.Message:
        """The next received message matching `predicate`."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = await self.seen.get()
                if predicate(message):
                    return message


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A running fake with discord.py pointed at it."""
    server = FakeDiscord()
    await server.start()
    point_discord_py_at(server.api_base, server.gateway_url)
    try:
        yield server
    finally:
        restore_discord_py_urls()
        await server.stop()


async def test_real_discord_py_against_fake(fake: FakeDiscord) -> None:
    """Login, gateway, sync, slash commands, webhooks, messages and a button all work."""
    bot = SmokeBot(fake.guild_id)
    task = asyncio.create_task(bot.start("fake-token"))
    try:
        await fake.wait_ready(TIMEOUT)
        await asyncio.wait_for(bot.wait_until_ready(), TIMEOUT)
        assert bot.user is not None and bot.user.id == fake.bot_user_id
        guild = bot.get_guild(fake.guild_id)
        assert guild is not None and guild.get_channel(fake.channel_id) is not None
        assert guild.get_thread(fake.thread_id) is not None

        synced = await bot.tree.sync(guild=bot.guild)
        assert {c.name for c in synced} == {"ping", "hook"}
        assert set(fake.commands) == {"ping", "hook"}

        alice = fake.player_ids[0]
        ping_call = await fake.slash("ping", user_id=alice, channel_id=fake.channel_id)
        reply = await ping_call.response(TIMEOUT)
        assert reply["type"] == 4 and reply["data"]["content"] == "pong"
        assert ping_call.ephemeral

        hook_call = await fake.slash("hook", user_id=fake.admin_id, channel_id=fake.channel_id)
        assert (await hook_call.response(TIMEOUT))["type"] == 5
        assert (await hook_call.followup(TIMEOUT))["content"] == "sent"
        assert hook_call.ephemeral
        execution = fake.webhook_executions[-1]
        assert execution["allowed_mentions"] == {"parse": []}
        assert execution["username"] == "Narrator"
        echoed = await bot.next_message(lambda m: m.content == "The door creaks open.")
        assert echoed.webhook_id is not None and echoed.author.name == "Narrator"

        await fake.user_message(fake.channel_id, alice, "I push the door.")
        seen = await bot.next_message(lambda m: m.content == "I push the door.")
        assert seen.author.id == alice and isinstance(seen.author, discord.Member)

        channel = guild.get_channel(fake.channel_id)
        assert isinstance(channel, discord.TextChannel)
        panel = await channel.send("Roll for initiative", view=Panel())
        click = await fake.click(panel.id, "smoke:roll", user_id=alice, channel_id=fake.channel_id)
        answer = await click.response(TIMEOUT)
        assert answer["data"]["content"] == f"rolled for {alice}" and click.ephemeral
        assert fake.unknown_routes == []
    finally:
        await bot.close()
        await asyncio.wait_for(task, TIMEOUT)


async def test_history_after_reactions_and_resume(fake: FakeDiscord) -> None:
    """`history(after=…)` pages like Discord, reactions land and go, a dropped gateway resumes."""
    alice = fake.player_ids[0]
    posted = [await fake.user_message(fake.channel_id, alice, f"line {i}") for i in range(130)]
    bot = SmokeBot(fake.guild_id)
    resumed = asyncio.Event()

    async def on_resumed() -> None:
        resumed.set()

    bot.add_listener(on_resumed)
    task = asyncio.create_task(bot.start("fake-token"))
    try:
        await fake.wait_ready(TIMEOUT)
        await asyncio.wait_for(bot.wait_until_ready(), TIMEOUT)
        channel = bot.get_channel(fake.channel_id)
        assert isinstance(channel, discord.TextChannel)

        after = discord.Object(int(posted[4]["id"]))
        read = [m async for m in channel.history(after=after, oldest_first=True, limit=200)]
        assert [m.content for m in read] == [f"line {i}" for i in range(5, 130)]  # two pages
        capped = [m async for m in channel.history(after=after, oldest_first=True, limit=3)]
        assert [m.content for m in capped] == ["line 5", "line 6", "line 7"]

        mark = "\N{WARNING SIGN}\ufe0f"
        await channel.get_partial_message(read[0].id).add_reaction(mark)
        assert fake.reactions == [(read[0].id, mark, fake.bot_user_id)]
        assert bot.user is not None
        await channel.get_partial_message(read[0].id).remove_reaction(mark, bot.user)
        assert fake.reactions == []
        assert fake.removed_reactions == [(read[0].id, mark, fake.bot_user_id)]

        await fake.drop_gateway()
        await asyncio.wait_for(resumed.wait(), TIMEOUT)
        assert fake.resumes == 1
        assert fake.unknown_routes == []
    finally:
        await bot.close()
        await asyncio.wait_for(task, TIMEOUT)


async def test_versions_of_an_edited_message(fake: FakeDiscord) -> None:
    """Each text a message showed, posted then edited, in order."""
    alice = fake.player_ids[0]
    posted = await fake.user_message(fake.channel_id, alice, "one")
    await fake.edit_user_message(fake.channel_id, int(posted["id"]), "one two")
    await fake.edit_user_message(fake.channel_id, int(posted["id"]), "one two three")
    assert fake.versions(posted["id"]) == ["one", "one two", "one two three"]


async def test_a_members_reply_reaches_discord_py_as_a_reply(fake: FakeDiscord) -> None:
    """`reply_to=` sends the reference and the replied-to message, as Discord's gateway does."""
    alice, bob = fake.player_ids[0], fake.player_ids[1]
    bot = SmokeBot(fake.guild_id)
    task = asyncio.create_task(bot.start("fake-token"))
    try:
        await fake.wait_ready(TIMEOUT)
        await asyncio.wait_for(bot.wait_until_ready(), TIMEOUT)
        first = await fake.user_message(fake.channel_id, alice, "Who goes there?")
        await fake.user_message(fake.channel_id, bob, "Only me.", reply_to=int(first["id"]))
        seen = await bot.next_message(lambda m: m.content == "Only me.")
        reference = seen.reference
        assert reference is not None and reference.message_id == int(first["id"])
        assert reference.type is discord.MessageReferenceType.reply
        assert isinstance(reference.resolved, discord.Message)
        assert reference.resolved.content == "Who goes there?"
        assert seen.type is discord.MessageType.reply

        plain = await fake.user_message(fake.channel_id, alice, "Come in.")
        assert "message_reference" not in plain
        assert (await bot.next_message(lambda m: m.content == "Come in.")).reference is None
    finally:
        await bot.close()
        await asyncio.wait_for(task, TIMEOUT)
