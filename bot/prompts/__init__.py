"""Prompt formats and prompt rendering."""

from bot.prompts.formats import (
    AlpacaLimarpFormat,
    ChatMLFormat,
    FloorChoice,
    GroupInstFormat,
    PromptFormat,
    RenderedPrompt,
    UnknownFormatError,
    get_format,
    is_ooc,
    join_names,
    render_prompt,
)

__all__ = [
    "AlpacaLimarpFormat",
    "ChatMLFormat",
    "FloorChoice",
    "GroupInstFormat",
    "PromptFormat",
    "RenderedPrompt",
    "UnknownFormatError",
    "get_format",
    "is_ooc",
    "join_names",
    "render_prompt",
]
