"""The `/scene` and `/config` command logic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.channel.addressing import Post
from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, Reply
from bot.channel.sessions import Trigger
from bot.channel.table import duration
from bot.director import StoredTurn
from bot.domain import FORMAT_NAMES, LENGTHS, REPLY_MODES
from bot.errors import UserError
from bot.knowledge.marks import SecretMarks, secret_counts
from bot.knowledge.wording import secret_counts as secrets_line
from bot.knowledge.wording import typed_name
from bot.lore.wording import prompt_reply
from bot.recall.wording import with_recall
from bot.scenes.transcript import transcript
from bot.store import PUBLIC, NotFoundError, Scene

MAX_REPLIES_LIMIT = 8
ROUND_TIMEOUT_LIMITS = (10, 86_400)  # seconds: 10 s to 24 h
SCENARIO_MAX_CHARS = 2000
# How far back /scene resume looks for posts the NPCs have not answered.
RESUME_WINDOW = 64
PAUSED_STATUS = "**Paused**: posts are kept; the NPCs stay silent until /scene resume."


@dataclass(frozen=True)
class SceneSettings:
    """The options of `/scene settings`; None leaves a value unchanged."""

    format: str | None = None
    length: str | None = None
    reply_mode: str | None = None
    max_replies: int | None = None
    temperature: float | None = None
    min_p: float | None = None
    mechanics: bool | None = None  # NPCs roll dice and change tracked values through markers
    round_timeout: int | None = None  # seconds a `table` round waits for every player

    def validated(self) -> dict[str, object]:
        """The changed fields, checked; 'none' as length removes the modifier."""
        changes: dict[str, object] = {}
        if self.format is not None:
            _one_of("format", self.format, FORMAT_NAMES)
            changes["format"] = self.format
        if self.length is not None:
            if self.length == "none":
                changes["length"] = None
            else:
                _one_of("length", self.length, LENGTHS)
                changes["length"] = self.length
        if self.reply_mode is not None:
            _one_of("reply_mode", self.reply_mode, REPLY_MODES)
            changes["reply_mode"] = self.reply_mode
        if self.max_replies is not None:
            if not 1 <= self.max_replies <= MAX_REPLIES_LIMIT:
                raise UserError(f"max_replies must be between 1 and {MAX_REPLIES_LIMIT}.")
            changes["max_replies"] = self.max_replies
        if self.temperature is not None:
            if not (math.isfinite(self.temperature) and 0 <= self.temperature <= 2):
                raise UserError("temperature must be between 0 and 2.")
            changes["temperature"] = self.temperature
        if self.min_p is not None:
            if not (math.isfinite(self.min_p) and 0 <= self.min_p <= 1):
                raise UserError("min_p must be between 0 and 1.")
            changes["min_p"] = self.min_p
        if self.mechanics is not None:
            changes["mechanics"] = self.mechanics
        if self.round_timeout is not None:
            low, high = ROUND_TIMEOUT_LIMITS
            if not low <= self.round_timeout <= high:
                raise UserError(f"round_timeout must be between {low} and {high} seconds (24 h).")
            changes["round_timeout"] = self.round_timeout
        return changes


def _shown(value: object) -> str:
    """A setting's value as `/scene settings` takes it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return "none" if value is None else str(value)


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UserError(f"{key} must be one of: {', '.join(allowed)}.")


