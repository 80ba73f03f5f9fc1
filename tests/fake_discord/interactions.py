"""The test-side handle on an interaction, and typing of slash-command options."""

from __future__ import annotations

import asyncio
from typing import Any

EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Option types whose value is a snowflake that must appear in `resolved`.
SNOWFLAKE_OPTION_TYPES = frozenset({6, 7, 8, 9, 11})

Options = list[dict[str, Any]] | dict[str, Any] | None


class Interaction:
    """Handle on one INTERACTION_CREATE the fake sent; fills in as the bot answers."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        message = payload.get("message")
        self.message_id: int | None = int(message["id"]) if message else None
        self.original_message_id: int | None = None
        self.responses: list[dict[str, Any]] = []
        self.followups: list[dict[str, Any]] = []
        self._response: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._followup_queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @property
    def responded(self) -> bool:
        """Whether the bot has called the interaction callback."""
        return self._response.done()

    @property
    def ephemeral(self) -> bool:
        """Whether the callback response carried the EPHEMERAL flag."""
        if not self.responses:
            return False
        data = self.responses[0].get("data") or {}
        return bool((data.get("flags") or 0) & EPHEMERAL)

    async def response(self, timeout: float = 5.0) -> dict[str, Any]:
        """The callback body (`type` + `data`, plus `files` if any were uploaded)."""
        return await asyncio.wait_for(asyncio.shield(self._response), timeout)

    async def followup(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next message sent or edited through this interaction's webhook."""
        return await asyncio.wait_for(self._followup_queue.get(), timeout)

    def _set_response(self, body: dict[str, Any]) -> None:
        """Record the callback body."""
        self.responses.append(body)
        if not self._response.done():
            self._response.set_result(body)

    def _add_followup(self, message: dict[str, Any]) -> None:
        """Record a followup message or an edit of one."""
        self.followups.append(message)
        self._followup_queue.put_nowait(message)


def _find_option(schema: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The option definition called `name`, if registered."""
    return next((o for o in schema if o.get("name") == name), None)


def _infer_type(value: Any) -> int:
    """Option type for an unregistered option, from its Python value."""
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def type_options(
    command: dict[str, Any],
    options: Options,
    *,
    subcommand: str | None = None,
    group: str | None = None,
    focused: str | None = None,
) -> list[dict[str, Any]]:
    """Interaction `data.options` for `options`, typed from the registered command."""
    schema: list[dict[str, Any]] = command.get("options") or []
    if group is not None:
        schema = (_find_option(schema, group) or {}).get("options") or []
    if subcommand is not None:
        schema = (_find_option(schema, subcommand) or {}).get("options") or []
    if isinstance(options, dict):
        options = [{"name": k, "value": v} for k, v in options.items()]
    typed: list[dict[str, Any]] = []
    for option in options or []:
        definition = _find_option(schema, option["name"]) or {}
        kind = option.get("type") or definition.get("type") or _infer_type(option["value"])
        value = str(option["value"]) if kind in SNOWFLAKE_OPTION_TYPES else option["value"]
        entry: dict[str, Any] = {"name": option["name"], "type": kind, "value": value}
        if option["name"] == focused:
            entry["focused"] = True
        typed.append(entry)
    if subcommand is not None:
        typed = [{"type": 1, "name": subcommand, "options": typed}]
    if group is not None:
        typed = [{"type": 2, "name": group, "options": typed}]
    return typed


def leaf_options(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The value-carrying options below any subcommand/group wrappers."""
    while options and options[0].get("type") in (1, 2):
        options = options[0].get("options", [])
    return options


def component_type(components: list[dict[str, Any]], custom_id: str) -> int | None:
    """The type of the component with `custom_id` anywhere in a message's components."""
    for component in components:
        if component.get("custom_id") == custom_id:
            return int(component["type"])
        children = list(component.get("components") or [])
        children += [c for c in (component.get("component"), component.get("accessory")) if c]
        found = component_type(children, custom_id)
        if found is not None:
            return found
    return None
