"""Lore keys indexed once per book version, and matched against text in one pass.

A text is split into words once; whole-word keys (the default) are then dictionary look-ups by
word, phrases are tried only where their first word occurs, and only substring and regex keys
are searched one by one. Nothing is compiled up front: phrases are found with plain string
search, and regex keys are compiled the first time a scan needs them, within its time budget.
Regex keys come from untrusted files, so they run on the `regex` module, which gives up at a
timeout and lets other threads run meanwhile: a key whose search alone times out is switched
off, and keys the scan's budget leaves untried are reported as pending rather than guessed.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import regex

from .budget import NEVER, Deadline

__all__ = [
    "KeyHits",
    "KeySpec",
    "KeyTable",
    "ScanText",
    "is_regex_key",
    "regex_source",
    "regex_too_big",
]

log = logging.getLogger(__name__)

REGEX_TIMEOUT = 0.01  # seconds (wall) one search may take before its key is switched off
# Counted repeats are unrolled when a pattern is compiled: `a{4294967294}` asks for gigabytes.
# The product of a pattern's smallest repeat counts bounds what compiling it can cost.
REGEX_REPEAT_MAX = 1000
MEMO_SIZE = 4096  # texts whose hits a table remembers (recent turns and entry contents)
CHECK_EVERY = 32  # literal keys tried between two looks at the clock
_WORD = re.compile(r"\w+")
_REGEX_KEY = re.compile(r"^/(.+)/([a-z]*)$", re.DOTALL)
_REPEAT = re.compile(r"(?<!\\)(?:\\\\)*\{\s*(\d*)\s*(?:,\s*\d*\s*)?\}")
_FLAGS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL, "u": 0, "g": 0, "y": 0}


class KeySpec(NamedTuple):
    """A key as an entry asks for it to be matched (a tuple: books hold thousands of them)."""

    text: str
    case_sensitive: bool = False
    whole_words: bool = True
    use_regex: bool = False


@dataclass(frozen=True, slots=True)
class KeyHits:
    """The keys one text matched, and what the time budget left undecided."""

    found: frozenset[int]
    pending: frozenset[int] = frozenset()  # regex keys not tried
    blind: bool = False  # literal matching stopped early: any key not found may occur

    @property
    def complete(self) -> bool:
        return not self.pending and not self.blind


def _is_word(char: str) -> bool:
    """What `\\w` matches in a str pattern."""
    return char.isalnum() or char == "_"


class ScanText:
    """A text split into words once, for every table that scans it."""

    __slots__ = ("_spaced", "_spaced_folded", "_words", "folded", "text", "words_folded")

    def __init__(self, text: str) -> None:
        self.text = text
        self.folded = text.casefold()
        self.words_folded = frozenset(_WORD.findall(self.folded))
        self._words: frozenset[str] | None = None
        self._spaced: str | None = None
        self._spaced_folded: str | None = None

    @property
    def words(self) -> frozenset[str]:
        """The words as written, for case-sensitive keys (computed on first use)."""
        if self._words is None:
            self._words = frozenset(_WORD.findall(self.text))
        return self._words

    def spaced(self, folded: bool) -> str:
        """The text with every run of white space as one space, for phrases."""
        if folded:
            if self._spaced_folded is None:
                self._spaced_folded = " ".join(self.folded.split())
            return self._spaced_folded
        if self._spaced is None:
            self._spaced = " ".join(self.text.split())
        return self._spaced


def _has_phrase(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text` with no word character right before or after it."""
    start = text.find(phrase)
    while start >= 0:
        end = start + len(phrase)
        if (start == 0 or not _is_word(text[start - 1])) and (
            end == len(text) or not _is_word(text[end])
        ):
            return True
        start = text.find(phrase, start + 1)
    return False


def regex_source(text: str, *, bare: bool, case_sensitive: bool) -> tuple[str, int] | None:
    """A `/pattern/flags` key (with `bare`, any key) as (pattern, flags); None if it is none."""
    match = _REGEX_KEY.match(text)
    if match and all(flag in _FLAGS for flag in match.group(2)):
        pattern, flags = match.group(1), 0
        for flag in match.group(2):
            flags |= _FLAGS[flag]
        return pattern, flags
    if bare:
        return text, 0 if case_sensitive else regex.IGNORECASE
    return None


