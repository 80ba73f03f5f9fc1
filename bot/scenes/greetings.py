"""The one greeting writer: an NPC joining a scene opens with its greeting, alternatives as swipes.

Both ways into a scene use it: `/scene add` (then posted) and a scene file's import.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.characters.card_json import greeting_versions
from bot.prompts.macros import resolve_macros, user_value
from bot.store import Character, Turn, TurnStore


async def store_greeting(
    turns: TurnStore,
    scene_id: int,
    npc: Character,
    player_names: Sequence[str],
    *,
    group: bool,
    pending: bool,
) -> Turn | None:
    """Store `npc`'s greeting with the card's others as its swipes; None if it has none.

    A `group` scene (several players or NPCs) opens with the card's group-only greetings.
    A `pending` turn joins the history once it is posted.
    """
    user = user_value(player_names)
    versions = [
        resolve_macros(text, char=npc.name, user=user)
        for text in greeting_versions(npc.greeting, npc.card_json, group=group)
    ]
    if not versions:
        return None
    return await turns.append(
        scene_id,
        role="model",
        speaker=npc.name,
        content=versions[0],
        character_id=npc.id,
        pending=pending,
        greeting=versions[1:],
    )
