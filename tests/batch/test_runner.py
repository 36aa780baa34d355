"""The batch engine end to end on small files: statuses, metadata, resume, stop, OOM."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from app.batch.inputs import resolve_source
from app.batch.journal import Journal
from app.batch.pipeline import Control
from app.batch.recipe import Recipe
from app.batch.runner import (
    BatchOptions,
    BatchProgress,
    Event,
    FileFinished,
    Summary,
    journal_path,
    run_batch,
)
from app.core import image_io
from app.core.errors import InvalidInputError
from app.ml.services.base import Service
from tests.batch.conftest import Tree, folder_hashes
from tests.batch.fakes import (
    EXIF_MAKE,
    BoxService,
    GreedyService,
    Recorder,
    TokenService,
    srgb_icc,
)

RECIPE = Recipe("denoise", tile=128)


def run(tree_root: Path, out: Path, service: Service | None = None, recipe: Recipe = RECIPE,
        events: list[Event] | None = None, **options: object) -> Summary:  # fmt: skip
    made = service or BoxService()
    source = resolve_source(tree_root, recursive=True)
    return run_batch(
        source, out, recipe, BatchOptions(**options),  # type: ignore[arg-type]
        factory=lambda task, method, device: made,
        on_event=None if events is None else events.append,
    )  # fmt: skip


def outputs(out: Path) -> dict[str, str]:
    return {k: v for k, v in folder_hashes(out).items() if "_restored" in k}


def output_of(tree: Tree, out: Path, src: Path) -> Path:
    rel = src.relative_to(tree.root)
    return out / rel.parent / f"{src.stem}_restored{src.suffix}"


# ----------------------------------------------------------------------- the 30 files


def test_thirty_mixed_files(tree: Tree, tmp_path: Path) -> None:
    originals = folder_hashes(tree.root)
    service = BoxService()
    events: list[Event] = []
    out = tmp_path / "out"
    summary = run(tree.root, out, service, events=events, workers=2)

    assert summary.todo == 30 and summary.restored == 29 and summary.failed == 1
    assert summary.counts == {"pending": 0, "running": 0, "done": 29, "failed": 1, "skipped": 0}
    failed = [e for e in events if isinstance(e, FileFinished) and e.outcome.status == "failed"]
    assert [e.rel for e in failed] == ["box2/corrupt.png"]
    assert "corrupt.png" in (failed[0].outcome.error or "")
    assert len(outputs(out)) == 29
    assert folder_hashes(tree.root) == originals  # originals byte-identical
    assert 128 in service.tiles  # the recipe's tile reached the service
    for src in tree.images():
        check_output(src, output_of(tree, out, src))
    assert isinstance(events[-1], Summary)
    assert any(isinstance(e, BatchProgress) and e.eta is not None for e in events)


def check_output(src: Path, dst: Path) -> None:
    """Same size, format, bit depth, ICC and EXIF as the input, and actually changed."""
    before, after = image_io.load(src), image_io.load(dst)
    assert after.pixels.shape == before.pixels.shape, dst
    assert after.meta.format == before.meta.format, dst
    assert after.meta.bit_depth == before.meta.bit_depth, dst
    assert after.meta.icc_profile == before.meta.icc_profile, dst
    if before.meta.exif is not None:
        exif = Image.Exif()
        exif.load(after.meta.exif or b"")
        assert exif.get(0x010F) == EXIF_MAKE, dst
    assert not np.array_equal(after.pixels, before.pixels), dst


def test_sixteen_bit_and_icc_kept(tree: Tree, tmp_path: Path) -> None:
    run(tree.root, tmp_path / "out")
    tif16 = next(
        p for p in tree.files if p.suffix == ".tif" and image_io.load(p).meta.bit_depth == 16
    )
    dst = output_of(tree, tmp_path / "out", tif16)
    with tifffile.TiffFile(dst) as tif:
        assert tif.pages.first.dtype == np.uint16
        assert bytes(tif.pages.first.tags[34675].value) == srgb_icc()
    huge_out = image_io.load(output_of(tree, tmp_path / "out", tree.huge))
    assert huge_out.pixels.shape[:2] == (300, 360) and huge_out.meta.bit_depth == 16


def test_grey_file_done(tree: Tree, tmp_path: Path) -> None:
    run(tree.root, tmp_path / "out")
    result = image_io.load(output_of(tree, tmp_path / "out", tree.grey))
    np.testing.assert_array_equal(result.pixels[..., 0], result.pixels[..., 1])
    assert result.meta.bit_depth == 8


def test_journal_records_everything(tree: Tree, tmp_path: Path) -> None:
    run(tree.root, tmp_path / "out")
    with Journal.read_only(journal_path(tmp_path / "out")) as journal:
        assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = list(journal.rows())
        assert len(rows) == 30
        done = [r for r in rows if r.status == "done"]
        for row in done:
            assert row.input_hash and row.output_hash and row.tile == 128
            assert row.read_s is not None and row.restore_s is not None
            assert (tmp_path / "out" / row.output).is_file()
            assert journal.thumbs(row.id)[0] and journal.thumbs(row.id)[1]
        bad = next(r for r in rows if r.status == "failed")
        assert bad.rel == "box2/corrupt.png" and bad.error and bad.output_hash is None


# ------------------------------------------------------------------- re-runs, changes


def test_rerun_of_finished_batch_does_nothing(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(tree.root, out)
    first = folder_hashes(out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*_restored*")}
    service = BoxService()
    again = run(tree.root, out, service)
    assert again.todo == 0 and again.finished == 0 and service.tiles == []
    assert folder_hashes(out) == first
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*_restored*")} == mtimes


def test_changed_input_is_redone(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(tree.root, out)
    target = next(p for p in tree.files if p.suffix == ".png" and p != tree.corrupt)
    old = output_of(tree, out, target).read_bytes()
    pixels = image_io.load(target).pixels
    image_io.save(target, 1.0 - pixels, image_io.load(target).meta, overwrite=True)
    again = run(tree.root, out)
    assert (again.todo, again.restored) == (1, 1)
    assert output_of(tree, out, target).read_bytes() != old


def test_touched_but_unchanged_input_is_not_restored(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(tree.root, out)
    target = tree.images()[0]
    os.utime(target, ns=(1, 1))
    service = BoxService()
    again = run(tree.root, out, service)
    assert (again.todo, again.reused, again.restored) == (1, 1, 0)
    assert service.tiles == []


def test_deleted_output_is_made_again(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(tree.root, out)
    victim = output_of(tree, out, tree.images()[3])
    expected = victim.read_bytes()
    victim.unlink()
    again = run(tree.root, out)
    assert again.restored == 1 and victim.read_bytes() == expected


def test_foreign_output_is_never_replaced(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    foreign = output_of(tree, out, tree.images()[0])
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"someone else's file")
    summary = run(tree.root, out)
    assert summary.skipped == 1 and foreign.read_bytes() == b"someone else's file"


def test_other_recipe_refused(tree: Tree, tmp_path: Path) -> None:
    run(tree.root, tmp_path / "out")
    with pytest.raises(InvalidInputError, match="another recipe"):
        run(tree.root, tmp_path / "out", recipe=RECIPE.with_changes(output_format="png"))


def test_output_inside_input_is_left_out(tree: Tree) -> None:
    summary = run(tree.root, tree.root / "restored")
    assert summary.todo == 30
    assert run(tree.root, tree.root / "restored").todo == 0


def test_output_folder_must_differ_from_input(tree: Tree) -> None:
    with pytest.raises(InvalidInputError, match="input folder"):
        run(tree.root, tree.root)


def test_unknown_parameter_refused(tree: Tree, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no parameter strength"):
        run(tree.root, tmp_path / "out", recipe=RECIPE.with_changes(params={"strength": 1}))


def test_format_conversion_and_pattern(tree: Tree, tmp_path: Path) -> None:
    recipe = RECIPE.with_changes(output_format="png", bit_depth=16, pattern="{stem}.clean{ext}")
    summary = run(tree.root, tmp_path / "out", recipe=recipe)
    assert summary.restored == 29
    jpg = next(p for p in tree.files if p.suffix == ".jpg" and p != tree.grey)
    dst = tmp_path / "out" / jpg.relative_to(tree.root).parent / f"{jpg.stem}.clean.png"
    assert image_io.load(dst).meta.bit_depth == 16


def test_sequential_and_pipeline_write_the_same_bytes(tree: Tree, tmp_path: Path) -> None:
    run(tree.root, tmp_path / "seq", engine="sequential")
    run(tree.root, tmp_path / "pipe", workers=2)
    assert outputs(tmp_path / "seq") == outputs(tmp_path / "pipe")


# --------------------------------------------------------------------- out of memory


def test_out_of_memory_retries_smaller_tiles(tree: Tree, tmp_path: Path) -> None:
    service = GreedyService(limit=64)
    recipe = RECIPE.with_changes(tile=256)
    summary = run(tree.root, tmp_path / "out", service, recipe=recipe)
    assert summary.restored == 29
    assert {256, 128, 64} <= set(service.tiles)
    with Journal.read_only(journal_path(tmp_path / "out")) as journal:
        tiles = {r.rel: r.tile for r in journal.rows("done")}
    assert tiles.pop("box1/huge.png") == 64  # only the big image needed smaller tiles
    assert set(tiles.values()) == {256}


def test_out_of_memory_at_smallest_tile_fails_only_that_file(tmp_path: Path) -> None:
    from tests.batch.fakes import write_image

    write_image(tmp_path / "in" / "ok.png", 1)
    write_image(tmp_path / "in" / "odd.png", 2, size=(77, 90))  # GreedyService: always OOM
    summary = run(tmp_path / "in", tmp_path / "out", GreedyService(limit=512))
    assert (summary.restored, summary.failed) == (1, 1)
    with Journal.read_only(journal_path(tmp_path / "out")) as journal:
        (bad,) = journal.rows("failed")
        assert bad.rel == "odd.png" and "out of memory" in (bad.error or "")


# ------------------------------------------------------------------- pause and stop


def run_in_thread(tree: Tree, out: Path, service: Service, control: Control,
                  recorder: Recorder) -> threading.Thread:  # fmt: skip
    source = resolve_source(tree.root, recursive=True)

    def target() -> None:
        run_batch(source, out, RECIPE, BatchOptions(), factory=lambda *a: service,
                  control=control, on_event=recorder)  # fmt: skip

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_soft_stop_finishes_files_in_flight(tree: Tree, tmp_path: Path) -> None:
    service, control, recorder = TokenService(), Control(), Recorder()
    thread = run_in_thread(tree, tmp_path / "out", service, control, recorder)
    service.release(3)
    recorder.wait_until(lambda: recorder.count(FileFinished) >= 3)
    service.wait_started(4)  # the 4th file is being restored
    control.stop()
    service.release(100)
    thread.join(30)
    summary = recorder.events[-1]
    assert isinstance(summary, Summary) and summary.interrupted
    assert summary.restored == 4  # the file in flight finished, no other started
    assert summary.counts["running"] == 0 and summary.counts["pending"] == 30 - 4
    assert len(outputs(tmp_path / "out")) == 4


def test_hard_stop_and_resume(tree: Tree, tmp_path: Path) -> None:
    service, control, recorder = TokenService(), Control(), Recorder()
    thread = run_in_thread(tree, tmp_path / "out", service, control, recorder)
    service.release(2)
    service.wait_started(3)
    control.stop(now=True)
    service.release(100)
    thread.join(30)
    summary = recorder.events[-1]
    assert isinstance(summary, Summary) and summary.interrupted
    assert summary.restored == 2  # the 3rd was interrupted between tiles
    assert summary.counts["running"] == 0
    rest = run(tree.root, tmp_path / "out")
    assert rest.restored + summary.restored == 29
    assert len(outputs(tmp_path / "out")) == 29


def test_pause_holds_and_resume_continues(tree: Tree, tmp_path: Path) -> None:
    service, control, recorder = TokenService(), Control(), Recorder()
    thread = run_in_thread(tree, tmp_path / "out", service, control, recorder)
    service.release(2)
    recorder.wait_until(lambda: recorder.count(FileFinished) >= 2)
    control.pause()
    service.release(1)
    recorder.wait_until(lambda: control.parked >= 1)  # progress events keep coming
    assert recorder.count(FileFinished) == 2
    assert any(isinstance(e, BatchProgress) and e.paused for e in recorder.events[-3:])
    control.resume()
    service.release(100)
    thread.join(60)
    summary = recorder.events[-1]
    assert isinstance(summary, Summary) and not summary.interrupted
    assert summary.restored == 29
