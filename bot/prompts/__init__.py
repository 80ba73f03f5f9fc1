"""Prompt formats, prompt rendering and the segments that keep markers apart from text."""

from bot.prompts.formats import *  # noqa: F403
from bot.prompts.formats import __all__ as _format_names
from bot.prompts.segments import JOINER, Prompt, Segment, defuse

__all__ = [*_format_names, "JOINER", "Prompt", "Segment", "defuse"]
