"""Helpers shared by the store classes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import StoreError
from .models import NAME_MAX


def name_key(name: str) -> str:
    """Case-insensitive lookup key for a name."""
    return " ".join(name.split()).casefold()


def clean_name(name: str) -> str:
    """Strip a user-supplied name and check its length."""
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise StoreError(f"Names must be 1 to {NAME_MAX} characters long.")
    return name


def check_fields(fields: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Reject updates to columns the caller may not change."""
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"cannot update {', '.join(sorted(unknown))}")
