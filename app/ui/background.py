"""Run a plain function off the GUI thread and get its result back on it.

For quick one-off work that is not a restoration job (synthesising a degradation,
computing metrics on a big image). The callbacks run on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
            self.relay.error.emit(describe_error(err), format_details(err))
        else:
            self.relay.done.emit(value)


class Background(QObject):
    """A single-thread runner; ``pending()`` tells whether something is still running."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._relays: set[_Relay] = set()

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[str, str], None],
    ) -> None:
        """Call ``fn()`` on a worker thread; then ``on_done(value)`` or ``on_error(msg, det)``."""
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
