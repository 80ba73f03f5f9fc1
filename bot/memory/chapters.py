"""Chapters: a view's story so far, once it covers enough turns, closed under a title.

The story so far is rewritten after rounds and keeps its length, so each rewrite keeps less of
each turn. Once a view's story covers `ChapterConfig.turns` turns it is closed as it stands: the
model gives it a title, the chapter keeps the text and the turns it covers and is never rewritten
again (but by a GM), and the story starts over after it from a short carry-over.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace

from bot.director import SceneView
from bot.director.director import engine_failures
from bot.director.types import DirectorEngine
from bot.domain import CancelToken, LoreInsert, PromptContext
from bot.engine.base import GenerationRequest
from bot.memory.prompt import summary_stops
from bot.memory.views import ViewStep
from bot.prompts import Prompt, PromptFormat
from bot.prompts.formats import SUMMARY_SPEAKER
from bot.store import ChapterStore, NewChapter, StorySummary
from bot.store.models import CHAPTER_TITLE_MAX

log = logging.getLogger(__name__)

TITLE_INSTRUCTION = (
    "You keep the notes of an ongoing roleplay. The part of the story below is now a closed "
    "chapter. Give it a short title of a few words that names its main event, place or person, "
    "and write nothing but the title."
)
TITLE_SPEAKER = "Chapter title"
TITLE_MAX_TOKENS = 24
TITLE_WORDS = 12  # a longer "title" is the model telling the story again
CARRY_PART = 4  # the carry-over holds at most this fraction of the story's words
_NO_ONE = PromptContext(players=(), npcs=())
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_DECOR = "\"'`*_#“”‘’«»[]()<>: "


@dataclass(frozen=True)
class ChapterConfig:
    """When a view's story is closed as a chapter, and how large a chapter may be."""

    turns: int = 200  # 0: never
    max_tokens: int = 512  # a GM's edits and merges included


def title_request(fmt: PromptFormat, story: str) -> Prompt:
    """Instruction block, the story to title (untrusted), and the title's header."""
    blocks = (
        fmt.lore_block(LoreInsert(0, "system", TITLE_INSTRUCTION)),
        fmt.lore_block(LoreInsert(0, "user", f"{SUMMARY_SPEAKER}: {story}")),
        fmt.response_header(_NO_ONE) + f"{TITLE_SPEAKER}:",
    )
    return Prompt.join(fmt.separator, blocks)


def tidy_title(text: str) -> str | None:
    """The model's title on one line, without quotes or markup; None if it gave none."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split()).strip(_DECOR)
    for label in (TITLE_SPEAKER, "Title"):
        if line.casefold().startswith(label.casefold() + ":"):
            line = line[len(label) + 1 :].strip(_DECOR)
    line = line.rstrip(".").strip(_DECOR)
    words = line.split()
    if not any(ch.isalnum() for ch in line) or len(words) > TITLE_WORDS:
        return None
    while len(line) > CHAPTER_TITLE_MAX:  # never cut inside a word
        words.pop()
        line = " ".join(words)
    return line or None


def carry_over(title: str, story: str, words: int) -> str:
    """Where the closed chapter left things: its last sentences, at most `words` words."""
    kept: list[str] = []
    count = 0
    for sentence in reversed(_SENTENCE_END.split(story.strip())):
        count += len(sentence.split())
        if count > words:
            break
        kept.insert(0, sentence)
    tail = " ".join(kept) or "…" + " ".join(story.split()[-words:])
    return f"Previously ({title}): {tail}"


class Chapters:
    """Closes each view's story so far as a chapter when it is due."""

    def __init__(self, engine: DirectorEngine, store: ChapterStore, config: ChapterConfig) -> None:
        self.engine = engine
        self.store = store
        self.config = config

    def limit(self, story_tokens: int) -> int:
        """A chapter's size in tokens: never less than a whole story so far."""
        return max(self.config.max_tokens, story_tokens)

    async def due(self, step: ViewStep, story_tokens: int) -> bool:
        """Whether `step`'s story covers enough turns to close, and fits in a chapter.

        A story a GM made longer than a chapter is not closed: its next update rewrites it
        within the story's own limit, and it closes after that.
        """
        story = step.start
        if self.config.turns <= 0 or story is None or not story.text:
            return False
        if story.through - step.begins < self.config.turns:
            return False
        (used,) = await self.engine.count_many([Prompt.plain(story.text)])
        return used <= self.limit(story_tokens)

    async def close(
        self, scene: SceneView, step: ViewStep, story_words: int, cancel: CancelToken
    ) -> StorySummary | None:
        """Close `step`'s story as a chapter (one model call, for its title); the new story."""
        story = step.start
        assert story is not None
        request = GenerationRequest(
            prompt=title_request(scene.fmt, story.text),
            sampler=replace(
                scene.sampler,
                max_tokens=TITLE_MAX_TOKENS,
                temperature=min(scene.sampler.temperature, 0.5),
            ),
            stops=(*summary_stops(scene.fmt), "\n"),
            channel=None,  # keeps the channel's KV snapshot for its next reply
        )
        with engine_failures():
            completion = await self.engine.complete(request, cancel)
        if cancel.cancelled or completion.finish_reason == "cancelled":
            return None
        title = tidy_title(completion.text)
        if title is None:
            number = len(await self.store.of_view(scene.scene_id, step.key)) + len(step.inherits)
            title = f"Chapter {number + 1}"
        chapter = NewChapter(title, story.text, step.begins + 1, story.through)
        carry = carry_over(title, story.text, story_words // CARRY_PART)
        after = StorySummary(carry, story.through)
        if not await self.store.advance(
            scene.scene_id, step.key, after, expect=step.stored, chapters=[*step.inherits, chapter]
        ):
            return None  # a GM edit or clear came first: theirs wins
        log.info("closed chapter %r of scene %s (%s)", title, scene.scene_id, step.key or "shared")
        return after
