"""A database that will not write, made by the database itself on the bot's own connections."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import event

from bot.store import Database

Refusal = Literal["read-only", "full"]
# SQLite's own ceiling on a file's pages: as good as no limit.
NO_PAGE_LIMIT = 1073741823


class RefusedWrites:
    """While `on`, the bot's connections refuse writes: read-only, or (SQLite) a full disk.

    Set on each checkout, so pooled connections follow at once: SQLite's `PRAGMA query_only`
    ("attempt to write a readonly database") or `PRAGMA max_page_count` at the file's size
    ("database or disk is full" for any write that needs a page more), PostgreSQL's
    `default_transaction_read_only` ("cannot execute INSERT in a read-only transaction").
    """

    def __init__(self, db: Database, kind: Refusal = "read-only") -> None:
        self.engines = db.sync_engines()
        self.sqlite = db.engine.dialect.name == "sqlite"
        if kind == "full" and not self.sqlite:
            raise ValueError("a full disk is made with SQLite's max_page_count only")
        self.kind = kind
        self.on = False
        for engine in self.engines:
            event.listen(engine, "checkout", self._checkout)

    def remove(self) -> None:
        """Stop touching the connections (after `on = False` has reached them)."""
        for engine in self.engines:
            event.remove(engine, "checkout", self._checkout)

    def _statements(self) -> list[str]:
        if not self.sqlite:
            return [f"SET default_transaction_read_only = {'on' if self.on else 'off'}"]
        read_only = self.on and self.kind == "read-only"
        # max_page_count cannot go below the file's size: 1 means "not a page more than now".
        pages = 1 if self.on and self.kind == "full" else NO_PAGE_LIMIT
        return [f"PRAGMA query_only = {int(read_only)}", f"PRAGMA max_page_count = {pages}"]

    def _checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for statement in self._statements():
                cursor.execute(statement)
        finally:
            cursor.close()
        if not self.sqlite:  # the driver ran the SET in a transaction: it holds once committed
            dbapi_connection.commit()
