"""Background work for the window: a job pool over QThreadPool (QtCore only).

Use :class:`WorkerPool` to run :class:`Job` s (restoration services) and
:class:`FunctionJob` s (plain functions: helpers, a batch); results come back on the GUI
thread. One GPU job runs at a time in the whole process (:data:`GPU_GATE`). Code that
needs its own way back to the GUI thread uses :class:`Relay`. See :mod:`app.workers.pool`
for the signal contract.
"""

from app.workers.device import DeviceProbe, device_name
from app.workers.execute import is_gpu
from app.workers.function_job import FunctionJob, JobContext, device_of
from app.workers.gpu_gate import GPU_GATE, GpuGate
from app.workers.jobs import Job, JobResult, describe_error
from app.workers.pool import WorkerPool, default_resolve_device
from app.workers.relay import Relay

__all__ = [
    "GPU_GATE",
    "DeviceProbe",
    "FunctionJob",
    "GpuGate",
    "Job",
    "JobContext",
    "JobResult",
    "Relay",
    "WorkerPool",
    "default_resolve_device",
    "describe_error",
    "device_name",
    "device_of",
    "is_gpu",
]
