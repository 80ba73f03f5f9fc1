"""Helpers shared by the store classes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import CursorResult, Result

from bot.domain import NAME_MAX
from bot.names import plain_name

from .errors import StoreError


def name_key(name: str) -> str:
    """Case-insensitive lookup key for a name."""
    return " ".join(name.split()).casefold()


def clean_name(name: str) -> str:
    """The name rule as the last gate before a name is stored (the services check it first)."""
    cleaned = plain_name(name, limit=None)
    if not cleaned or len(cleaned) > NAME_MAX:
        raise StoreError(f"Names must be 1 to {NAME_MAX} characters long.")
    return cleaned


def check_fields(fields: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Reject updates to columns the caller may not change."""
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"cannot update {', '.join(sorted(unknown))}")


def affected(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an UPDATE or DELETE matched."""
    # A session types every result as `Result`; a DML statement's is a `CursorResult`.
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} is not the result of an UPDATE or DELETE")
    return result.rowcount
