"""The batch journal's SQLite schema and the rows it hands out (see :mod:`app.batch.journal`).

``runs.outcome`` is ``running`` while a run goes on, then ``finished``, ``interrupted``
(stopped by the user, files left pending) or ``killed`` (its process died: found by the
next run, see :meth:`app.batch.journal.Journal.open`). ``runs.pid`` and ``runs.host``
name the process; ``runs.heartbeat`` is the last time (Unix seconds) it was seen alive.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

STATUSES = ("pending", "running", "done", "failed", "skipped")
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    rel TEXT NOT NULL UNIQUE,
    src TEXT NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    seen INTEGER NOT NULL DEFAULT 0,
    size INTEGER,
    mtime_ns INTEGER,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'done', 'failed', 'skipped')),
    input_hash TEXT,
    output TEXT NOT NULL,
    output_hash TEXT,
    output_size INTEGER,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    tile INTEGER,
    device TEXT,
    width INTEGER,
    height INTEGER,
    read_s REAL,
    restore_s REAL,
    write_s REAL,
    started REAL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS files_status_seq ON files (status, seq);
CREATE INDEX IF NOT EXISTS files_output ON files (output, seq);
CREATE TABLE IF NOT EXISTS thumbs (
    file_id INTEGER PRIMARY KEY REFERENCES files (id),
    before BLOB,
    after BLOB
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL,
    engine TEXT,
    workers INTEGER,
    device TEXT,
    host TEXT,
    outcome TEXT NOT NULL DEFAULT 'running',
    restored INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    heartbeat REAL
);
"""
# columns added after version 1 journals were made: (table, column, type)
ADDED_COLUMNS = (("runs", "pid", "INTEGER"), ("runs", "heartbeat", "REAL"))

ROW_FIELDS = (
    "id", "rel", "src", "status", "size", "mtime_ns", "input_hash", "output", "output_hash",
    "error", "attempts", "tile", "device", "width", "height", "read_s", "restore_s", "write_s",
    "started", "finished",
)  # fmt: skip


@dataclass
class Row:
    """One input file as the journal knows it (paths as stored: ``rel``/``output`` relative)."""

    id: int
    rel: str
    src: str
    status: str
    size: int | None = None
    mtime_ns: int | None = None
    input_hash: str | None = None
    output: str = ""
    output_hash: str | None = None
    error: str | None = None
    attempts: int = 0
    tile: int | None = None
    device: str | None = None
    width: int | None = None
    height: int | None = None
    read_s: float | None = None
    restore_s: float | None = None
    write_s: float | None = None
    started: float | None = None
    finished: float | None = None

    @property
    def seconds(self) -> float | None:
        """Reading + restoring + writing time of the last attempt (None if not timed)."""
        parts = [t for t in (self.read_s, self.restore_s, self.write_s) if t is not None]
        return sum(parts) if parts else None


@dataclass
class Outcome:
    """What happened to one file (sent by the pipeline, written by :meth:`Journal.finish`).

    ``status`` is ``done``, ``failed``, ``skipped`` or ``cancelled`` (back to pending).
    """

    id: int
    status: str
    input_hash: str | None = None
    output_hash: str | None = None
    output_size: int | None = None
    error: str | None = None
    tile: int | None = None
    device: str | None = None
    width: int | None = None
    height: int | None = None
    read_s: float | None = None
    restore_s: float | None = None
    write_s: float | None = None
    thumb_before: bytes | None = None
    thumb_after: bytes | None = None
    reused: bool = False

    @property
    def seconds(self) -> float:
        return sum(t or 0.0 for t in (self.read_s, self.restore_s, self.write_s))


@dataclass
class Registered:
    """Counts after scanning the inputs: ``todo`` files need work in this run."""

    seen: int = 0
    todo: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def migrate(conn: sqlite3.Connection) -> None:
    """Create the tables, and add the columns a journal of an older Patina lacks."""
    conn.executescript(SCHEMA)
    for table, column, kind in ADDED_COLUMNS:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
