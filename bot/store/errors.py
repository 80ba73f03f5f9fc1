"""Store exceptions; ``str(e)`` is a short sentence fit to show a user."""

from __future__ import annotations

from bot.errors import UserError


class StoreError(UserError):
    """Base class for storage errors."""


class DuplicateNameError(StoreError):
    """A character with that name already exists in the same scope."""


class DuplicateMessageError(StoreError):
    """The Discord message is already recorded as (part of) a turn."""


class NotFoundError(StoreError):
    """The requested row does not exist."""


class DatabaseUnreachable(StoreError):
    """The database server is down, refused the login, or the database does not exist."""
