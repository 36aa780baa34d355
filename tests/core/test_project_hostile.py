"""Hostile ``.patina`` files (tests/core/hostile_projects.py) end in an ImageIOError with
a one-line message naming the file, or open with sane values: never another exception,
never a huge allocation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.hostile_projects import PROJECT_CASES, ProjectCase, run_project


@pytest.mark.parametrize("case", PROJECT_CASES, ids=lambda c: c.id)
def test_hostile_project(case: ProjectCase, tmp_path: Path) -> None:
    message, problem = run_project(case, tmp_path)
    assert problem is None, f"{problem}: {message}"
