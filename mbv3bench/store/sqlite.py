"""The SQLite backend: one file, the embedded default. Writers wait for each other (BEGIN
IMMEDIATE, up to the busy timeout) and write through a WAL; readers open the file read-only, and
on a read-only filesystem, where SQLite cannot make the WAL's -shm file, as immutable. A failure's
cause comes from SQLite's result code and the filesystem."""
from __future__ import annotations

import errno
import os
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import UserError, one_line
from .errors import StoreError, failure

TYPES = {"ID": "INTEGER PRIMARY KEY", "KEY": "TEXT PRIMARY KEY", "TEXT": "TEXT", "INTEGER": "INTEGER", "REAL": "REAL"}
_CAUSES = {sqlite3.SQLITE_READONLY: "read-only", sqlite3.SQLITE_FULL: "full", sqlite3.SQLITE_BUSY: "locked",
           sqlite3.SQLITE_LOCKED: "locked", sqlite3.SQLITE_PERM: "permission", sqlite3.SQLITE_AUTH: "permission",
           sqlite3.SQLITE_CORRUPT: "damaged", sqlite3.SQLITE_NOTADB: "damaged", sqlite3.SQLITE_CANTOPEN: "cannot open"}
_ERRNO_CAUSES = {errno.EROFS: "read-only", errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EACCES: "permission",
                 errno.EPERM: "permission"}


def _filesystem(path: Path) -> os.statvfs_result | None:
    """The filesystem holding `path` (or its nearest existing folder)."""
    for p in (path, *path.absolute().parents):
        try:
            return os.statvfs(p)
        except OSError:
            continue
    return None


def _read_only_fs(path: Path) -> bool:
    fs = _filesystem(path)
    return fs is not None and bool(fs.f_flag & os.ST_RDONLY)


def _cause(e: Exception, path: Path) -> str | None:
    if isinstance(e, sqlite3.Error):
        code = getattr(e, "sqlite_errorcode", None)
        cause = _CAUSES.get(code & 0xFF) if code is not None else None
    else:
        cause = _ERRNO_CAUSES.get(getattr(e, "errno", None))
    if cause not in ("cannot open", "permission", None):
        return cause
    # SQLite says "unable to open" for a file it cannot create or write beside (-wal, -shm), and
    # "disk I/O error" for a -shm it cannot grow: the filesystem tells which
    fs = _filesystem(path)
    if fs is not None and fs.f_flag & os.ST_RDONLY:
        return "read-only"
    if fs is not None and fs.f_bavail == 0:
        return "full"
    return cause


def damaged(path: Path, why: str) -> StoreError:
    return StoreError(f"results store {path} is damaged ({why}); keep a copy, then recover what it holds with "
                      f"`sqlite3 {path} .recover | sqlite3 recovered.sqlite`, or pass --db NEW_FILE")


class SqliteBackend:
    types = TYPES
    failures = (OSError, sqlite3.Error)

    def __init__(self, address, *, readonly: bool, timeout: float):
        self.address, self.path, self.readonly, self.timeout = address, address.file, readonly, timeout
        self.db: sqlite3.Connection | None = None
        try:
            self.db = self._connect()
            self._check()
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
        except BaseException as e:
            self.close()   # a failed open holds no file (a read-only mount stays unmountable)
            found = self.failure(e) if isinstance(e, self.failures) else None
            if found is None:
                raise
            raise found from None
        self.db.row_factory = sqlite3.Row

    def _connect(self) -> sqlite3.Connection:
        if not self.readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return sqlite3.connect(self.path, isolation_level=None, timeout=self.timeout)
        if not self.path.exists():
            return sqlite3.connect(":memory:", isolation_level=None)   # reads as empty; nothing created
        if not self.path.is_file():
            raise UserError(f"results store {self.path} is not a file")
        uri = self.path.resolve().as_uri()
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=self.timeout)
        try:
            db.execute("PRAGMA schema_version").fetchone()
            return db
        except sqlite3.OperationalError as e:
            db.close()
            if e.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
                raise
        # A WAL file needs its -shm beside it, which a read-only folder cannot take. Nobody can
        # write there either, so reading it as immutable is safe; only a leftover -wal is not read.
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.is_file() and wal.stat().st_size:
            sys.stderr.write(f"note: reading {self.path} without its write-ahead log {wal.name} "
                             "(it cannot be opened here): the latest results in it are not shown\n")
        return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)

    def _check(self) -> None:
        """A damaged file is found on open, before a command reads nonsense or writes into it."""
        verdict = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise damaged(self.path, str(verdict).splitlines()[0][:200])
        tables = self.tables()
        if tables and "measurements" not in tables:
            raise UserError(f"{self.path} is an SQLite file but not a mbv3bench results store "
                            f"(it has tables {', '.join(sorted(tables))[:200]})")

    def query(self, sql: str, args=()) -> list[dict]:
        return [dict(r) for r in self.db.execute(sql, args).fetchall()]

    def query_many(self, sql: str, rows: list) -> None:
        self.db.executemany(sql, rows)

    @contextmanager
    def transaction(self):
        """Waits for another writer here, not halfway through; a failed COMMIT leaves nothing half-written."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                try:
                    self.db.rollback()
                except sqlite3.Error:
                    pass
            raise

    def lock_schema(self) -> None:
        """BEGIN IMMEDIATE already keeps every other writer out."""

    def tables(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def columns(self, table: str) -> set[str]:
        return {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}

    def size(self) -> int | None:
        try:
            return self.path.stat().st_size
        except OSError:
            return None

    def failure(self, e: Exception) -> StoreError | None:
        """The one line for a failure of this store; None for a bug in the caller (a value SQLite cannot bind)."""
        if isinstance(e, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
            return None
        detail, cause = one_line(e, 120), _cause(e, self.path)
        if cause == "damaged":
            return damaged(self.path, detail)
        return failure(self.address, cause, detail, timeout=self.timeout, read_only_fs=_read_only_fs(self.path))

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
