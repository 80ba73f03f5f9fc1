"""The one error family whose message is meant for a person: a player, a GM or an admin.

Lower layers raise subclasses carrying the facts in their message; each front end catches
`UserError` in one place and shows the message as it is. Anything else is a bug: it is logged
once with its traceback and answered with `UNEXPECTED`.
"""

from __future__ import annotations

UNEXPECTED = "Something went wrong; the details are in the bot's log."


class UserError(Exception):
    """Something a person should know or fix; the message is shown to them as it is."""
