"""Background work for the window: a job pool over QThreadPool (QtCore only).

Use :class:`WorkerPool` to run :class:`Job` s; results come back as :class:`JobResult`
on the GUI thread. See :mod:`app.workers.pool` for the signal contract.
"""

from app.workers.device import DeviceProbe, device_name
from app.workers.jobs import Job, JobResult, describe_error
from app.workers.pool import WorkerPool, default_resolve_device, is_gpu

__all__ = [
    "DeviceProbe",
    "Job",
    "JobResult",
    "WorkerPool",
    "default_resolve_device",
    "describe_error",
    "device_name",
    "is_gpu",
]
