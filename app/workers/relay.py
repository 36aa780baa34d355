"""Relay: the one way work on another thread hands a call back to the GUI thread.

Worker threads must not touch widgets or emit a GUI object's signals as if they were on
the GUI thread. Instead they ``post`` a call to a :class:`Relay` that lives on the GUI
thread; Qt queues it and the relay makes the call there, in the order it was posted.

Contract:

- Create the relay on the thread that should receive the calls (usually the GUI thread)
  or ``moveToThread`` it there; ``post`` may then be called from any thread.
- ``post(fn, *args)`` never blocks and never runs ``fn`` on the posting thread: ``fn(*args)``
  runs later on the relay's thread, from its event loop. Calls posted by one thread arrive
  in the order they were posted.
- Once the relay has been deleted (its parent went away), ``post`` drops the call; a call
  to a method of a Qt object deleted in the meantime is dropped too: a worker that
  outlives its window cannot crash it.
- ``flush()`` (relay's thread only) makes every call posted so far now, in order.

:class:`app.workers.pool.WorkerPool` uses one relay for all of its jobs, so code that runs
work through the pool does not need its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, Signal, Slot


class Relay(QObject):
    """Carries ``fn(*args)`` calls from any thread to the thread this object lives in."""

    _call = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._call.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` for the relay's thread (any thread may call this)."""
        if shiboken6.isValid(self):
            self._call.emit((fn, args))

    def flush(self) -> None:
        """Make every call posted so far, now (only on the relay's own thread)."""
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)

    @Slot(object)
    def _deliver(self, call: tuple[Callable[..., Any], tuple[Any, ...]]) -> None:
        fn, args = call
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, QObject) and not shiboken6.isValid(owner):
            return  # a method of a Qt object deleted since: like a signal, nobody listens
        fn(*args)
