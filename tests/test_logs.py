"""The secret filter: known secrets and webhook/interaction tokens never reach a log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import REDACTED, SecretFilter, configure_logging, install_secret_filter
from bot.settings import load_settings

BOT_TOKEN = "MTIz.bot-token.secret"
HOOK_URL = "https://discord.com/api/v10/webhooks/123456789/hook_Token-abc.DEF"


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose one handler carries the filter; what it wrote."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    install_secret_filter([BOT_TOKEN, "k3y"], [handler])
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_secrets_in_the_message_and_its_arguments_are_redacted(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = logged
    logger.debug("token %s and key k3y", BOT_TOKEN)
    logger.info("Webhook ID %s with %s %s has returned status code %s", 1, "POST", HOOK_URL, 200)
    logger.debug("POST %s/messages/@original", "http://127.0.0.1:1/api/interactions/9/aW50:x.y")
    logger.debug("GET has received %s", [{"id": "1", "token": "hook-token-1", "name": "T"}])
    logger.debug('{"t": "INTERACTION_CREATE", "d": {"token":"interaction-token-2"}}')
    text = stream.getvalue()
    for secret in (BOT_TOKEN, "k3y", "hook_Token-abc.DEF", "aW50:x.y", "hook-token-1", "-token-2"):
        assert secret not in text
    assert f"/webhooks/123456789/{REDACTED} has returned status code 200" in text
    assert f"/interactions/9/{REDACTED}/messages/@original" in text
    assert f"'token': '{REDACTED}', 'name': 'T'" in text


def test_tracebacks_are_redacted(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    try:
        raise RuntimeError(f"POST {HOOK_URL} failed for {BOT_TOKEN}")
    except RuntimeError:
        logger.exception("request failed")
    text = stream.getvalue()
    assert "RuntimeError: POST https://discord.com/api/v10/webhooks/123456789/" in text
    assert "Traceback" in text and BOT_TOKEN not in text and "hook_Token" not in text


def test_a_bad_format_string_never_breaks_the_logging_call(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = logged
    logger.info("two %s %s", BOT_TOKEN)  # one argument short
    assert "two %s %s" in stream.getvalue() and BOT_TOKEN not in stream.getvalue()


def test_every_secret_setting_is_a_secret_and_none_is_in_the_repr() -> None:
    settings = load_settings(
        discord_token=BOT_TOKEN,
        database_url="postgresql+asyncpg://tavern:db-pass-42@db.example/tavern",
    )
    assert settings.secrets() == [BOT_TOKEN, "db-pass-42"]
    for shown in (repr(settings), str(settings)):
        assert BOT_TOKEN not in shown and "db-pass-42" not in shown
    assert load_settings(discord_token=None).secrets() == []


def test_the_logging_setup_puts_the_filter_on_every_root_handler() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers = []
    try:
        installed = configure_logging("debug", [BOT_TOKEN])
        assert root.level == logging.DEBUG and root.handlers
        assert all(installed in h.filters for h in root.handlers)
        assert logging.getLogger("alembic").level == logging.WARNING
        assert isinstance(installed, SecretFilter) and installed.secrets == [BOT_TOKEN]
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers, root.level = saved_handlers, saved_level
