"""The `/config` command logic: server-wide settings."""

from __future__ import annotations

from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, Reply
from bot.errors import UserError
from bot.store import SceneStore


class ConfigCommands:
    """Server-wide settings that only Manage Server may change."""

    def __init__(self, scenes: SceneStore) -> None:
        self.scenes = scenes

    async def set_gm_role(self, actor: Actor, role_id: int | None) -> Reply:
        """Who counts as GM besides Manage Server."""
        if not actor.manage_guild:
            raise UserError("Only members with Manage Server can choose the GM role.")
        await self.scenes.set_gm_role(actor.guild_id, role_id)
        if role_id is None:
            return Reply("GM role cleared: only Manage Server counts as GM.")
        return Reply(f"Members with <@&{role_id}> are now GMs.")


def build(deps: ChannelDeps) -> ConfigCommands:
    """The server settings feature over the shared channel parts."""
    return ConfigCommands(deps.stores.scenes)
