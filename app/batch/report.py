"""Batch reports from the journal: a text summary and an HTML page with thumbnails.

Both read only the journal, so a report can be made at any time, during or after a
batch, and again later. Rows are streamed; the HTML page embeds before/after JPEG
thumbnails (kept in the journal when each file was done) for at most ``max_thumbs``
files, so a page for a million files stays a table, not a gigabyte.
"""

from __future__ import annotations

import base64
import html
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from app.batch.journal import Journal, Row
from app.core.atomic import atomic_write

MAX_FAILURES_SHOWN = 200
MAX_THUMBS = 1000


@dataclass
class Stats:
    """Counts and per-file timings of a batch (seconds = read + restore + write)."""

    counts: dict[str, int]
    seconds: list[float] = field(default_factory=list)
    read_s: float = 0.0
    restore_s: float = 0.0
    write_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def per_file(self) -> str:
        """``mean 0.41 s, median 0.39 s, max 1.20 s (read 12%, restore 80%, write 8%)``."""
        if not self.seconds:
            return "no file timed yet"
        whole = self.read_s + self.restore_s + self.write_s or 1.0
        shares = (100 * t / whole for t in (self.read_s, self.restore_s, self.write_s))
        parts = ", ".join(f"{n} {p:.0f}%" for n, p in zip(("read", "restore", "write"), shares))
        return (
            f"mean {statistics.fmean(self.seconds):.3f} s, median "
            f"{statistics.median(self.seconds):.3f} s, max {max(self.seconds):.3f} s ({parts})"
        )


def collect_stats(journal: Journal) -> Stats:
    """Counts per status and the timings of every restored file."""
    stats = Stats(journal.counts())
    for row in journal.rows("done"):
        if row.seconds is not None:
            stats.seconds.append(row.seconds)
            stats.read_s += row.read_s or 0.0
            stats.restore_s += row.restore_s or 0.0
            stats.write_s += row.write_s or 0.0
    return stats


def text_report(journal: Journal, *, max_failures: int = MAX_FAILURES_SHOWN) -> str:
    """A few lines for the terminal: what, how many, how fast, and every failure's reason."""
    stats = collect_stats(journal)
    recipe = journal.recipe()
    c = stats.counts
    lines = [
        f"batch {journal.path.parent}",
        f"  input:  {journal.get_meta('input_root')}",
        f"  recipe: {recipe.describe() if recipe else '(none)'}",
        f"  files:  {stats.total} - {c['done']} done, {c['failed']} failed, "
        f"{c['skipped']} skipped, {c['pending'] + c['running']} not yet done",
        f"  time per file: {stats.per_file()}",
    ]
    for title, status in (("failed", "failed"), ("skipped", "skipped")):
        if c[status]:
            lines.append(f"  {title} ({c[status]}):")
            lines += [
                f"    {row.rel}: {row.error}" for row in _limited(journal, status, max_failures)
            ]
            if c[status] > max_failures:
                lines.append(f"    ... and {c[status] - max_failures} more (see the HTML report)")
    return "\n".join(lines)


def _limited(journal: Journal, status: str, limit: int) -> Iterator[Row]:
    for i, row in enumerate(journal.rows(status)):
        if i >= limit:
            return
        yield row


def write_report(journal: Journal, path: Path, *, max_thumbs: int = MAX_THUMBS) -> Path:
    """Write an HTML report (or text if ``path`` ends in ``.txt``) atomically; return path."""
    path = Path(path)
    if path.suffix.lower() == ".txt":
        data = (text_report(journal) + "\n").encode("utf-8")
        atomic_write(path, lambda fh: _write_bytes(fh, data), overwrite=True)
    else:
        atomic_write(path, lambda fh: _write_html(fh, journal, max_thumbs), overwrite=True)
    return path


def _write_bytes(fh: IO[bytes], data: bytes) -> None:
    fh.write(data)


