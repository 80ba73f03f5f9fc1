"""Which words recall searches with, and which of what it finds may go into a prompt.

The search is the database's own full-text index (`bot.store.search`): every query is built
through `search_words`, so nothing a player, a card or the model wrote becomes query syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from bot.characters.sheet import SheetError, parse_sheet
from bot.prompts import is_ooc
from bot.store.search import search_words

CANDIDATES = 24  # words weighed for one query: the speaker's own first, then the newest turn's
QUERY_WORDS = 12  # words one search uses at most: the rarest of the candidates
# A word matching this many turns or more says little (it is counted no further); the words
# of one search match at most `QUERY_POSTINGS` turns together, which bounds its cost.
COMMON_TURNS = 1000
QUERY_POSTINGS = 2500
# Words far more common than the rarest one would outvote it (PostgreSQL's ranking does not
# weigh rarity at all): a search takes the words at most this many times as common, or
# matching up to `RARE_TURNS` turns however rare the rarest is.
RARITY_SPREAD = 8
RARE_TURNS = 50
SHEET_WORDS = 8  # words a sheet adds at most
MIN_WORD = 3  # shorter words say little and match much
# Sheet fields whose words join every query of their character: few and telling.
KEYWORD_LABELS = ("Keywords", "Tags", "Occupation/Profession")
_WORD = re.compile(r"\w+")

# Words that match almost every turn: searching with them costs time and finds nothing
# telling. English function words (the pieces \w+ cuts contractions into included), and the
# few roleplay verbs and asking words that fill turns without naming anything.
_STOP_WORDS = """
    about above after again against all also am among an and any are aren around as at away
    back be because been before being below between both but by can cannot could couldn
    did didn do does doesn doing don done down during each either else even ever every few
    for from further get gets getting go goes going gone got had hadn has hasn have haven
    having he her here hers herself him himself his how however if in into is isn it its
    itself just let lets like ll made make many may me might mine more most much must
    mustn my myself near never no nor not now of off often on once one only onto or other
    our ours ourselves out over own perhaps quite rather really re same shall shan she
    should shouldn since so some still such than that the their theirs them themselves then
    there these they this those though through thus till to too toward towards under until
    up upon us very ve was wasn we were weren what whatever when where whether which while
    who whom whose why will with within without won would wouldn yet you your yours yourself
    yourselves
    ask asked asks says said say tell told telling know knew knows think thought thinks want
    wants wanted look looks looked see saw seen seems come comes came remember remembers
    recall forget forgot nod nods nodded smile smiles smiled okay yes yeah well hmm
    something anything nothing everything someone anyone thing things way
    """
STOP_WORDS = frozenset(_STOP_WORDS.split())


def words_of(text: str) -> list[str]:
    """The telling words of `text`, casefolded, in order: no stop words, no short words."""
    return [
        word
        for word in _WORD.findall(text.casefold())
        if len(word) >= MIN_WORD and word not in STOP_WORDS and not word.isdigit()
    ]


@lru_cache(maxsize=512)
def sheet_keywords(sheet: str) -> tuple[str, ...]:
    """The words of a sheet's keyword fields (Keywords, Tags, occupation), a few at most."""
    try:
        parsed = parse_sheet(sheet)
    except SheetError:  # a sheet with no fields has no keywords
        return ()
    found: list[str] = []
    for label in KEYWORD_LABELS:
        field = parsed.get(label)
        if field is not None:
            found += words_of(" ".join((field.text, *field.items)))
    return tuple(dict.fromkeys(found))[:SHEET_WORDS]


def query_words(recent: Sequence[str], speaker: str, sheet: str) -> list[str]:
    """The words one prompt's recall weighs, in the order they are preferred.

    The speaker's name and sheet keywords first (they are few and always asked), then the
    newest turn's words, then older turns', at most `CANDIDATES` distinct plain words.
    """
    chunks: list[str] = [*words_of(speaker), *sheet_keywords(sheet)]
    for text in reversed(recent):
        chunks += words_of(text)
    return search_words(chunks)[:CANDIDATES]


def telling_words(candidates: Sequence[str], counts: Mapping[str, int]) -> list[str]:
    """The candidates one search uses: the rarest that match anything, none of the common.

    `counts` are each word's matching turns, counted up to `COMMON_TURNS`. Ties keep the
    candidates' order (the speaker's words, then the newest turn's). Together they match at
    most `QUERY_POSTINGS` turns, which bounds what the search costs.
    """
    usable = sorted(
        (w for w in candidates if 0 < counts.get(w, 0) < COMMON_TURNS), key=lambda w: counts[w]
    )
    if not usable:
        return []
    most = max(RARE_TURNS, RARITY_SPREAD * counts[usable[0]])
    chosen: list[str] = []
    total = 0
    for word in usable:
        count = counts[word]
        if len(chosen) >= QUERY_WORDS or count > most or total + count > QUERY_POSTINGS:
            break
        chosen.append(word)
        total += count
    # In the candidates' order: what the search and the listings show reads naturally.
    return [w for w in candidates if w in chosen]


def recallable(content: str) -> bool:
    """Whether a found turn may come back into a prompt: never an OOC aside."""
    return bool(content.strip()) and not is_ooc(content)


def _stem(word: str) -> str:
    """A rough English stem, enough to say which query word a turn matched (display only)."""
    for suffix in ("ingly", "edly", "ings", "ing", "ies", "ied", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_WORD:
            return word[: -len(suffix)]
    return word


def matched_terms(text: str, words: Iterable[str]) -> tuple[str, ...]:
    """The query words `text` matched, as the index's stemming would find them."""
    stems = {_stem(w) for w in _WORD.findall(text.casefold())}
    found = []
    for word in words:
        stem = _stem(word)
        if stem in stems or any(len(stem) >= 4 and s.startswith(stem) for s in stems):
            found.append(word)
    return tuple(found)
