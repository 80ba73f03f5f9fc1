"""Discord attachment links expire: telling when a stored avatar link needs refreshing."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

# Refreshed a little early: Discord fetches the avatar after the post, not at the check.
EXPIRY_MARGIN_SECONDS = 600
_ATTACHMENT_PATH = re.compile(r"/attachments/\d+/\d+/[^/]+")


def is_attachment_link(url: str) -> bool:
    """A Discord attachment link (signed with `ex`/`is`/`hm`), the only kind that expires."""
    return bool(_ATTACHMENT_PATH.fullmatch(urlsplit(url).path))


def link_expired(url: str, now: float, margin: float = EXPIRY_MARGIN_SECONDS) -> bool:
    """Whether an attachment link's `ex` time (hex Unix seconds) has passed, or it has none."""
    if not is_attachment_link(url):
        return False
    expiry = parse_qs(urlsplit(url).query).get("ex", [""])[0]
    try:
        return int(expiry, 16) <= now + margin
    except ValueError:  # an unsigned link from before Discord signed them: refresh it too
        return True
