"""Logging set-up, with a filter that keeps secrets out of every log line at every level.

discord.py logs webhook and interaction URLs (their path carries the token), REST answers
holding webhook objects and gateway payloads holding interaction tokens, all at DEBUG.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

REDACTED = "[redacted]"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# `/webhooks/ID/TOKEN` and `/interactions/ID/TOKEN`: the part after the id is the token.
_URL_TOKEN = re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/\s?#'\"]+")
# `'token': '…'` in the dict reprs and JSON of webhook objects and interaction payloads.
_FIELD_TOKEN = re.compile(
    r"""(?i)(['"](?:token|access_token|api_key|authorization|password)['"]\s*:\s*['"])[^'"]+"""
)
_TRACEBACKS = logging.Formatter()


class SecretFilter(logging.Filter):
    """Redacts known secrets and webhook/interaction tokens from records it sees."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """The text with every secret and token replaced."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = _URL_TOKEN.sub(rf"\1{REDACTED}", text)
        return _FIELD_TOKEN.sub(rf"\1{REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place: message with its arguments, traceback, stack."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break the logging call
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
            # Formatters print the cached `exc_text`; without `exc_info` none re-renders it.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_secret_filter(
    secrets: Iterable[str], handlers: Iterable[logging.Handler] | None = None
) -> SecretFilter:
    """Put one `SecretFilter` on `handlers` (default: every handler of the root logger)."""
    secret_filter = SecretFilter(secrets)
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        handler.addFilter(secret_filter)
    return secret_filter


def configure_logging(level: str, secrets: Iterable[str]) -> SecretFilter:
    """Log to stderr at `level`, with secrets and webhook tokens redacted on every handler."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    # Migration chatter on every start is noise for players; problems still surface as errors.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request to a model server at INFO, URL and all.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return install_secret_filter(secrets)
