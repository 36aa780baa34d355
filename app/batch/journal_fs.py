"""Where the batch journal lives: the file system's kind, the SQLite journal mode, locks.

SQLite's WAL mode keeps its index in shared memory beside the database, which every
process using it must share: it is unsafe on network file systems (NFS, SMB/CIFS, CephFS,
FUSE mounts, 9p, Lustre, GPFS; see https://www.sqlite.org/wal.html). The journal uses WAL
on local disks (faster, readers never block the writer) and a rollback journal
(``journal_mode=DELETE``, ``synchronous=FULL``, POSIX locks) on those, found from the
``fstype`` of the longest mount point above the journal in ``/proc/mounts``. ``mode``
forces one (``wal`` or ``delete``) where the detection is wrong or unavailable.

The lock file ``<journal>.lock`` (created with O_EXCL, which NFS v3+ honours) holds the
pid and host of the process running the batch.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from app.core.errors import InvalidInputError

MOUNTS = Path("/proc/mounts")
MODES = ("auto", "wal", "delete")
NETWORK_FS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "9p", "lustre", "gpfs", "glusterfs",
     "afs", "beegfs", "ocfs2", "gfs2", "virtiofs"}
)  # fmt: skip


def mount_fstype(path: Path, mounts: Path | None = None) -> str | None:
    """The fstype of the mount holding ``path`` (its longest mount point), or None when
    ``/proc/mounts`` cannot be read (not Linux)."""
    try:
        lines = (mounts or MOUNTS).read_text().splitlines()
    except OSError:
        return None
    target = _existing(path)
    best, kind = -1, None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        if _under(target, point) and len(point) >= best:  # the last mount on a point wins
            best, kind = len(point), fields[2]
    return kind


def is_network_fs(fstype: str | None) -> bool:
    """Whether ``fstype`` (from /proc/mounts) is a network or FUSE file system."""
    return fstype is not None and (fstype in NETWORK_FS or fstype.startswith("fuse"))


def journal_mode(path: Path, mode: str = "auto", mounts: Path | None = None) -> str:
    """``wal`` or ``delete``: what ``mode`` (``auto``, ``wal``, ``delete``) means for a
    journal at ``path`` (``auto``: ``delete`` on a network file system, else ``wal``)."""
    if mode not in MODES:
        raise ValueError(f"journal mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    return "delete" if is_network_fs(mount_fstype(path, mounts)) else "wal"


def _existing(path: Path) -> str:
    """``path`` resolved, or its nearest existing parent (the journal may not exist yet)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path.parent != path:
        path = path.parent
    return str(path.resolve())


def _under(path: str, point: str) -> bool:
    return point == "/" or path == point or path.startswith(point.rstrip("/") + "/")


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def process_alive(pid: int | None, host: str | None) -> bool:
    """Whether process ``pid`` on ``host`` still runs; True for another host (unknown)."""
    if host != socket.gethostname():
        return True
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------------- locking


def take_lock(path: Path) -> Path:
    """Create ``<journal>.lock`` holding our pid; a stale lock (dead pid) is taken over."""
    lock = path.with_name(path.name + ".lock")
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if lock_alive(lock):
                raise InvalidInputError(
                    f"another Patina batch is running in {path.parent} (lock {lock.name}); "
                    "wait for it, or delete the lock file if that process is gone"
                ) from None
            lock.unlink(missing_ok=True)
            continue
        except OSError as err:  # a read-only or full folder, no permission
            raise InvalidInputError(
                f"cannot create the batch journal in {path.parent}: {err.strerror or err}"
            ) from err
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()} {socket.gethostname()}\n")
        return lock
    raise InvalidInputError(f"cannot lock the batch journal {path}")


def lock_alive(lock: Path) -> bool:
    try:
        pid_text, host = lock.read_text().split()[:2]
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    return process_alive(pid, host)


def release_lock(lock: Path | None) -> None:
    if lock is not None:
        lock.unlink(missing_ok=True)
