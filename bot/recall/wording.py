"""Everything a person reads about recall: what a prompt recalled and why, what a query finds."""

from __future__ import annotations

from collections.abc import Sequence

from bot.channel.ports import Reply
from bot.channel.text import MESSAGE_LIMIT
from bot.director.types import Memory, Recalled

SNIPPET_CHARS = 100
NO_WORDS = (
    "That query has no words to search with: common words (the, you, remember…) and words "
    "shorter than three letters are left out."
)


def no_words(candidates: Sequence[str]) -> str:
    """Why a query found nothing to search with: no telling words, or none any turn has."""
    if not candidates:
        return NO_WORDS
    listed = snippet(", ".join(candidates), 300)
    return f"No turn of any scene has these words, or too many have them: {listed}."


QUERY_MAX_CHARS = 500


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """`text` on one line, cut to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def why(memory: Memory) -> str:
    """The memory's score and the query words it matched."""
    # No query word as typed: a stemmed form matched, or (with embeddings) its meaning did.
    terms = ", ".join(memory.terms) if memory.terms else "stemmed forms or meaning"
    return f"score {memory.score:.3g}; matched {terms}"


def memory_line(memory: Memory) -> str:
    """One memory as a GM reads it: where it is from, why it came back, how it starts."""
    if memory.chapter:
        where = f'chapter "{snippet(memory.speaker, 60)}" (from turn {memory.seq})'
    else:
        where = f"turn {memory.seq}, {snippet(memory.speaker, 40)}"
    return f"- {where} ({why(memory)}): {snippet(memory.text)}"


def describe_recall(recalled: Recalled) -> list[str]:
    """What a prompt recalled and why, for `/scene prompt` and `tavernkeep prompt --recall`."""
    if not recalled.budget:
        return [
            "Recall: off for this prompt (only an NPC's prompt recalls; RECALL_BUDGET=0 "
            "turns it off)."
        ]
    searched = (
        ", ".join(recalled.words)
        if recalled.words
        else "no words (none telling; embeddings, if on, still search by meaning)"
    )
    head = (
        f"Recall: {len(recalled.placed)} memories, {recalled.used}/{recalled.budget} tokens; "
        f"searched for {searched}."
    )
    lines = [head]
    if recalled.kept:
        lines.append(
            f"Kept from the previous prompt in its place ({recalled.depth} turns before the "
            "end): nothing new was recalled."
        )
    lines += [memory_line(m) for m in recalled.placed]
    if recalled.left_out:
        lines.append("Found but over the budget:")
        lines += [memory_line(m) for m in recalled.left_out]
    return lines


def with_recall(reply: Reply, recalled: Recalled) -> Reply:
    """`/scene prompt`'s answer with what the prompt recalled: in the text, or as recall.txt.

    Unchanged when nothing came back (a short scene, the speaker choice, recall off).
    """
    if not recalled.placed and not recalled.left_out:
        return reply
    report = "\n".join(describe_recall(recalled))
    text = f"{reply.text}\n{report}"
    if len(text) <= MESSAGE_LIMIT:
        return Reply(text, reply.ephemeral, reply.file, reply.more_files)
    summary = f"{reply.text}\nRecall: {len(recalled.placed)} memories: see recall.txt."
    extra = ("recall.txt", (report + "\n").encode())
    return Reply(summary[:MESSAGE_LIMIT], reply.ephemeral, reply.file, (*reply.more_files, extra))


def query_report(
    words: Sequence[str], memories: Sequence[Memory], who: str, window_start: int | None
) -> str:
    """`/scene recall`: what a query would bring back into `who`'s prompt, best first."""
    outside = f"before turn {window_start}" if window_start else "outside the prompt window"
    head = f"Recall for {who}, searching for {', '.join(words)}, in turns {outside}:"
    if not memories:
        return f"{head}\nNothing matches."
    lines = [head, *(memory_line(m) for m in memories)]
    lines.append("The budget decides how many go in: /scene prompt as: that NPC shows it.")
    return "\n".join(lines)
