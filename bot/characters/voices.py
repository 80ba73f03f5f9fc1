"""`/npc settings`: an NPC's own sampler, length, talkativeness and backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Protocol, runtime_checkable

from bot.channel.access import Access
from bot.channel.deps import ChannelDeps
from bot.channel.ports import Actor, Reply
from bot.characters.voice import (
    DEFAULT_BACKEND,
    MAX_TOKENS_MAX,
    TALKATIVENESS_MAX,
    TEMPERATURE_MAX,
    VOICE_FIELDS,
    Voice,
    VoiceError,
    VoiceRules,
    cleared,
    describe_voice,
    voice_from_json,
    voice_to_json,
    with_changes,
)
from bot.errors import UserError
from bot.settings import Settings
from bot.store import CharacterStore

RESET_ALL = "all"
RESETS: tuple[str, ...] = (RESET_ALL, *VOICE_FIELDS)
# Why a named backend's NPCs speak through the default engine; None while it serves them.
BackendStatus = Callable[[str], str | None]


@runtime_checkable
class Routes(Protocol):
    """What the director's engine says of the named backends, when it routes among them."""

    def status(self, name: str) -> str | None: ...


@dataclass(frozen=True)
class VoiceChange:
    """The options of `/npc settings`; None leaves a field as it is.

    `reset` ("all" or a field) clears first; the fields given are then set. `backend` "default"
    clears the backend.
    """

    temperature: float | None = None
    min_p: float | None = None
    max_tokens: int | None = None
    length: str | None = None
    talkativeness: int | None = None
    backend: str | None = None
    reset: str | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def voice_rules(settings: Settings) -> VoiceRules:
    """What an NPC's voice may hold with these settings."""
    return VoiceRules(
        backends=tuple(settings.backends),
        max_tokens=max(MAX_TOKENS_MAX, settings.max_new_tokens),
    )


class VoiceCommands:
    """The `/npc settings` command logic."""

    def __init__(
        self,
        characters: CharacterStore,
        access: Access,
        rules: VoiceRules,
        status: BackendStatus | None = None,
    ) -> None:
        self.characters = characters
        self.access = access
        self.rules = rules
        self.status = status or (lambda _: None)

    async def settings(self, actor: Actor, name: str, change: VoiceChange) -> Reply:
        """Show an NPC's voice, or change it (GMs only)."""
        await self.access.require_gm(actor)
        npc = await self.characters.find_npc(actor.guild_id, name)
        if npc is None:
            raise UserError(f"No NPC named {name!r}.")
        current = voice_from_json(npc.voice)
        if change.empty:
            return Reply(f"**{npc.name}**'s voice: {self.describe(current)}.\n{self.help()}")
        voice = self.changed(current, change)
        await self.characters.update(npc.id, voice=voice_to_json(voice))
        return Reply(f"**{npc.name}**'s voice is now: {self.describe(voice)}.")

    def changed(self, current: Voice, change: VoiceChange) -> Voice:
        """`current` with `change` applied and checked; a `VoiceError` naming a bad field."""
        if change.reset is not None:
            if change.reset not in RESETS:
                raise VoiceError(f"reset must be one of: {', '.join(RESETS)}.")
            names = VOICE_FIELDS if change.reset == RESET_ALL else (change.reset,)
            current = cleared(current, names)
        given = {f: getattr(change, f) for f in VOICE_FIELDS if getattr(change, f) is not None}
        if given.get("backend") == DEFAULT_BACKEND:
            current = cleared(current, ["backend"])
            del given["backend"]
        return with_changes(current, self.rules.parse(given))

    def describe(self, voice: Voice) -> str:
        """The fields a voice sets; a backend that cannot serve it says why."""
        note = self.status(voice.backend) if voice.backend else None
        return describe_voice(voice, {"backend": note} if note else None)

    def help(self) -> str:
        """The options and their ranges, as the settings allow them."""
        backends = ", ".join(sorted(self.rules.backends or ())) or "none in BACKENDS"
        return (
            "Unset fields follow the scene and the defaults. "
            f"temperature 0-{TEMPERATURE_MAX:g}, min_p 0-1, max_tokens 1-{self.rules.max_tokens}, "
            f"talkativeness 0-{TALKATIVENESS_MAX} (50 by default), backend: {backends}; "
            "reset clears one field or all."
        )

    def backend_names(self, prefix: str) -> list[str]:
        """Autocomplete: the default engine, then the named backends."""
        names = [DEFAULT_BACKEND, *sorted(self.rules.backends or ())]
        return [n for n in names if n.startswith(prefix.strip().lower())][:25]


def build(deps: ChannelDeps) -> VoiceCommands:
    """The voices feature over the shared channel parts."""
    engine = getattr(deps.director, "engine", None)  # a test's deps may have no director
    status = engine.status if isinstance(engine, Routes) else None
    return VoiceCommands(
        deps.stores.characters, deps.access, voice_rules(deps.settings), status=status
    )
