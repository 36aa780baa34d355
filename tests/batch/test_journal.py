"""The SQLite journal: registering inputs, statuses across runs, locking."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from app.batch.journal import Journal, Outcome
from app.batch.recipe import Recipe
from app.core.errors import InvalidInputError

RECIPE = Recipe("denoise", "box", {"radius": 1})


def files(root: Path, *names: str) -> list[tuple[Path, PurePosixPath]]:
    found = []
    for name in names:
        path = root / name
        if not path.exists():
            path.write_bytes(name.encode())
        found.append((path, PurePosixPath(name)))
    return found


def status(journal: Journal) -> dict[str, str]:
    return {row.rel: row.status for row in journal.rows()}


def test_statuses_across_runs(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        journal.bind(RECIPE, tmp_path)
        run = journal.begin_run("local", 1, "cpu")
        got = journal.register(files(tmp_path, "a.png", "b.png", "c.png"), RECIPE, run)
        assert got.todo == 3
        rows = {r.rel: r for r in journal.next_pending(run, 10)}
        journal.mark_running(rows["a.png"].id)
        journal.finish(Outcome(rows["a.png"].id, "done", "h", "oh", 1))
        journal.mark_running(rows["b.png"].id)
        journal.finish(Outcome(rows["b.png"].id, "failed", error="broken"))
        journal.mark_running(rows["c.png"].id)  # killed while running
        assert status(journal) == {"a.png": "done", "b.png": "failed", "c.png": "running"}

        run = journal.begin_run("local", 1, "cpu")
        os.utime(tmp_path / "a.png", ns=(5, 5))  # changed input
        got = journal.register(files(tmp_path, "a.png", "b.png", "c.png"), RECIPE, run)
        assert status(journal) == {"a.png": "pending", "b.png": "failed", "c.png": "pending"}
        assert got.todo == 2
        run = journal.begin_run("local", 1, "cpu")
        journal.register(files(tmp_path, "b.png"), RECIPE, run, retry_failed=True)
        assert status(journal) == {"a.png": "skipped", "b.png": "pending", "c.png": "skipped"}


def test_output_name_collisions_are_skipped(tmp_path: Path) -> None:
    recipe = RECIPE.with_changes(output_format="png")
    with Journal.open(tmp_path / "j.sqlite") as journal:
        run = journal.begin_run("local", 1, "cpu")
        got = journal.register(files(tmp_path, "x.jpg", "x.tif"), recipe, run)
        assert got.todo == 1 and status(journal) == {"x.jpg": "pending", "x.tif": "skipped"}
        (skipped,) = journal.rows("skipped")
        assert "x.jpg" in (skipped.error or "")


def test_wal_and_recipe_check(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        journal.bind(RECIPE, tmp_path)
        journal.bind(RECIPE.with_changes(tile=64), tmp_path)  # run settings may change
        with pytest.raises(InvalidInputError, match="another recipe"):
            journal.bind(RECIPE.with_changes(params={"radius": 2}), tmp_path)
        with pytest.raises(InvalidInputError, match="holds a batch of"):
            journal.bind(RECIPE, tmp_path / "other")


def test_second_process_is_refused_and_stale_lock_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal.open(path), pytest.raises(InvalidInputError, match="another Patina batch"):
        Journal.open(path)
    lock = path.with_name(path.name + ".lock")
    lock.write_text(f"999999999 {os.uname().nodename}\n")  # a pid that does not exist
    with Journal.open(path):
        assert lock.exists()
    assert not lock.exists()


def test_thumbnails_are_kept_for_the_first_files_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.batch import journal as journal_module

    monkeypatch.setattr(journal_module, "MAX_THUMBS", 2)
    with Journal.open(tmp_path / "j.sqlite") as journal:
        run = journal.begin_run("local", 1, "cpu")
        journal.register(files(tmp_path, "a.png", "b.png", "c.png"), RECIPE, run)
        rows = journal.next_pending(run, 10)
        for row in rows:
            journal.finish(Outcome(row.id, "done", "h", "o", 1, thumb_after=b"jpeg"))
        journal.finish(Outcome(rows[0].id, "done", "h", "o", 1, thumb_after=b"new"))  # redo
        assert [journal.thumbs(r.id)[1] for r in rows] == [b"new", b"jpeg", None]
