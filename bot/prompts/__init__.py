"""Prompt formats and prompt rendering."""

from bot.prompts.formats import *  # noqa: F403
from bot.prompts.formats import __all__ as __all__
