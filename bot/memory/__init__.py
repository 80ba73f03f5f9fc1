"""The story so far: a running summary of the turns that left the prompt window."""

from bot.memory.summarizer import Summarizer, SummaryConfig

__all__ = ["Summarizer", "SummaryConfig"]
