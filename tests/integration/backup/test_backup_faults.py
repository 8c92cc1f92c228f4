"""Killing a run (SIGKILL of the program, SIGKILL of its rclone, SIGTERM of the whole group as
`systemctl stop` sends it) leaves no process behind, never frees the lock while rclone still runs,
and the next run completes the backup."""

from __future__ import annotations

import fcntl
import os
import signal
from pathlib import Path

from test_backup_script import offsite_keys, put, wait_until


def session_processes(sid: int) -> dict:
    """pid -> command line of every live process in session sid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
    return found


def rclone_pids(sid: int) -> list:
    return [pid for pid, cmd in session_processes(sid).items() if "rclone" in cmd and " copy " in cmd]


def lock_is_free(path: str) -> bool:
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def wait_gone(sid: int, limit: int = 600) -> None:
    import time

    for _attempt in range(limit):
        if not session_processes(sid):
            return
        time.sleep(0.05)
    raise AssertionError(f"left behind: {session_processes(sid)}")


def start_slow_run(backup_setup, offsite, before: int):
    runner = backup_setup.popen("run")
    wait_until(lambda: rclone_pids(runner.pid) and len(offsite_keys(offsite)) > before + 3, runner)
    return runner


def test_killed_runs_leave_nothing_behind_and_the_next_run_completes(backup_setup, source, offsite):
    source.boto3().create_bucket(Bucket="docs")
    for i in range(200):
        put(source, "docs", f"bulk/{i:04d}.bin", os.urandom(4096))
    lock = backup_setup.config["lock_file"]
    # a slow transfer (one object at a time, bandwidth-limited) so each fault hits a running rclone
    backup_setup.config.update(transfers=1, rclone_extra_args=["--bwlimit", "16k"])
    backup_setup.save()
    staging = Path(backup_setup.config["state_dir"]) / "staging"

    # 1. SIGKILL of rclone: the run fails cleanly (exit 5) and deletes nothing
    runner = start_slow_run(backup_setup, offsite, 0)
    os.kill(rclone_pids(runner.pid)[0], signal.SIGKILL)
    out, err = runner.communicate(timeout=600)
    assert runner.returncode == 5, err
    wait_gone(runner.pid)
    assert lock_is_free(lock)
    assert backup_setup.metrics["koprogo_backup_last_exit_code"] == 5

    # 2. SIGTERM of the whole group (what stopping the systemd unit does): exit 1, nothing left
    runner = start_slow_run(backup_setup, offsite, len(offsite_keys(offsite)))
    os.killpg(runner.pid, signal.SIGTERM)
    out, err = runner.communicate(timeout=600)
    assert runner.returncode == 1 and "terminated by signal 15" in err, err
    wait_gone(runner.pid)
    assert lock_is_free(lock)

    # 3. SIGKILL of the program alone: its rclone holds the lock while it lives, then dies with it
    runner = start_slow_run(backup_setup, offsite, len(offsite_keys(offsite)))
    child = rclone_pids(runner.pid)[0]
    held = {os.path.realpath(f"/proc/{child}/fd/{fd}") for fd in os.listdir(f"/proc/{child}/fd")}
    assert os.path.realpath(lock) in held
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    # an orphaned rclone would go on uploading until every blob is offsite (within this wait)
    wait_gone(runner.pid, limit=2400)
    assert len([k for k in offsite_keys(offsite) if "/manifests/" not in k]) < 200
    assert lock_is_free(lock)
    assert backup_setup.manifests() == []  # no run got to its manifest

    # the next run completes: every object, no leftovers of the killed runs
    backup_setup.config.update(transfers=4, rclone_extra_args=[])
    backup_setup.save()
    result = backup_setup.backup()
    assert result["objects"] == 200
    assert list(staging.iterdir()) == []
