"""`/stat`: GMs (and, where the scene allows, players for their own character) change values."""

from __future__ import annotations

from bot.channel.access import Access
from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, Reply
from bot.domain import StateOp
from bot.errors import UserError
from bot.state.rules import apply, make_change
from bot.state.wording import history_lines, stat_text, status_line, value_text
from bot.store import Character, Scene, Stores

HISTORY_SHOWN = 10
REPLY_MAX_CHARS = 1800  # a Discord message holds 2,000; longer answers come as a file
CHOICES_MAX = 25  # Discord's autocomplete limit


class StatCommands:
    """Change and show the tracked values of a scene's characters."""

    def __init__(self, stores: Stores, access: Access) -> None:
        self.stores = stores
        self.access = access

    async def set(self, actor: Actor, key: str, value: str, character: str | None = None) -> Reply:
        """Give a value: `12/20` a number with a maximum, `15` a counter, `a, b` a list."""
        return await self._change(actor, "set", key, value, character)

    async def add(self, actor: Actor, key: str, value: str, character: str | None = None) -> Reply:
        """Add `+2`/`-3` to a number, or items to a list."""
        return await self._change(actor, "add", key, value, character)

    async def remove(
        self, actor: Actor, key: str, items: str | None = None, character: str | None = None
    ) -> Reply:
        """Take items off a list; without items, stop tracking the value."""
        return await self._change(actor, "remove", key, items or "", character)

    async def _change(
        self, actor: Actor, op: StateOp, key: str, raw: str, character: str | None
    ) -> Reply:
        scene = await self.access.require_scene(actor)
        target = await self._target(actor, scene, character)
        stats = (await self.stores.state.current(scene.id)).of(target.id)
        change = make_change(stats, target.id, key, op, raw)
        await self.stores.state.record(scene.id, [change])
        before = stats.get(change.key.casefold())
        after = apply(stats, change).get(change.key.casefold())
        if after is None:
            return Reply(
                f"{target.name}: {before.key if before else change.key} is no longer tracked."
            )
        was = f" (was {value_text(before.value)})" if before else ""
        return Reply(f"{target.name}: {stat_text(after)}{was}.")

    async def _target(self, actor: Actor, scene: Scene, name: str | None) -> Character:
        """The character to change: anyone in the scene for a GM, else only the actor's own."""
        gm = await self.access.is_gm(actor)
        own = await self.stores.scenes.bound_character(scene.id, actor.user_id)
        if name is None:
            if own is None:
                raise UserError("Name a character: you play none in this scene.")
            target = own
        else:
            target = await self._find(scene, name)
        if gm:
            return target
        if own is None or own.id != target.id:
            raise UserError("You can change only your own character's values.")
        if not scene.player_stats:
            raise UserError(
                "In this scene only a GM changes values; a GM can let players change their "
                "own with /stat players on."
            )
        return target

    async def _find(self, scene: Scene, name: str) -> Character:
        folded = " ".join(name.split()).casefold()
        for character in await self.stores.scenes.characters(scene.id):
            if character.name.casefold() == folded:
                return character
        raise UserError(f"{name} is not in this scene.")

    async def show(
        self, actor: Actor, character: str | None = None, key: str | None = None
    ) -> Reply:
        """A character's values (everyone's, for someone who plays none), or one value's history."""
        scene = await self.access.require_scene(actor)
        await self.access.require_player(actor, scene)
        own = await self.stores.scenes.bound_character(scene.id, actor.user_id)
        target = await self._find(scene, character) if character else own
        if key is not None:
            if target is None:
                raise UserError("Name a character: you play none in this scene.")
            return _long(await self._history(scene, target, key))
        state = await self.stores.state.current(scene.id)
        shown = [target] if target is not None else await self.stores.scenes.characters(scene.id)
        lines = [status_line(c.name, state.of(c.id)) for c in shown]
        text = "\n".join(line for line in lines if line)
        if text:
            return _long(text)
        if target is not None:
            return Reply(f"{target.name} has no tracked values yet.")
        return Reply("No one in this scene has tracked values yet.")

    async def _history(self, scene: Scene, target: Character, key: str) -> str:
        entries = await self.stores.state.history(scene.id, target.id, key)
        current = (await self.stores.state.current(scene.id)).get(target.id, key)
        now = stat_text(current) if current else f"{key} is not tracked"
        if not entries:
            return f"{target.name}: {now}; nothing has changed it."
        lines = history_lines(entries, HISTORY_SHOWN)
        more = len(entries) - len(lines)
        head = f"{target.name}: {now}. Changes, newest last"
        head += f" ({more} older not shown):" if more else ":"
        return "\n".join((head, *lines))

    async def players(self, actor: Actor, on: bool) -> Reply:
        """Let players change their own character's values in this scene, or stop them."""
        await self.access.require_gm(actor)
        scene = await self.access.require_scene(actor)
        await self.stores.state.set_options(scene.id, player_stats=on)
        if on:
            return Reply("Players can now change their own character's values with /stat.")
        return Reply("Only GMs can change values in this scene now.")

    async def names(self, actor: Actor, current: str) -> list[str]:
        """Autocomplete over the names of the scene's characters."""
        scene = await self.stores.scenes.by_channel(actor.channel_id)
        if scene is None:
            return []
        typed = current.casefold()
        names = [
            c.name
            for c in await self.stores.scenes.characters(scene.id)
            if typed in c.name.casefold()
        ]
        return names[:CHOICES_MAX]


def _long(text: str) -> Reply:
    """The text as a reply, or as a file when it is longer than a message holds."""
    if len(text) > REPLY_MAX_CHARS:
        return Reply("The values are attached.", file=("stats.txt", text.encode()))
    return Reply(text)


def build(deps: ChannelDeps) -> StatCommands:
    """The tracked-state feature over the shared channel parts."""
    return StatCommands(deps.stores, deps.access)
