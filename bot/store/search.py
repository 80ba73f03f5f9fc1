"""Full-text search over turns and chapters, with each database's own engine.

SQLite: FTS5 tables over the `turns` and `scene_chapters` text (external content, kept by
triggers), ranked by `bm25`. PostgreSQL: GIN indexes on `to_tsvector('english', ...)`, ranked by
`ts_rank_cd`. Both stem English words (FTS5's porter tokenizer, PostgreSQL's english
configuration), so "keys" finds "key" on either.

Queries are built from plain words only (`search_words`): whatever a player or the model wrote
can never become FTS5 or tsquery syntax, and a query has at most `MAX_TERMS` words, so a hostile
turn costs no more to search with than any other.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DatabaseError

log = logging.getLogger(__name__)

MAX_TERMS = 48
MAX_TERM_CHARS = 40
TURNS_SEARCH = "turns_search"
CHAPTERS_SEARCH = "chapters_search"
_WORD = re.compile(r"\w+")

# (virtual table, the table it indexes): FTS5's external content mode keeps no copy of the text.
_SQLITE_INDEXES = ((TURNS_SEARCH, "turns"), (CHAPTERS_SEARCH, "scene_chapters"))
_PG_INDEXES = (
    ("ix_turns_search", "turns", "content"),
    ("ix_scene_chapters_search", "scene_chapters", "title || ' ' || text"),
)


def search_words(words: Iterable[str]) -> list[str]:
    """The distinct plain words of `words`, casefolded, at most `MAX_TERMS` of them."""
    found: dict[str, None] = {}
    for chunk in words:
        for word in _WORD.findall(chunk.casefold()):
            if len(word) <= MAX_TERM_CHARS and not word.isdigit():
                found.setdefault(word, None)
            if len(found) >= MAX_TERMS:
                return list(found)
    return list(found)


def fts5_query(words: list[str]) -> str:
    """An FTS5 query matching any of `words` (each quoted: plain words are never syntax)."""
    return " OR ".join(f'"{word}"' for word in words)


def tsquery_text(words: list[str]) -> str:
    """A `to_tsquery` text matching any of `words` (each a quoted lexeme)."""
    return " | ".join(f"'{word}'" for word in words)


def is_search_object(name: str | None) -> bool:
    """Whether a table or index belongs to the full-text search (not to the ORM models)."""
    return bool(name) and (
        str(name).startswith((TURNS_SEARCH, CHAPTERS_SEARCH))
        or name in {index for index, _, _ in _PG_INDEXES}
    )


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's filter: the search's tables and indexes are not the models' to compare."""
    return not is_search_object(name)


def _sqlite_ddl(table: str, source: str) -> list[str]:
    """The FTS5 table over `source`'s text and the triggers that keep it current."""
    column = "content" if source == "turns" else "title, text"
    new = "new.content" if source == "turns" else "new.title, new.text"
    old = "old.content" if source == "turns" else "old.title, old.text"
    return [
        f"CREATE VIRTUAL TABLE {table} USING fts5({column}, content='{source}', "
        "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER {table}_insert AFTER INSERT ON {source} BEGIN "
        f"INSERT INTO {table}(rowid, {column}) VALUES (new.id, {new}); END",
        f"CREATE TRIGGER {table}_delete AFTER DELETE ON {source} BEGIN "
        f"INSERT INTO {table}({table}, rowid, {column}) VALUES ('delete', old.id, {old}); END",
        f"CREATE TRIGGER {table}_update AFTER UPDATE OF {column} ON {source} BEGIN "
        f"INSERT INTO {table}({table}, rowid, {column}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {table}(rowid, {column}) VALUES (new.id, {new}); END",
        f"INSERT INTO {table}({table}) VALUES ('rebuild')",
    ]


def _sqlite_drop(table: str) -> list[str]:
    return [
        *(f"DROP TRIGGER IF EXISTS {table}_{event}" for event in ("insert", "delete", "update")),
        f"DROP TABLE IF EXISTS {table}",
    ]


def create_search(conn: Connection) -> None:
    """Create the full-text indexes (a migration, or a rebuild of a broken one)."""
    if conn.dialect.name == "sqlite":
        for table, source in _SQLITE_INDEXES:
            for statement in _sqlite_drop(table) + _sqlite_ddl(table, source):
                conn.execute(text(statement))
        return
    for index, table, expression in _PG_INDEXES:
        conn.execute(text(f"DROP INDEX IF EXISTS {index}"))
        vector = f"to_tsvector('english', {expression})"
        conn.execute(text(f"CREATE INDEX {index} ON {table} USING gin ({vector})"))


def drop_search(conn: Connection) -> None:
    """Drop the full-text indexes (downgrading)."""
    if conn.dialect.name == "sqlite":
        for table, _ in _SQLITE_INDEXES:
            for statement in _sqlite_drop(table):
                conn.execute(text(statement))
        return
    for index, _, _ in _PG_INDEXES:
        conn.execute(text(f"DROP INDEX IF EXISTS {index}"))


def search_is_sound(conn: Connection) -> bool:
    """Whether every full-text index and trigger is there and (on SQLite) passes its check."""
    if conn.dialect.name == "sqlite":
        names = set(
            conn.execute(text("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"))
            .scalars()
            .all()
        )
        for table, _ in _SQLITE_INDEXES:
            wanted = {table, *(f"{table}_{e}" for e in ("insert", "delete", "update"))}
            if not wanted <= names:
                return False
            try:
                conn.execute(text(f"INSERT INTO {table}({table}) VALUES ('integrity-check')"))
            except DatabaseError:  # a damaged index fails its own check: rebuild it
                return False
        return True
    found = set(
        conn.execute(text("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_%search'"))
        .scalars()
        .all()
    )
    return {index for index, _, _ in _PG_INDEXES} <= found


def repair_search(conn: Connection) -> bool:
    """Rebuild the full-text indexes if one is missing or broken; whether it had to."""
    if search_is_sound(conn):
        return False
    log.warning("the full-text search index was missing or damaged; rebuilding it")
    create_search(conn)
    return True
