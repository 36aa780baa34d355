"""The batch journal: one SQLite database beside the outputs, the single truth.

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
it may be replaced). SQLite's journal (WAL on local disks, a rollback journal on network
file systems, where WAL is unsafe: :mod:`app.batch.journal_fs`) keeps the database itself
consistent across kills. A run killed before it could record its end stays ``running``
in ``runs`` only until the next :meth:`Journal.open`, which marks it ``killed``.

Only one thread uses a :class:`Journal` (the coordinator). Several processes must not
run the same batch at once; :meth:`Journal.open` takes an exclusive lock file. The
schema and the row types are in :mod:`app.batch.journal_schema`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from app.batch.journal_fs import journal_mode, process_alive, release_lock, take_lock
from app.batch.journal_schema import (
    ROW_FIELDS,
    SCHEMA_VERSION,
    STATUSES,
    Outcome,
    Registered,
    Row,
    migrate,
)
from app.batch.recipe import Recipe
from app.core.errors import InvalidInputError

__all__ = ["JOURNAL_NAME", "STATUSES", "Journal", "Outcome", "Registered", "Row"]
JOURNAL_NAME = "patina-batch.sqlite"
MAX_THUMBS = 5000  # files whose thumbnails are kept (about 6 KB each): bounds the journal
HEARTBEAT_EVERY = 30.0  # seconds between a run's heartbeats
STALE_AFTER = 900.0  # a run of another host silent this long (seconds) is taken as killed
_CHUNK = 500


class Journal:
    """The SQLite journal of one output folder (see the module docstring)."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, lock: Path | None, mode: str = ""
    ) -> None:
        self.path = path
        self.conn = conn
        self.mode = mode  # "wal" or "delete" (SQLite's journal_mode); "" when read-only
        self._lock = lock
        self._beat = 0.0
        self._thumbs = int(conn.execute("SELECT count(*) FROM thumbs").fetchone()[0])

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: Path, *, lock: bool = True, mode: str = "auto") -> Journal:
        """Open (creating if needed) the journal at ``path``, and mark ``killed`` the runs
        whose process is gone (:meth:`close_dead_runs`).

        ``mode``: ``auto`` (WAL with NORMAL sync on a local disk, a rollback journal with
        FULL sync on a network file system), ``wal`` or ``delete`` (forced). With ``lock``,
        fails with InvalidInputError while another process runs this batch.
        """
        lock_path = take_lock(path) if lock else None
        chosen = journal_mode(path, mode)
        created, conn = not path.exists(), None
        try:
            conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            conn.execute(f"PRAGMA journal_mode={chosen.upper()}")
            conn.execute("PRAGMA synchronous=" + ("NORMAL" if chosen == "wal" else "FULL"))
            migrate(conn)
        except sqlite3.Error as err:  # e.g. a full disk: close, and leave no half journal
            if conn is not None:
                conn.close()
            for suffix in ("", "-wal", "-shm", "-journal") if created else ():
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            release_lock(lock_path)
            raise InvalidInputError(f"cannot open the batch journal {path}: {err}") from err
        journal = cls(path, conn, lock_path, chosen)
        journal._set_default("schema", str(SCHEMA_VERSION))
        if lock:
            journal.close_dead_runs()
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
        if self.mode == "wal":
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
        release_lock(self._lock)
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
        now = time.time()
        cur = self.conn.execute(
            "INSERT INTO runs (started, engine, workers, device, host, pid, heartbeat) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now, engine, workers, device, socket.gethostname(), os.getpid(), now),
        )
        self._beat = now
        return int(cur.lastrowid or 0)

    def heartbeat(self, run_id: int, *, force: bool = False) -> None:
        """Record that run ``run_id`` is alive (at most every HEARTBEAT_EVERY seconds)."""
        now = time.time()
        if force or now - self._beat >= HEARTBEAT_EVERY:
            self.conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (now, run_id))
            self._beat = now

    def close_dead_runs(self) -> int:
        """Mark ``killed`` every ``running`` run whose process is gone: on this host, its
        pid no longer exists; on another, it sent no heartbeat for STALE_AFTER seconds.
        Its ``finished`` time is its last heartbeat. Returns how many were marked."""
        cur = self.conn.execute(
            "SELECT id, pid, host, coalesce(heartbeat, started) FROM runs WHERE outcome = 'running'"
        )
        dead = [(beat, run_id) for run_id, pid, host, beat in cur.fetchall()
                if _run_gone(pid, host, beat)]  # fmt: skip
        self.conn.executemany("UPDATE runs SET outcome = 'killed', finished = ? WHERE id = ?", dead)
        return len(dead)

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
            f"SELECT {', '.join(ROW_FIELDS)} FROM files WHERE rel IN ({marks})", rels
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
            f"SELECT {', '.join(ROW_FIELDS)} FROM files WHERE status = 'pending' AND seen = ? "
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
            f"SELECT {', '.join(ROW_FIELDS)} FROM files {where} ORDER BY seen DESC, seq", args
        )
        while True:
            block = cur.fetchmany(batch)
            if not block:
                return
            yield from (Row(*values) for values in block)

    def row(self, row_id: int) -> Row | None:
        found = self.conn.execute(
            f"SELECT {', '.join(ROW_FIELDS)} FROM files WHERE id = ?", (row_id,)
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


def _run_gone(pid: int | None, host: str | None, heartbeat: float | None) -> bool:
    """Whether a ``running`` run's process is gone (see :meth:`Journal.close_dead_runs`)."""
    if host == socket.gethostname():
        return pid != os.getpid() and not process_alive(pid, host)
    return heartbeat is None or time.time() - heartbeat > STALE_AFTER


def _stat(path: Path) -> tuple[int | None, int | None]:
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    return st.st_size, st.st_mtime_ns