def regex_too_big(pattern: str) -> bool:
    """Whether compiling `pattern` could unroll more than REGEX_REPEAT_MAX repeats."""
    product = 1
    for match in _REPEAT.finditer(pattern):
        product *= max(1, int(match.group(1) or 0))
        if product > REGEX_REPEAT_MAX:
            return True
    return False


def is_regex_key(text: str) -> bool:
    """Whether a key has the `/pattern/flags` shape (flags among g, i, m, s, u, y)."""
    match = _REGEX_KEY.match(text) if text.startswith("/") else None
    return match is not None and all(flag in _FLAGS for flag in match.group(2))


def _compile(pattern: str, flags: int) -> regex.Pattern[str] | None:
    try:
        return regex.compile(pattern, flags)
    except (regex.error, ValueError, OverflowError, RecursionError, MemoryError):
        return None  # an invalid regex matches nothing (V3 spec)


T = TypeVar("T")
_Index = dict[str, tuple[int, ...]]
_PhraseIndex = dict[str, tuple[tuple[int, str], ...]]


def _merged(index: dict[str, tuple[T, ...]], added: dict[str, list[T]]) -> None:
    for word, items in added.items():
        index[word] = (*index.get(word, ()), *items)
    added.clear()


class KeyTable:
    """Every distinct key of a book, indexed for matching a whole text at once.

    Keys are added to lists, which `freeze` turns into tuples before a scan: tuples of ints and
    strings are left alone by the garbage collector, lists never are, and a book of 20,000 keys
    would otherwise add tens of thousands of objects to every full collection, a pause that
    holds every thread, the event loop's included. Scans of the same book may run in several
    threads at once; what they share (the memo, the compiled patterns, the keys switched off)
    only ever grows by single dict and set writes.
    """

    def __init__(self) -> None:
        self.texts: list[str] = []  # each key as written, by id
        self.off: set[int] = set()  # regex keys whose search timed out on its own
        self._ids: dict[tuple[str, bool, bool, bool], int] = {}
        self._words: _Index = {}
        self._words_folded: _Index = {}
        self._phrases: _PhraseIndex = {}
        self._phrases_folded: _PhraseIndex = {}
        self._added: tuple[dict[str, list[Any]], ...] = tuple(defaultdict(list) for _ in range(4))
        self._substrings: list[tuple[int, str, bool]] = []
        self._regexes: list[tuple[int, str, int]] = []
        self._compiled: dict[int, regex.Pattern[str] | None] = {}
        self._memo: dict[str, frozenset[int]] = {}

    @property
    def specs(self) -> list[str]:
        """The keys as written, by id (their count is the table's size)."""
        return self.texts

    def freeze(self) -> None:
        """Move the keys added since the last call into the indexes a scan reads."""
        _merged(self._words, self._added[0])
        _merged(self._words_folded, self._added[1])
        _merged(self._phrases, self._added[2])
        _merged(self._phrases_folded, self._added[3])

    @property
    def regex_keys(self) -> int:
        """How many regex keys the table holds."""
        return len(self._regexes)

    def add(self, spec: KeySpec) -> int | None:
        """The id of `spec`, indexing it on first sight; None for a key that can never match."""
        plain = (spec.text, spec.case_sensitive, spec.whole_words, spec.use_regex)
        if plain in self._ids:  # a plain tuple of atoms: the garbage collector lets it be
            return self._ids[plain]
        text = spec.text.strip()
        if not text:
            return None
        key_id = len(self.texts)
        if spec.use_regex or is_regex_key(text):
            source = regex_source(text, bare=True, case_sensitive=spec.case_sensitive)
            if source is None or regex_too_big(source[0]):
                return None  # never compiled: it could cost more than any budget
            self._regexes.append((key_id, *source))
        else:
            self._index_literal(key_id, text, spec)
        self.texts.append(spec.text)
        self._ids[plain] = key_id
        return key_id

    def _index_literal(self, key_id: int, text: str, spec: KeySpec) -> None:
        folded = not spec.case_sensitive
        needle = text.casefold() if folded else text
        words = _WORD.findall(needle)
        if not spec.whole_words or not words:
            self._substrings.append((key_id, needle, folded))
        elif len(words) == 1 and words[0] == needle:
            self._added[1 if folded else 0][needle].append(key_id)
        else:
            # Whole words at both ends; any run of white space inside a phrase matches any other.
            phrase = " ".join(needle.split())
            self._added[3 if folded else 2][words[0]].append((key_id, phrase))

    def hits(self, scan: ScanText, deadline: Deadline = NEVER) -> KeyHits:
        """The keys that occur in `scan` as far as `deadline` allows (complete ones remembered)."""
        return self.hits_many([scan], deadline)[0]

    def hits_many(self, scans: Sequence[ScanText], deadline: Deadline = NEVER) -> list[KeyHits]:
        """Each text's hits: literal keys in every text first, then regex keys, newest first.

        `scans` are oldest first. The cheap keys of every text are settled before a slow regex
        can use up the time, and the newest text (which every prompt reads) comes first.
        """
        if any(self._added):
            self.freeze()
        results: list[KeyHits] = [KeyHits(frozenset(), blind=True)] * len(scans)
        literal: dict[int, set[int]] = {}
        for i in reversed(range(len(scans))):
            found = self._memo.get(scans[i].text)
            if found is not None:
                results[i] = KeyHits(found)
                continue
            ids: set[int] = set()
            if not deadline.passed() and self._literal_hits(scans[i], ids, deadline):
                literal[i] = ids
            else:
                results[i] = KeyHits(frozenset(ids), blind=True)
        for i in sorted(literal, reverse=True):
            pending = self._search_regexes(scans[i].text, literal[i], deadline)
            results[i] = self._settled(scans[i].text, frozenset(literal[i]), pending)
        return results

    def _settled(self, text: str, found: frozenset[int], pending: frozenset[int]) -> KeyHits:
        """The hits of `text`, remembered when nothing is left pending."""
        if not pending:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[text] = found
        return KeyHits(found, pending)

    def _literal_hits(self, scan: ScanText, ids: set[int], deadline: Deadline) -> bool:
        """Add the literal keys found; False if the deadline passed first."""
        if self._words:
            for word in scan.words:
                ids.update(self._words.get(word, ()))
        for word in scan.words_folded:
            ids.update(self._words_folded.get(word, ()))
        tried = 0
        for index, folded in ((self._phrases, False), (self._phrases_folded, True)):
            if not index:
                continue
            words = scan.words_folded if folded else scan.words
            for word in words & index.keys():
                text = scan.spaced(folded)
                for key_id, phrase in index[word]:
                    tried += 1
                    if tried % CHECK_EVERY == 0 and deadline.passed():
                        return False
                    if key_id not in ids and _has_phrase(text, phrase):
                        ids.add(key_id)
        for key_id, needle, folded in self._substrings:
            tried += 1
            if tried % CHECK_EVERY == 0 and deadline.passed():
                return False
            if needle in (scan.folded if folded else scan.text):
                ids.add(key_id)
        return True

    def _pattern(self, key_id: int, pattern: str, flags: int) -> regex.Pattern[str] | None:
        if key_id not in self._compiled:
            self._compiled[key_id] = _compile(pattern, flags)
        return self._compiled[key_id]

    def _search_regexes(self, text: str, ids: set[int], deadline: Deadline) -> frozenset[int]:
        """Add the regex keys found; returns those the deadline left untried."""
        pending: list[int] = []
        for key_id, source, flags in self._regexes:
            if key_id in self.off:
                continue
            if pending or deadline.passed():
                pending.append(key_id)
                continue
            pattern = self._pattern(key_id, source, flags)
            left = deadline.left()
            if pattern is None:
                continue
            if left <= 0:
                pending.append(key_id)
                continue
            timeout = min(REGEX_TIMEOUT, left)
            try:
                # concurrent: the search lets go of the GIL, so the event loop runs meanwhile.
                if pattern.search(text, timeout=timeout, concurrent=True):
                    ids.add(key_id)
            except TimeoutError:
                if timeout < REGEX_TIMEOUT:  # the budget ran out, not the key's own time
                    pending.append(key_id)
                    continue
                self.off.add(key_id)
                log.warning("lore key %r timed out and is switched off", self.texts[key_id])
        return frozenset(pending)