class SceneCommands:
    """Starting, configuring, inspecting and clearing scenes."""

    def __init__(self, deps: ChannelDeps) -> None:
        stores = deps.stores
        self.characters = stores.characters
        self.scenes = stores.scenes
        self.stores = stores
        self.turns = stores.turns
        self.summaries = stores.summaries
        self.chapters = stores.chapters
        self.views = deps.views
        self.director = deps.director
        self.access = deps.access
        self.sessions = deps.sessions
        self.publisher = deps.publisher
        self.play = deps.play
        self.table = deps.table
        self.default_format = deps.settings.default_format

    async def _gm_scene(self, actor: Actor) -> Scene:
        await self.access.require_gm(actor)
        return await self.access.require_scene(actor)

    async def start(self, actor: Actor, fmt: str | None) -> Reply:
        await self.access.require_gm(actor)
        if fmt is not None:
            _one_of("format", fmt, FORMAT_NAMES)
        previous = await self.scenes.by_channel(actor.channel_id, active_only=False)
        chosen = fmt or (previous.format if previous else self.default_format)
        scene = await self.scenes.start(
            guild_id=actor.guild_id,
            channel_id=actor.channel_id,
            format=chosen,
            reply_mode=previous.reply_mode if previous else "auto",
        )
        again = " again" if previous else ""
        return Reply(
            f"Scene started{again} here (format {scene.format}, reply mode {scene.reply_mode}). "
            "Add NPCs with /scene add.",
            ephemeral=False,
        )

    async def end(self, actor: Actor) -> Reply:
        await self._gm_scene(actor)
        # A running round stops at its next token and stores nothing half-made.
        async with self.sessions.get(actor.channel_id).halted():
            # Another GM may have ended it while this command waited for the channel.
            await self.access.require_scene(actor)
            await self.scenes.end(actor.channel_id)
            self.sessions.get(actor.channel_id).table.reset()
        return Reply("Scene ended. History is kept; /scene start resumes it.", ephemeral=False)

    async def status(self, actor: Actor) -> Reply:
        scene = await self._gm_scene(actor)
        cast = await self.scenes.cast_muted(scene.id)
        players = [
            c.name if here else f"{c.name} (away)"
            for _, c, here in await self.scenes.player_presence(scene.id)
        ]
        muted = [c.name for c, is_muted in cast if is_muted]
        secrets = await secret_counts(self.stores, scene.id)
        lines = [PAUSED_STATUS] if scene.paused else []
        lines += [
            f"**Format** {scene.format} · **reply mode** {scene.reply_mode} · "
            f"**max replies** {scene.max_replies} · **length** {scene.length or 'model decides'}",
            f"**Temperature** {_or_default(scene.temperature)} · "
            f"**min_p** {_or_default(scene.min_p)} · **mechanics** {_shown(scene.mechanics)}",
            f"**Cast** {', '.join(c.name for c, _ in cast) or 'nobody yet'}",
            *([f"**Muted** {', '.join(muted)} (they speak only when named)"] if muted else []),
            f"**Players** {', '.join(players) or 'nobody yet'}",
            *await self.table.status(scene),
            f"**Turns** {await self.turns.count(scene.id)}",
        ]
        if secrets:  # whispers and tells: what only some characters know
            lines.append(secrets_line(secrets["whisper"], secrets["tell"]))
        if scene.scenario:
            lines.append(f"**Scenario** {scene.scenario[:500]}")
        return Reply("\n".join(lines))

    async def pause(self, actor: Actor) -> Reply:
        """Hold the NPCs back: a running round stops unstored, posts are kept for resume."""
        await self._gm_scene(actor)
        async with self.sessions.get(actor.channel_id).halted():
            scene = await self.access.require_scene(actor)  # still there after the wait
            if scene.paused:
                return Reply("The scene is already paused.")
            await self.scenes.update(scene.id, paused=True)
            # /scene resume counts the posts since the last NPC turn again.
            self.sessions.get(actor.channel_id).table.reset()
        return Reply(
            "Scene paused: posts are kept, the NPCs stay silent until /scene resume.",
            ephemeral=False,
        )

    async def resume(self, actor: Actor) -> Reply:
        """Let the NPCs speak again, answering the posts that came while they were paused."""
        await self._gm_scene(actor)
        # Under the intake lock a post is either stored before the scene runs again (and read
        # here) or finds it running (and asks for its own round): none is left unanswered.
        async with self.sessions.get(actor.channel_id).intake:
            scene = await self.access.require_scene(actor)
            if not scene.paused:
                return Reply("The scene is not paused.")
            scene = await self.scenes.update(scene.id, paused=False)
            waiting = await self._unanswered(scene.id)
        trigger: Trigger | None = None
        for post in waiting:  # oldest first: the newest name wins, as when they were posted
            asked = await self.play.trigger_for(scene, Post(post.content, post.speaker), human=True)
            if asked is not None:
                trigger = asked if trigger is None else trigger.merge(asked)
        if trigger is None:
            return Reply("Scene resumed.", ephemeral=False)
        self.sessions.trigger(scene.channel_id, replace(trigger, delay=0.0))
        return Reply("Scene resumed: the NPCs answer what was posted meanwhile.", ephemeral=False)

    async def _unanswered(self, scene_id: int) -> Sequence[StoredTurn]:
        """The posts after the newest NPC turn (within the newest RESUME_WINDOW turns)."""
        # Whispers and tells were answered (or not) privately: no public round answers them.
        lines = await self.turns.lines(scene_id, RESUME_WINDOW, witness=PUBLIC)
        since = next((i for i in range(len(lines), 0, -1) if lines[i - 1].role == "model"), 0)
        return lines[since:]

    async def mute(self, actor: Actor, name: str, muted: bool) -> Reply:
        """Mute or unmute a cast member: it stays present, but the model never chooses it."""
        scene = await self._gm_scene(actor)
        npc = await self.characters.find_npc(actor.guild_id, name)
        changed = None if npc is None else await self.scenes.set_muted(scene.id, npc.id, muted)
        if npc is None or changed is None:
            raise UserError(f"{name} is not in this scene's cast.")
        if not changed:
            return Reply(f"**{npc.name}** is already {'muted' if muted else 'unmuted'}.")
        if muted:
            return Reply(f"**{npc.name}** is muted: present, but speaks only when named.")
        return Reply(f"**{npc.name}** is unmuted: the NPCs' turns may go to them again.")

    async def add_npc(self, actor: Actor, name: str) -> Reply:
        scene = await self._gm_scene(actor)
        npc = await self.characters.find_npc(actor.guild_id, name)
        if npc is None:
            raise UserError(f"No NPC named {name!r}. Create one with /npc create.")
        if not await self.scenes.add_cast(scene.id, npc.id):
            return Reply(f"**{npc.name}** is already in this scene.")
        await self.publisher.greet(scene, npc)
        return Reply(f"**{npc.name}** joined the scene.", ephemeral=False)

    async def remove_npc(self, actor: Actor, name: str) -> Reply:
        scene = await self._gm_scene(actor)
        npc = await self.characters.find_npc(actor.guild_id, name)
        if npc is None or not await self.scenes.remove_cast(scene.id, npc.id):
            raise UserError(f"{name} is not in this scene.")
        return Reply(f"**{npc.name}** left the scene.", ephemeral=False)

    async def settings(self, actor: Actor, changes: SceneSettings) -> Reply:
        scene = await self._gm_scene(actor)
        fields = changes.validated()
        if not fields:
            return await self.status(actor)
        scene = await self.scenes.update(scene.id, **fields)
        if "reply_mode" in fields:  # a table round held for the players is given up
            self.sessions.get(scene.channel_id).table.reset()
        summary = ", ".join(f"{k} = {_shown(v)}" for k, v in fields.items())
        if fields.keys() & {"reply_mode", "round_timeout"}:
            timeout = duration(self.table.timeout(scene))
            summary += f". Reply mode {scene.reply_mode} · round timeout {timeout} (table mode)"
        return Reply(f"Scene settings changed: {summary}.")

    async def scenario(self, actor: Actor, text: str) -> Reply:
        scene = await self._gm_scene(actor)
        cleaned = text.strip()
        if len(cleaned) > SCENARIO_MAX_CHARS:
            raise UserError(f"The scenario is limited to {SCENARIO_MAX_CHARS} characters.")
        await self.scenes.update(scene.id, scenario=cleaned or None)
        return Reply("Scenario updated." if cleaned else "Scenario removed.")

    async def prompt(self, actor: Actor, as_name: str | None = None) -> Reply:
        """The exact prompt the model would see next; `as_name`: the one that NPC speaks from."""
        scene = await self._gm_scene(actor)
        view = await self.views.view(scene)
        speaker = None
        if as_name is not None:
            member = view.npc(as_name.strip())
            if member is None:
                raise UserError(f"{typed_name(as_name)} is not in this scene's cast.")
            speaker = member.name
        plan = await self.director.build_prompt(view, speaker=speaker)
        note = f"{speaker}'s next prompt" if speaker else "Next prompt"
        note += f": {plan.budget.used_tokens} tokens"
        if plan.budget.trimmed:
            note += f", oldest turns trimmed ({len(plan.history)} kept)"
        reply = prompt_reply(note + ".", plan.rendered.text, plan.lore, bool(view.lore.sources))
        return with_recall(reply, plan.recall)

    async def export(self, actor: Actor) -> Reply:
        """The whole history as a transcript file, read in pages and written off the loop."""
        scene = await self._gm_scene(actor)
        marks = SecretMarks(self.stores, scene.id)
        count, file = await transcript(self.turns, self.summaries, self.chapters, scene.id, marks)
        if not count:
            raise UserError("This scene has no history yet.")
        return Reply(f"Transcript: {count:,} turns.", file=file)

    async def clear_request(self, actor: Actor) -> tuple[Reply, int]:
        """Ask for confirmation; the cog shows a button carrying the scene id."""
        scene = await self._gm_scene(actor)
        count = await self.turns.count(scene.id)
        return Reply(f"Delete all {count} turns of this scene? This cannot be undone."), scene.id

    async def clear(self, actor: Actor, scene_id: int) -> Reply:
        await self.access.require_gm(actor)
        try:
            scene = await self.scenes.get(scene_id)
        except NotFoundError:
            raise UserError("That scene no longer exists.") from None
        self.access.require_own_channel(actor, scene)
        async with self.sessions.get(scene.channel_id).halted():
            visible = await self.turns.count(scene.id)  # the number the confirmation named
            await self.turns.clear(scene.id)
            self.sessions.get(scene.channel_id).table.reset()
        return Reply(f"Cleared {visible} turns.", ephemeral=False)


def _or_default(value: float | None) -> str:
    return "default" if value is None else f"{value:g}"


def build(deps: ChannelDeps) -> SceneCommands:
    """The scenes feature over the shared channel parts."""
    return SceneCommands(deps)
