"""Run a plain function off the GUI thread and get its result back on it.

For quick one-off work that is not a restoration job (synthesising a degradation,
computing metrics on a big image). The callbacks run on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.workers.jobs import describe_error, format_details


class _Relay(QObject):
    done = Signal(object)
    error = Signal(str, str)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.fn = fn
        self.relay = relay

    def run(self) -> None:
        try:
            value = self.fn()
        except BaseException as err:  # noqa: BLE001 - reported to the window
            if shiboken6.isValid(self.relay):
                self.relay.error.emit(describe_error(err), format_details(err))
        else:
            if shiboken6.isValid(self.relay):  # the window may be gone by now
                self.relay.done.emit(value)


class Background(QObject):
    """A single-thread runner; ``pending()`` tells whether something is still running."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._relays: set[_Relay] = set()
        self._closed = False

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[str, str], None],
    ) -> None:
        """Call ``fn()`` on a worker thread; then ``on_done(value)`` or ``on_error(msg, det)``.

        Does nothing after :meth:`shutdown` (the window is closing).
        """
        if self._closed:
            return
        relay = _Relay(self)
        self._relays.add(relay)

        def finish() -> None:
            self._relays.discard(relay)
            relay.deleteLater()

        relay.done.connect(on_done)
        relay.error.connect(on_error)
        relay.done.connect(finish)
        relay.error.connect(finish)
        self._pool.start(_Task(fn, relay))

    def pending(self) -> bool:
        return bool(self._relays)

    def wait(self, timeout_ms: int = 30_000) -> bool:
        return self._pool.waitForDone(timeout_ms)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Refuse new work and wait for the running task; True when nothing runs."""
        self._closed = True
        return self.wait(timeout_ms)