# ------------------------------------------------------------------------------- HTML

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } table { border-collapse: collapse; margin: 1em 0; }
td, th { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left;
         vertical-align: middle; }
th { background: #f4f4f4; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.done { color: #176f2c; } .failed { color: #b00020; font-weight: bold; }
.skipped { color: #8a6d00; } .pending, .running { color: #555; }
img { display: block; max-width: 160px; max-height: 160px; }
.error { color: #b00020; max-width: 40em; }
"""


def _write_html(fh: IO[bytes], journal: Journal, max_thumbs: int) -> None:
    def out(text: str) -> None:
        fh.write(text.encode("utf-8"))

    stats = collect_stats(journal)
    recipe = journal.recipe()
    title = f"Patina batch report: {journal.path.parent.name}"
    out(f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{_e(title)}</title>")
    out(f"<style>{_STYLE}</style></head><body>\n<h1>{_e(title)}</h1>\n")
    out(_summary_table(journal, stats, recipe.describe() if recipe else "(none)"))
    if stats.counts["failed"]:
        out("<h2>Failures</h2>\n<table><tr><th>File</th><th>Reason</th></tr>\n")
        for row in _limited(journal, "failed", MAX_FAILURES_SHOWN):
            out(f"<tr><td>{_e(row.rel)}</td><td class='error'>{_e(row.error or '')}</td></tr>\n")
        out("</table>\n")
    out("<h2>Files</h2>\n<table><tr><th>#</th><th>File</th><th>Status</th><th>Before</th>")
    out(
        "<th>After</th><th>Size</th><th class='num'>Seconds</th><th>Tile</th><th>Output</th></tr>\n"
    )
    for index, row in enumerate(journal.rows(), 1):
        thumbs = journal.thumbs(row.id) if index <= max_thumbs else (None, None)
        out(_file_row(index, row, thumbs))
    if stats.total > max_thumbs:
        out(f"<p>Thumbnails are shown for the first {max_thumbs} files.</p>\n")
    out(f"<p>Made by Patina on {time.strftime('%Y-%m-%d %H:%M:%S')}.</p></body></html>\n")


def _summary_table(journal: Journal, stats: Stats, recipe: str) -> str:
    c = stats.counts
    rows = [
        ("Input", journal.get_meta("input_root") or ""),
        ("Output", str(journal.path.parent)),
        ("Recipe", recipe),
        ("Files", str(stats.total)),
        ("Done", str(c["done"])),
        ("Failed", str(c["failed"])),
        ("Skipped", str(c["skipped"])),
        ("Not yet done", str(c["pending"] + c["running"])),
        ("Time per file", stats.per_file()),
    ]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>\n"


def _file_row(index: int, row: Row, thumbs: tuple[bytes | None, bytes | None]) -> str:
    size = f"{row.width}x{row.height}" if row.width else ""
    seconds = f"{row.seconds:.3f}" if row.seconds is not None and row.status == "done" else ""
    status = _e(row.status) + (f"<div class='error'>{_e(row.error)}</div>" if row.error else "")
    cells = [
        f"<td class='num'>{index}</td>",
        f"<td>{_e(row.rel)}</td>",
        f"<td class='{_e(row.status)}'>{status}</td>",
        f"<td>{_img(thumbs[0], 'before')}</td>",
        f"<td>{_img(thumbs[1], 'after')}</td>",
        f"<td>{size}</td>",
        f"<td class='num'>{seconds}</td>",
        f"<td>{row.tile or ''}</td>",
        f"<td>{_e(row.output) if row.status == 'done' else ''}</td>",
    ]
    return "<tr>" + "".join(cells) + "</tr>\n"


def _img(data: bytes | None, alt: str) -> str:
    if not data:
        return ""
    encoded = base64.b64encode(data).decode("ascii")
    return f"<img alt='{alt}' src='data:image/jpeg;base64,{encoded}'>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
