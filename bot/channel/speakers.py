"""Players and NPCs of a server never share a name: the prompt could not tell them apart.

A shared name would also make `\\nMarta:` a stop string (or a forged turn) for the real Marta.
"""

from __future__ import annotations

from bot.domain import NAME_MAX
from bot.errors import UserError
from bot.names import speaker_name
from bot.store import CharacterStore

PLAYER_SUFFIX = " (player)"


async def refuse_name_clash(
    characters: CharacterStore, guild_id: int, kind: str, name: str
) -> None:
    """A player's character may not take an NPC's name, nor an NPC a player's character's."""
    if kind == "player":
        npc = await characters.find_npc(guild_id, name)
        if npc is not None:
            raise UserError(f"{npc.name} is already an NPC on this server.")
        return
    character = await characters.any_player_character(guild_id, name)
    if character is not None:
        raise UserError(f"{character.name} is already a player's character on this server.")


async def player_speaker(characters: CharacterStore, guild_id: int, raw: str) -> str:
    """A display or proxy name as a speaker: the name rule, and never an NPC's name."""
    name = speaker_name(raw)
    if await characters.find_npc(guild_id, name) is None:
        return name
    return name[: NAME_MAX - len(PLAYER_SUFFIX)].rstrip() + PLAYER_SUFFIX
