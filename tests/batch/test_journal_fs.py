"""The journal on network file systems (no WAL there) and runs whose process was killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.batch import journal_fs
from app.batch.journal import STALE_AFTER, Journal

ROOT = Path(__file__).resolve().parents[2]


def fake_mounts(tmp_path: Path, lines: list[str]) -> Path:
    mounts = tmp_path / "mounts"
    mounts.write_text("".join(line + "\n" for line in lines))
    return mounts


@pytest.mark.parametrize(
    ("fstype", "network"),
    [("ext4", False), ("xfs", False), ("tmpfs", False), ("overlay", False), ("nfs", True),
     ("nfs4", True), ("cifs", True), ("smb3", True), ("ceph", True), ("fuse.sshfs", True),
     ("fuse.cephfs", True), ("9p", True), ("lustre", True), ("gpfs", True)],
)  # fmt: skip
def test_network_file_systems_get_a_rollback_journal(
    tmp_path: Path, fstype: str, network: bool
) -> None:
    share = tmp_path / "my share"  # /proc/mounts escapes the space as \040
    share.mkdir()
    escaped = str(share).replace(" ", "\\040")
    mounts = fake_mounts(tmp_path, [
        "/dev/sda1 / ext4 rw 0 0",
        f"/dev/sdc1 {escaped} ext4 rw 0 0",  # mounted over by the next line
        f"server:/export {escaped} {fstype} rw 0 0",
        f"/dev/sdb1 {share}-other ext4 rw 0 0",
    ])  # fmt: skip
    out = share / "out" / "patina-batch.sqlite"  # not created yet
    assert journal_fs.mount_fstype(out, mounts) == fstype
    assert journal_fs.mount_fstype(tmp_path, mounts) == "ext4"
    assert journal_fs.journal_mode(out, "auto", mounts) == ("delete" if network else "wal")
    assert journal_fs.journal_mode(out, "wal", mounts) == "wal"
    assert journal_fs.journal_mode(tmp_path, "delete", mounts) == "delete"


def test_no_mount_table_means_a_local_disk(tmp_path: Path) -> None:
    assert journal_fs.mount_fstype(tmp_path, tmp_path / "absent") is None
    assert journal_fs.journal_mode(tmp_path, "auto", tmp_path / "absent") == "wal"


def test_journal_on_nfs_uses_no_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mounts = fake_mounts(tmp_path, ["/dev/sda1 / ext4 rw 0 0", f"srv:/x {tmp_path} nfs4 rw 0 0"])
    monkeypatch.setattr(journal_fs, "MOUNTS", mounts)
    path = tmp_path / "j.sqlite"
    with Journal.open(path) as journal:
        assert journal.mode == "delete"
        assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert journal.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        journal.begin_run("local", 1, "cpu")
        assert not path.with_name(path.name + "-wal").exists()
    with Journal.open(path, mode="wal") as journal:  # forced
        assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Journal.open(path) as journal:  # a WAL journal moved onto NFS is switched back
        assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


KILLED_CHILD = """
import os, signal, sys
from pathlib import Path
from app.batch.journal import Journal
journal = Journal.open(Path(sys.argv[1]))
journal.begin_run("local", 1, "cpu")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_run_is_marked_killed_on_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    child = subprocess.run(
        [sys.executable, "-c", KILLED_CHILD, str(path)], cwd=ROOT, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    with Journal.read_only(path) as journal:  # reading changes nothing
        assert [r["outcome"] for r in journal.runs()] == ["running"]
    with Journal.open(path) as journal:
        (killed,) = journal.runs()
        assert killed["outcome"] == "killed" and killed["pid"] != os.getpid()
        assert killed["finished"] == killed["heartbeat"]
        journal.begin_run("local", 1, "cpu")  # our own run is alive: left running
        assert journal.close_dead_runs() == 0
        assert [r["outcome"] for r in journal.runs()] == ["killed", "running"]


def test_a_run_of_another_host_is_killed_when_its_heartbeat_is_stale(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal.open(path) as journal:
        old, fresh = journal.begin_run("ray", 2, "cpu"), journal.begin_run("ray", 2, "cpu")
        now = time.time()
        for run, beat in ((old, now - STALE_AFTER - 60), (fresh, now - 10)):
            journal.conn.execute(
                "UPDATE runs SET host = 'elsewhere', pid = 1, heartbeat = ? WHERE id = ?",
                (beat, run),
            )
        assert socket.gethostname() != "elsewhere"
    with Journal.open(path) as journal:
        assert [r["outcome"] for r in journal.runs()] == ["killed", "running"]


def test_heartbeats_are_throttled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        run = journal.begin_run("local", 1, "cpu")
        first = journal.runs()[0]["heartbeat"]
        journal.heartbeat(run)  # too soon: not written
        assert journal.runs()[0]["heartbeat"] == first
        monkeypatch.setattr(time, "time", lambda: first + 31.0)
        journal.heartbeat(run)
        assert journal.runs()[0]["heartbeat"] == first + 31.0
