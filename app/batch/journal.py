"""The batch journal: one SQLite database (WAL mode) beside the outputs, the single truth.

One row per input (``files``): its path relative to the input root, size and mtime,
SHA-256 of its content, status (``pending``, ``running``, ``done``, ``failed``,
``skipped``), output path (relative to the output folder) and SHA-256, the error text,
the tile size and device used, and timings (seconds reading, restoring, writing).
``thumbs`` keeps small before/after JPEG thumbnails for the report; ``runs`` one row
per invocation; ``meta`` the recipe and the input root.

Crash safety: a file is marked ``running`` (committed) before any work, its output is
written atomically by the pipeline, and only then is the row marked ``done``. A kill at
any instant leaves rows ``running`` whose output is absent or complete; the next run
sets them back to ``pending`` and redoes them (the output name belongs to the batch, so
it may be replaced). SQLite's WAL keeps the database itself consistent across kills.

Only one thread uses a :class:`Journal` (the coordinator). Several processes must not
run the same batch at once; :meth:`Journal.open` takes an exclusive lock file.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from app.batch.recipe import Recipe
from app.core.errors import InvalidInputError

JOURNAL_NAME = "patina-batch.sqlite"
STATUSES = ("pending", "running", "done", "failed", "skipped")
SCHEMA_VERSION = 1
MAX_THUMBS = 5000  # files whose thumbnails are kept (about 6 KB each): bounds the journal
_CHUNK = 500

_SCHEMA = """
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
    failed INTEGER NOT NULL DEFAULT 0
);
"""

_ROW_FIELDS = (
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


class Journal:
    """The SQLite journal of one output folder (see the module docstring)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: Path | None) -> None:
        self.path = path
        self.conn = conn
        self._lock = lock
        self._thumbs = int(conn.execute("SELECT count(*) FROM thumbs").fetchone()[0])

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: Path, *, lock: bool = True) -> Journal:
        """Open (creating if needed) the journal at ``path``; WAL mode, NORMAL sync.

        With ``lock``, fails with InvalidInputError while another process runs this batch.
        """
        lock_path = _take_lock(path) if lock else None
        try:
            conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except sqlite3.Error as err:
            _release_lock(lock_path)
            raise InvalidInputError(f"cannot open the batch journal {path}: {err}") from err
        journal = cls(path, conn, lock_path)
        journal._set_default("schema", str(SCHEMA_VERSION))
        return journal

    @classmethod
    def read_only(cls, path: Path) -> Journal:
        """Open an existing journal for reading (reports); no lock is taken."""
        if not path.is_file():
            raise InvalidInputError(f"no batch journal at {path}")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
        return cls(path, conn, None)

    def close(self) -> None:
        """Checkpoint the WAL, close, release the lock (idempotent)."""
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
        _release_lock(self._lock)
        self._lock = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------------- meta

    def get_meta(self, key: str) -> str | None:
        found = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else str(found[0])

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _set_default(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))

    def recipe(self) -> Recipe | None:
        """The recipe this batch was started with, or None for a new journal."""
        text = self.get_meta("recipe")
        return None if text is None else Recipe.from_dict(json.loads(text))

    def bind(self, recipe: Recipe, input_root: Path) -> None:
        """Record ``recipe`` and the input root, or check they match the recorded ones.

        Raises InvalidInputError when the journal belongs to another input folder or to a
        recipe that writes different outputs.
        """
        old = self.recipe()
        root = self.get_meta("input_root")
        if root is not None and Path(root) != input_root:
            raise InvalidInputError(
                f"{self.path.parent} holds a batch of {root}, not of {input_root}; "
                "choose another output folder"
            )
        if old is not None and not old.same_outputs_as(recipe):
            raise InvalidInputError(
                f"{self.path.parent} holds a batch made with another recipe "
                f"({old.describe()}); run it without the changed options (or with --resume) "
                "to continue it, or choose another output folder"
            )
        with self.conn:
            self.conn.execute("BEGIN")
            self._set_meta("recipe", json.dumps(recipe.to_dict()))
            self._set_meta("input_root", str(input_root))
            self._set_default("created", str(time.time()))

    # --------------------------------------------------------------------- runs

    def begin_run(self, engine: str, workers: int, device: str) -> int:
        """Record the start of a run; returns its id (used to mark the files seen)."""
        cur = self.conn.execute(
            "INSERT INTO runs (started, engine, workers, device, host) VALUES (?, ?, ?, ?, ?)",
            (time.time(), engine, workers, device, socket.gethostname()),
        )
        return int(cur.lastrowid or 0)

    def end_run(self, run_id: int, outcome: str, restored: int, failed: int) -> None:
        self.conn.execute(
            "UPDATE runs SET finished = ?, outcome = ?, restored = ?, failed = ? WHERE id = ?",
            (time.time(), outcome, restored, failed, run_id),
        )

    def runs(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM runs ORDER BY id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    # ----------------------------------------------------------------- register

    def register(
        self,
        files: Iterable[tuple[Path, PurePosixPath]],
        recipe: Recipe,
        run_id: int,
        *,
        retry_failed: bool = False,
        output_root: Path | None = None,
    ) -> Registered:
        """Add or refresh a row for each ``(path, rel)``, streaming in chunks.

        New files are ``pending``. Known files go back to ``pending`` when their size or
        mtime changed, when they were ``running`` (interrupted), ``skipped``, ``failed``
        with ``retry_failed``, or ``done`` with their output gone from ``output_root``.
        Then files not seen in this run stop being ``pending``, and files whose output
        name another file already takes are ``skipped``.
        """
        seq = 0
        chunk: list[tuple[Path, PurePosixPath]] = []
        for item in files:
            chunk.append(item)
            if len(chunk) >= _CHUNK:
                seq = self._register_chunk(chunk, recipe, run_id, seq, retry_failed, output_root)
                chunk = []
        seq = self._register_chunk(chunk, recipe, run_id, seq, retry_failed, output_root)
        with self.conn:
            self.conn.execute("BEGIN")
            self._mark_unseen(run_id)
            self._mark_collisions(run_id)
        todo = self.conn.execute(
            "SELECT count(*) FROM files WHERE seen = ? AND status = 'pending'", (run_id,)
        ).fetchone()[0]
        return Registered(seq, int(todo), self.counts())

    def _register_chunk(
        self,
        chunk: Sequence[tuple[Path, PurePosixPath]],
        recipe: Recipe,
        run_id: int,
        seq: int,
        retry_failed: bool,
        output_root: Path | None,
    ) -> int:
        if not chunk:
            return seq
        known = self._known([str(rel) for _, rel in chunk])
        with self.conn:
            self.conn.execute("BEGIN")
            for path, rel in chunk:
                seq += 1
                size, mtime = _stat(path)
                output = str(rel.parent / recipe.output_name(rel))
                row = known.get(str(rel))
                if row is None:
                    self.conn.execute(
                        "INSERT INTO files (rel, src, seq, seen, size, mtime_ns, output) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (str(rel), str(path), seq, run_id, size, mtime, output),
                    )
                    continue
                status = _refreshed_status(row, size, mtime, retry_failed, output_root)
                self.conn.execute(
                    "UPDATE files SET src = ?, seq = ?, seen = ?, size = ?, mtime_ns = ?, "
                    "output = ?, status = ? WHERE id = ?",
                    (str(path), seq, run_id, size, mtime, output, status, row.id),
                )
        return seq

    def _known(self, rels: list[str]) -> dict[str, Row]:
        marks = ",".join("?" * len(rels))
        cur = self.conn.execute(
            f"SELECT {', '.join(_ROW_FIELDS)} FROM files WHERE rel IN ({marks})", rels
        )
        return {r.rel: r for r in (Row(*values) for values in cur.fetchall())}

    def _mark_unseen(self, run_id: int) -> None:
        self.conn.execute(
            "UPDATE files SET status = 'skipped', error = 'input not found in the last run' "
            "WHERE seen != ? AND status IN ('pending', 'running')",
            (run_id,),
        )

    def _mark_collisions(self, run_id: int) -> None:
        """Skip every file whose output name an earlier (lower ``seq``) file also takes."""
        self.conn.execute(
            "UPDATE files SET status = 'skipped', error = 'another input (' || ("
            "  SELECT o.rel FROM files o WHERE o.output = files.output AND o.seen = ?1"
            "  ORDER BY o.seq LIMIT 1) || ') has the same output name ' || files.output "
            "WHERE seen = ?1 AND status = 'pending' AND EXISTS ("
            "  SELECT 1 FROM files o WHERE o.output = files.output AND o.seen = ?1"
            "  AND o.seq < files.seq)",
            (run_id,),
        )

    # ------------------------------------------------------------------ dispatch

    def next_pending(self, run_id: int, limit: int) -> list[Row]:
        """Up to ``limit`` pending rows of this run in discovery order."""
        cur = self.conn.execute(
            f"SELECT {', '.join(_ROW_FIELDS)} FROM files WHERE status = 'pending' AND seen = ? "
            "ORDER BY seq LIMIT ?",
            (run_id, limit),
        )
        return [Row(*values) for values in cur.fetchall()]

    def mark_running(self, row_id: int) -> None:
        """Mark a file as started (committed before its work begins); counts the attempt."""
        self.conn.execute(
            "UPDATE files SET status = 'running', attempts = attempts + 1, started = ?, "
            "error = NULL WHERE id = ?",
            (time.time(), row_id),
        )

    def skip(self, row_id: int, reason: str) -> None:
        self.conn.execute(
            "UPDATE files SET status = 'skipped', error = ? WHERE id = ?", (reason, row_id)
        )

    def finish(self, outcome: Outcome) -> None:
        """Record an outcome in one transaction; ``cancelled`` puts the file back to pending."""
        if outcome.status == "cancelled":
            self.conn.execute(
                "UPDATE files SET status = 'pending' WHERE id = ? AND status = 'running'",
                (outcome.id,),
            )
            return
        with self.conn:
            self.conn.execute("BEGIN")
            self._write_outcome(outcome)

    def _write_outcome(self, o: Outcome) -> None:
        if o.reused:  # unchanged content, output already there: keep timings and thumbs
            self.conn.execute(
                "UPDATE files SET status = 'done', error = NULL, finished = ? WHERE id = ?",
                (time.time(), o.id),
            )
            return
        self.conn.execute(
            "UPDATE files SET status = ?, input_hash = coalesce(?, input_hash), "
            "output_hash = ?, output_size = ?, error = ?, tile = ?, device = ?, width = ?, "
            "height = ?, read_s = ?, restore_s = ?, write_s = ?, finished = ? WHERE id = ?",
            (o.status, o.input_hash, o.output_hash, o.output_size, o.error, o.tile, o.device,
             o.width, o.height, o.read_s, o.restore_s, o.write_s, time.time(), o.id),
        )  # fmt: skip
        if o.thumb_before is not None or o.thumb_after is not None:
            self._keep_thumbs(o)

    def _keep_thumbs(self, o: Outcome) -> None:
        """Store a file's thumbnails while fewer than MAX_THUMBS files have them."""
        known = self.conn.execute("SELECT 1 FROM thumbs WHERE file_id = ?", (o.id,)).fetchone()
        if known is None and self._thumbs >= MAX_THUMBS:
            return
        self.conn.execute(
            "INSERT OR REPLACE INTO thumbs (file_id, before, after) VALUES (?, ?, ?)",
            (o.id, o.thumb_before, o.thumb_after),
        )
        self._thumbs += known is None

    # ------------------------------------------------------------------- queries

    def counts(self) -> dict[str, int]:
        """Number of files per status (every status present, zero if none)."""
        found = dict(self.conn.execute("SELECT status, count(*) FROM files GROUP BY status"))
        return {s: int(found.get(s, 0)) for s in STATUSES}

    def rows(self, status: str | None = None, *, batch: int = 500) -> Iterator[Row]:
        """Every row (or those with ``status``) in discovery order, fetched in batches."""
        where = "" if status is None else "WHERE status = ?"
        args: tuple[Any, ...] = () if status is None else (status,)
        cur = self.conn.execute(
            f"SELECT {', '.join(_ROW_FIELDS)} FROM files {where} ORDER BY seen DESC, seq", args
        )
        while True:
            block = cur.fetchmany(batch)
            if not block:
                return
            yield from (Row(*values) for values in block)

    def row(self, row_id: int) -> Row | None:
        found = self.conn.execute(
            f"SELECT {', '.join(_ROW_FIELDS)} FROM files WHERE id = ?", (row_id,)
        ).fetchone()
        return None if found is None else Row(*found)

    def thumbs(self, row_id: int) -> tuple[bytes | None, bytes | None]:
        """(before, after) JPEG thumbnails of a file, None where missing."""
        found = self.conn.execute(
            "SELECT before, after FROM thumbs WHERE file_id = ?", (row_id,)
        ).fetchone()
        return (None, None) if found is None else (found[0], found[1])

    def timing(self) -> tuple[int, float]:
        """(files timed, total seconds) over done files."""
        n, total = self.conn.execute(
            "SELECT count(*), coalesce(sum(coalesce(read_s, 0) + coalesce(restore_s, 0) "
            "+ coalesce(write_s, 0)), 0) FROM files WHERE status = 'done' AND read_s IS NOT NULL"
        ).fetchone()
        return int(n), float(total)


def _refreshed_status(
    row: Row, size: int | None, mtime: int | None, retry_failed: bool, output_root: Path | None
) -> str:
    """The status a known file gets at the start of a run (see :meth:`Journal.register`)."""
    changed = (row.size, row.mtime_ns) != (size, mtime)
    if row.status in ("running", "skipped") or changed:
        return "pending"
    if row.status == "failed":
        return "pending" if retry_failed else "failed"
    if row.status == "done" and output_root is not None:
        return "done" if (output_root / row.output).is_file() else "pending"
    return row.status


def _stat(path: Path) -> tuple[int | None, int | None]:
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    return st.st_size, st.st_mtime_ns


# ---------------------------------------------------------------------------- locking


def _take_lock(path: Path) -> Path:
    """Create ``<journal>.lock`` holding our pid; a stale lock (dead pid) is taken over."""
    lock = path.with_name(path.name + ".lock")
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _lock_alive(lock):
                raise InvalidInputError(
                    f"another Patina batch is running in {path.parent} (lock {lock.name}); "
                    "wait for it, or delete the lock file if that process is gone"
                ) from None
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()} {socket.gethostname()}\n")
        return lock
    raise InvalidInputError(f"cannot lock the batch journal {path}")


def _lock_alive(lock: Path) -> bool:
    try:
        pid_text, host = lock.read_text().split()[:2]
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    if host != socket.gethostname():
        return True  # another machine's process: assume it is alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release_lock(lock: Path | None) -> None:
    if lock is not None:
        lock.unlink(missing_ok=True)
