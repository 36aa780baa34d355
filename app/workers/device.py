"""Find the compute device's name without blocking the GUI thread (importing torch is slow)."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal


def device_name() -> str:
    """Name of the device learned models will use ("GPU: …" or "CPU (n threads)")."""
    from app.ml.loading import describe_device

    try:
        return describe_device("auto")
    except Exception:  # a broken driver must not stop the window
        return "CPU"


class DeviceProbe(QObject):
    """Emits ``found(name)`` on its own thread's event loop once the device is known."""

    found = Signal(str)

    def start(self) -> threading.Thread:
        """Probe on a daemon thread; the signal is queued back to this object's thread."""
        thread = threading.Thread(target=lambda: self.found.emit(device_name()), daemon=True)
        thread.start()
        return thread
