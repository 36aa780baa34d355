"""Collect Python's cyclic garbage on the GUI thread only.

Python runs its cyclic garbage collector in whichever thread happens to allocate, so a
worker thread can end up destroying a Qt widget that sat in a reference cycle. Qt
objects must die on the thread that owns them (a widget destroyed elsewhere leaves its
timers registered and the application crashes later). The guard turns automatic
collection off and collects from a timer on the GUI thread instead.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class MainThreadGarbageCollector(QObject):
    """While alive, cyclic garbage is collected every ``interval_ms`` on this thread."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 1000) -> None:
        super().__init__(parent)
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect)
        self._timer.start(interval_ms)

    def collect(self) -> None:
        """Run the collector now (generation by generation, as the interpreter would)."""
        gen0, gen1, _ = gc.get_threshold()
        count0, count1, count2 = gc.get_count()
        if count2 > 10:
            gc.collect(2)
        elif count1 > gen1:
            gc.collect(1)
        elif count0 > gen0:
            gc.collect(0)
