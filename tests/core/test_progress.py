"""Tests for app.core.progress: Progress, drive, relabel."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from app.core.errors import Cancelled
from app.core.progress import Progress, drive, relabel


class Counter:
    """A unit-of-work generator factory that records what ran and whether it was closed."""

    def __init__(self, units: int, stage: str = "work") -> None:
        self.units = units
        self.stage = stage
        self.ran = 0
        self.closed = False

    def work(self) -> Generator[Progress, None, str]:
        try:
            for i in range(self.units):
                self.ran += 1
                yield Progress(i + 1, self.units, self.stage)
            return f"result of {self.units}"
        finally:
            self.closed = True


def test_fraction() -> None:
    assert Progress(1, 4).fraction == 0.25
    assert Progress(0, 0).fraction == 1.0
    assert Progress(5, 4).fraction == 1.0


def test_drive_returns_value_and_reports_progress() -> None:
    counter = Counter(3)
    reports: list[Progress] = []
    assert drive(counter.work(), reports.append) == "result of 3"
    assert reports == [Progress(1, 3, "work"), Progress(2, 3, "work"), Progress(3, 3, "work")]


def test_drive_without_callbacks() -> None:
    assert drive(Counter(2).work()) == "result of 2"


def test_cancel_between_units_closes_the_generator() -> None:
    counter = Counter(10)
    reports: list[Progress] = []
    with pytest.raises(Cancelled):
        drive(counter.work(), reports.append, should_cancel=lambda: len(reports) >= 2)
    assert counter.ran == 2
    assert counter.closed
    assert len(reports) == 2


def test_cancel_before_first_unit() -> None:
    counter = Counter(3)
    with pytest.raises(Cancelled):
        drive(counter.work(), should_cancel=lambda: True)
    assert counter.ran == 0


def test_relabel_offsets_and_returns_value() -> None:
    first, second = Counter(2, "a"), Counter(3, "b")
    reports: list[Progress] = []

    def pipeline() -> Generator[Progress, None, tuple[str, str]]:
        r1 = yield from relabel(first.work(), "step 1", offset=0, total=5)
        r2 = yield from relabel(second.work(), "step 2", offset=2, total=5)
        return r1, r2

    assert drive(pipeline(), reports.append) == ("result of 2", "result of 3")
    assert [(r.done, r.total, r.stage) for r in reports] == [
        (1, 5, "step 1"),
        (2, 5, "step 1"),
        (3, 5, "step 2"),
        (4, 5, "step 2"),
        (5, 5, "step 2"),
    ]


def test_relabel_keeps_total_when_not_given() -> None:
    reports = list(relabel(Counter(2).work(), "s", offset=10))
    assert reports == [Progress(11, 2, "s"), Progress(12, 2, "s")]


def test_closing_relabel_closes_inner_work() -> None:
    counter = Counter(5)
    outer = relabel(counter.work(), "s")
    next(outer)
    outer.close()
    assert counter.closed
    assert counter.ran == 1


def test_cancel_through_relabel_closes_inner_work() -> None:
    counter = Counter(5)
    reports: list[Progress] = []
    with pytest.raises(Cancelled):
        drive(relabel(counter.work(), "s"), reports.append, lambda: len(reports) == 3)
    assert counter.ran == 3 and counter.closed
