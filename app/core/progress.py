"""Progress reports and the driver for generator-based work.

Long operations in Patina (tiled restoration, batch steps) are generators that
``yield`` a :class:`Progress` after each unit of work (one tile) and ``return``
their result. The caller decides what to do between units: update a progress bar,
or stop. :func:`drive` runs such a generator to completion.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import NamedTuple, TypeVar

from app.core.errors import Cancelled

T = TypeVar("T")


class Progress(NamedTuple):
    """``done`` of ``total`` units finished; ``stage`` names the step (e.g. "inpaint")."""

    done: int
    total: int
    stage: str = ""

    @property
    def fraction(self) -> float:
        """Finished fraction in [0, 1] (1 when ``total`` is 0)."""
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


Work = Generator[Progress, None, T]


def drive(
    work: Generator[Progress, None, T],
    on_progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> T:
    """Run ``work`` to completion and return its result.

    ``on_progress`` is called with every report. ``should_cancel`` is polled before
    each unit; when it returns True the generator is closed and :class:`Cancelled`
    is raised, so work stops between tiles, never inside one.
    """
    try:
        while True:
            if should_cancel is not None and should_cancel():
                work.close()
                raise Cancelled()
            report = next(work)
            if on_progress is not None:
                on_progress(report)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def relabel(
    work: Generator[Progress, None, T], stage: str, offset: int = 0, total: int | None = None
) -> Generator[Progress, None, T]:
    """Re-emit ``work``'s reports under ``stage``, shifted by ``offset`` of a larger ``total``.

    Lets a pipeline of several tiled steps report one continuous progress count.
    Closing the returned generator closes ``work`` too.
    """
    try:
        while True:
            try:
                report = next(work)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            yield Progress(report.done + offset, report.total if total is None else total, stage)
    finally:
        work.close()
