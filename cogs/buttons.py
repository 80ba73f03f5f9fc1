"""Persistent buttons: Swipe / Continue / Delete under NPC turns, and the clear confirmation.

They are `DynamicItem`s whose custom ids carry the turn or scene id, so they keep working
after a restart without any stored view state.
"""

from __future__ import annotations

import re
from typing import Any, cast

import discord

from bot.channel.turn_actions import TurnAction
from bot.scenes.service import SceneCommands
from cogs.common import actor_from, answer
from cogs.registry import services_of

# The one table of turn actions: the buttons and the Apps menu are both made from it.
TURN_ACTIONS: dict[TurnAction, tuple[str, str, discord.ButtonStyle]] = {
    "swipe": ("Swipe", "🔄", discord.ButtonStyle.secondary),
    "continue": ("Continue", "➡️", discord.ButtonStyle.secondary),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.danger),
}


class TurnButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"tk:(?P<action>{'|'.join(TURN_ACTIONS)}):(?P<turn>[0-9]+)",
):
    """One of the three buttons under the newest NPC message."""

    def __init__(self, action: TurnAction, turn_id: int) -> None:
        label, emoji, style = TURN_ACTIONS[action]
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label, emoji=emoji, style=style, custom_id=f"tk:{action}:{turn_id}"
        )
        super().__init__(button)
        self.action, self.turn_id = action, turn_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> TurnButton:
        return cls(cast(TurnAction, match["action"]), int(match["turn"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        actions = services_of(interaction.client).turns
        work = actions.run(actor_from(interaction), self.action, self.turn_id)
        await answer(interaction, work, defer="private")


def turn_controls(turn_id: int) -> discord.ui.View:
    """The button row for a turn."""
    view = discord.ui.View(timeout=None)
    for action in TURN_ACTIONS:
        view.add_item(TurnButton(action, turn_id))
    return view


class ClearButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"tk:clear:(?P<scene>[0-9]+)"
):
    """Confirms `/scene clear`."""

    def __init__(self, scene_id: int) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label="Delete the history",
            style=discord.ButtonStyle.danger,
            custom_id=f"tk:clear:{scene_id}",
        )
        super().__init__(button)
        self.scene_id = scene_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ClearButton:
        return cls(int(match["scene"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        scenes = services_of(interaction.client).get(SceneCommands)
        work = scenes.clear(actor_from(interaction), self.scene_id)
        await answer(interaction, work, defer="public")


def clear_confirmation(scene_id: int) -> discord.ui.View:
    """The confirm button of `/scene clear`."""
    view = discord.ui.View(timeout=None)
    view.add_item(ClearButton(scene_id))
    return view
