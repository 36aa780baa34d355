"""Reports: the text summary and the HTML page with before/after thumbnails."""

from __future__ import annotations

import re
from pathlib import Path

from app.batch.inputs import resolve_source
from app.batch.journal import Journal
from app.batch.recipe import Recipe
from app.batch.report import text_report, write_report
from app.batch.runner import BatchOptions, journal_path, run_batch
from tests.batch.fakes import box_factory, write_image


def make_batch(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    for i in range(3):
        write_image(root / f"p{i}.png", i)
    (root / "broken <b>.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    run_batch(resolve_source(root), out, Recipe("denoise"), BatchOptions(), factory=box_factory)
    return out


def test_text_report(tmp_path: Path) -> None:
    out = make_batch(tmp_path)
    with Journal.read_only(journal_path(out)) as journal:
        text = text_report(journal)
    assert "4 - 3 done, 1 failed, 0 skipped" in text
    assert "denoise/box radius=1" in text
    assert re.search(r"broken <b>\.png: .*not an image", text)
    assert "time per file: mean" in text


def test_html_report_has_thumbnails_and_escaped_reasons(tmp_path: Path) -> None:
    out = make_batch(tmp_path)
    with Journal.read_only(journal_path(out)) as journal:
        page = write_report(journal, tmp_path / "report.html").read_text()
        write_report(journal, tmp_path / "report.txt")
    assert page.count("data:image/jpeg;base64,") == 6  # before + after of 3 files
    assert "broken &lt;b&gt;.png" in page and "<b>.png" not in page
    assert "<h2>Failures</h2>" in page
    assert "3 done" in (tmp_path / "report.txt").read_text()
