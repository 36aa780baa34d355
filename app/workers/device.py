"""Find the compute device's name without blocking the GUI thread.

Importing torch takes seconds and is not safe on a second thread while the GUI thread
may import it too, so the probe runs ``describe_device`` in a child process (QProcess)
once per application and caches the answer.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

_PROBE = "from app.ml.loading import describe_device; print(describe_device('auto'))"
_cached: str | None = None


def device_name() -> str:
    """Name of the device learned models use ("GPU: …" or "CPU (n threads)"); imports torch."""
    from app.ml.loading import describe_device

    try:
        return describe_device("auto")
    except Exception:  # a broken driver must not stop the window
        return "CPU"


class DeviceProbe(QObject):
    """Emits ``found(name)`` once the device is known; never blocks the event loop."""

    found = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None

    def start(self) -> None:
        """Start probing (answers at once, queued, when an earlier probe already knows)."""
        if _cached is not None:
            QTimer.singleShot(0, self, lambda: self.found.emit(_cached))
            return
        self._process = QProcess(self)
        self._process.finished.connect(self._done)
        self._process.start(sys.executable, ["-c", _PROBE])

    def stop(self, wait_ms: int = 2000) -> None:
        """End a probe still running (window shutdown): its answer is no longer wanted."""
        process, self._process = self._process, None
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            process.finished.disconnect(self._done)
            process.kill()
            process.waitForFinished(wait_ms)

    def _done(self) -> None:
        global _cached
        if self._process is None:
            return
        output = bytes(self._process.readAllStandardOutput().data()).decode().strip()
        ok = self._process.exitCode() == 0 and output
        _cached = output.splitlines()[-1] if ok else "CPU"
        self.found.emit(_cached)
