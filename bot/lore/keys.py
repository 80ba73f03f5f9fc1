"""Lore keys compiled once per book version, and matched against text in one pass.

A text is split into words once; whole-word keys (the default) are then dictionary look-ups by
word, phrases are tried only where their first word occurs, and only substring and regex keys
are searched one by one. Regex keys come from untrusted files, so they run on the `regex`
module with a timeout: a pattern that times out is switched off rather than stalling a round.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass

import regex

__all__ = ["KeySpec", "KeyTable", "ScanText", "is_regex_key", "parse_regex_key"]

log = logging.getLogger(__name__)

REGEX_TIMEOUT = 0.005  # seconds per search; real keys take microseconds
MEMO_SIZE = 4096  # texts whose hits a table remembers (recent turns and entry contents)
_WORD = re.compile(r"\w+")
_REGEX_KEY = re.compile(r"^/(.+)/([a-z]*)$", re.DOTALL)
_FLAGS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL, "u": 0, "g": 0, "y": 0}


@dataclass(frozen=True)
class KeySpec:
    """A key as an entry asks for it to be matched."""

    text: str
    case_sensitive: bool = False
    whole_words: bool = True
    use_regex: bool = False


class ScanText:
    """A text split into words once, for every table that scans it."""

    __slots__ = ("_words", "folded", "text", "words_folded")

    def __init__(self, text: str) -> None:
        self.text = text
        self.folded = text.casefold()
        self.words_folded = frozenset(_WORD.findall(self.folded))
        self._words: frozenset[str] | None = None

    @property
    def words(self) -> frozenset[str]:
        """The words as written, for case-sensitive keys (computed on first use)."""
        if self._words is None:
            self._words = frozenset(_WORD.findall(self.text))
        return self._words


def parse_regex_key(text: str, *, bare: bool, case_sensitive: bool) -> regex.Pattern[str] | None:
    """A `/pattern/flags` key (with `bare`, any key) compiled; None if it is no valid regex."""
    match = _REGEX_KEY.match(text)
    if match and all(flag in _FLAGS for flag in match.group(2)):
        pattern, flags = match.group(1), 0
        for flag in match.group(2):
            flags |= _FLAGS[flag]
    elif bare:
        pattern, flags = text, 0 if case_sensitive else regex.IGNORECASE
    else:
        return None
    try:
        return regex.compile(pattern, flags)
    except (regex.error, ValueError, OverflowError, RecursionError):
        return None


def is_regex_key(text: str) -> bool:
    """Whether a key has the `/pattern/flags` shape (flags among g, i, m, s, u, y)."""
    match = _REGEX_KEY.match(text)
    return match is not None and all(flag in _FLAGS for flag in match.group(2))


class KeyTable:
    """Every distinct key of a book, indexed for matching a whole text at once."""

    def __init__(self) -> None:
        self.specs: list[KeySpec] = []
        self._ids: dict[KeySpec, int] = {}
        self._words: dict[str, list[int]] = defaultdict(list)
        self._words_folded: dict[str, list[int]] = defaultdict(list)
        self._phrases: dict[str, list[tuple[int, re.Pattern[str]]]] = defaultdict(list)
        self._phrases_folded: dict[str, list[tuple[int, re.Pattern[str]]]] = defaultdict(list)
        self._substrings: list[tuple[int, str, bool]] = []
        self._regexes: list[tuple[int, regex.Pattern[str]]] = []
        self._memo: dict[str, frozenset[int]] = {}

    def add(self, spec: KeySpec) -> int | None:
        """The id of `spec`, indexing it on first sight; None for a key that can never match."""
        if spec in self._ids:
            return self._ids[spec]
        text = spec.text.strip()
        if not text:
            return None
        key_id = len(self.specs)
        if spec.use_regex or is_regex_key(text):
            compiled = parse_regex_key(text, bare=True, case_sensitive=spec.case_sensitive)
            if compiled is None:
                return None  # an invalid regex matches nothing (V3 spec)
            self._regexes.append((key_id, compiled))
        else:
            self._index_literal(key_id, text, spec)
        self.specs.append(spec)
        self._ids[spec] = key_id
        return key_id

    def _index_literal(self, key_id: int, text: str, spec: KeySpec) -> None:
        folded = not spec.case_sensitive
        needle = text.casefold() if folded else text
        words = _WORD.findall(needle)
        if not spec.whole_words or not words:
            self._substrings.append((key_id, needle, folded))
        elif len(words) == 1 and words[0] == needle:
            (self._words_folded if folded else self._words)[needle].append(key_id)
        else:
            # Whole words at both ends; any run of white space inside a phrase matches any other.
            body = r"\s+".join(re.escape(part) for part in needle.split())
            pattern = re.compile(rf"(?<!\w){body}(?!\w)")
            (self._phrases_folded if folded else self._phrases)[words[0]].append((key_id, pattern))

    def hits(self, scan: ScanText) -> frozenset[int]:
        """The ids of every key that occurs in `scan` (remembered per text)."""
        found = self._memo.get(scan.text)
        if found is not None:
            return found
        ids: set[int] = set()
        if self._words:
            for word in scan.words:
                ids.update(self._words.get(word, ()))
        for word in scan.words_folded:
            ids.update(self._words_folded.get(word, ()))
        for index, folded in ((self._phrases, False), (self._phrases_folded, True)):
            if not index:
                continue
            words, text = (scan.words_folded, scan.folded) if folded else (scan.words, scan.text)
            for word in words & index.keys():
                for key_id, pattern in index[word]:
                    if key_id not in ids and pattern.search(text):
                        ids.add(key_id)
        for key_id, needle, folded in self._substrings:
            if needle in (scan.folded if folded else scan.text):
                ids.add(key_id)
        self._search_regexes(scan.text, ids)
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        found = self._memo[scan.text] = frozenset(ids)
        return found

    def _search_regexes(self, text: str, ids: set[int]) -> None:
        kept: list[tuple[int, regex.Pattern[str]]] = []
        for key_id, pattern in self._regexes:
            try:
                if pattern.search(text, timeout=REGEX_TIMEOUT):
                    ids.add(key_id)
            except TimeoutError:
                log.warning("lore key %r timed out and is switched off", self.specs[key_id].text)
                continue
            kept.append((key_id, pattern))
        self._regexes = kept
