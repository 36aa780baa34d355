"""Print the bad-file corpus tables of docs/bad_files.md (markdown, on stdout).

Runs the very cases of ``tests/e2e/test_bad_files.py`` and ``tests/core/
test_project_hostile.py`` (the corpus lives in tests/e2e/bad_files_corpus.py,
tests/e2e/hostile_files.py and tests/core/hostile_projects.py), in-process, each in a
fresh temporary folder, and writes what each ended in. Cases that need root (the tmpfs
mounts) say "skipped" elsewhere. A case that broke a promise is marked **BROKEN**.

    OMP_NUM_THREADS=1 QT_QPA_PLATFORM=offscreen .venv/bin/python tools/docs/bad_file_table.py
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.core.hostile_projects import PROJECT_CASES, run_project  # noqa: E402
from tests.e2e.bad_files_corpus import CASES, NotPossibleHere, Run  # noqa: E402
from tests.e2e.bad_files_corpus import run_batch as batch  # noqa: E402
from tests.e2e.bad_files_corpus import run_restore as restore  # noqa: E402
from tests.e2e.hostile_files import MODEL_CASES, RECIPE_CASES, run_model, run_recipe  # noqa: E402


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def in_tmp(run: Callable[[Path], Run]) -> str:
    """``run(folder)`` in a fresh temporary folder, as one table cell."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        try:
            return cell(run(folder).summary(folder))
        except NotPossibleHere as err:
            return cell(f"skipped: {err}")


def image_table() -> list[str]:
    rows = ["| case | `patina restore` | `patina batch` |", "|---|---|---|"]
    for case in CASES:
        done = in_tmp(lambda f, c=case: restore(c, f))  # type: ignore[misc]
        batched = in_tmp(lambda f, c=case: batch(c, f))  # type: ignore[misc]
        rows.append(f"| {case.label} (`{case.name}`) | {done} | {batched} |")
    return rows


def model_table() -> list[str]:
    rows = ["| model file | `patina restore --method bad` | `patina batch --method bad` |",
            "|---|---|---|"]  # fmt: skip
    for case in MODEL_CASES:
        done = in_tmp(lambda f, c=case: run_model(c, f, "restore"))  # type: ignore[misc]
        batched = in_tmp(lambda f, c=case: run_model(c, f, "batch"))  # type: ignore[misc]
        rows.append(f"| {case.label} | {done} | {batched} |")
    return rows


def recipe_table() -> list[str]:
    rows = ["| recipe | used by | result |", "|---|---|---|"]
    for case in RECIPE_CASES:
        where = "`restore --recipe`" if case.kind == "sidecar" else "`batch --recipe`"
        result = in_tmp(lambda f, c=case: run_recipe(c, f))  # type: ignore[misc]
        rows.append(f"| {cell(case.label)} | {where} | {result} |")
    return rows


def project_table() -> list[str]:
    rows = ["| project (`.patina`) | `load_project` (the window's File > Open) |", "|---|---|"]
    for case in PROJECT_CASES:
        with tempfile.TemporaryDirectory() as name:
            message, problem = run_project(case, Path(name))
        text = message.replace(f"{name}/", "")
        result = f"**BROKEN** ({problem}) {text}" if problem else text
        rows.append(f"| {case.label} | {cell(result)} |")
    return rows


def main() -> None:
    for title, table in (
        ("Images and output folders", image_table),
        ("Model files", model_table),
        ("Recipes", recipe_table),
        ("Projects", project_table),
    ):
        print(f"### {title}\n")
        print("\n".join(table()))
        print()


if __name__ == "__main__":
    main()
