"""Command line: run, restore, list-manifests, fetch-manifest, rclone. Lock, metrics, exit codes."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import subprocess
import time
from typing import Optional

from .common import (
    DEFAULT_CONFIG,
    EXIT_ERROR,
    EXIT_LOCKED,
    EXIT_OK,
    BackupError,
    atomic_write,
    load_config,
    log,
    open_log,
)

METRIC_PREFIX = "koprogo_backup_"


def acquire_lock(path: str) -> Optional[int]:
    """flock on path; the descriptor is inherited by rclone children, so the lock outlives this
    process until every child has exited."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def write_metrics(cfg: dict, *, code: int, started: float, finished: float, objects: Optional[int],
                  size: Optional[int]) -> None:
    directory = cfg.get("textfile_dir")
    if not directory:
        return
    path = os.path.join(directory, "koprogo_backup.prom")
    previous = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(METRIC_PREFIX):
                    name, _sep, value = line.strip().partition(" ")
                    previous[name] = value
    except OSError:
        pass
    last_success = str(int(finished)) if code == EXIT_OK else previous.get(
        METRIC_PREFIX + "last_success_timestamp_seconds")
    metrics = [
        ("last_run_timestamp_seconds", "Unix time the last backup run finished.", str(int(finished))),
        ("last_exit_code", "Exit code of the last backup run (0 = success).", str(code)),
        ("duration_seconds", "Duration of the last backup run.", f"{finished - started:.3f}"),
    ]
    if last_success is not None:
        metrics.insert(0, ("last_success_timestamp_seconds", "Unix time of the last fully successful backup.",
                           last_success))
    for name, help_text, value in (("objects", "Objects in the backed-up buckets at the last run.", objects),
                                   ("bytes", "Bytes in the backed-up buckets at the last run.", size)):
        value = str(value) if value is not None else previous.get(METRIC_PREFIX + name)
        if value is not None:
            metrics.append((name, help_text, value))
    text = "".join(f"# HELP {METRIC_PREFIX}{n} {h}\n# TYPE {METRIC_PREFIX}{n} gauge\n{METRIC_PREFIX}{n} {v}\n"
                   for n, h, v in metrics)
    try:
        os.makedirs(directory, exist_ok=True)
        atomic_write(path, text.encode(), mode=0o644)
    except OSError as exc:
        log(f"WARNING cannot write metrics to {path}: {exc}")


def cmd_run(cfg: dict, args) -> int:
    from .run import Run

    lock = acquire_lock(cfg["lock_file"])
    if lock is None:
        log("another backup run holds the lock: nothing done")
        return EXIT_LOCKED
    started = time.time()
    objects = size = None
    code = EXIT_OK
    try:
        objects, size = Run(cfg, lock)()
        log(f"backup finished: {objects} object(s), {size} byte(s)")
    except BackupError as exc:
        code = exc.code
        log(f"ERROR {exc}")
    except Exception as exc:  # noqa: BLE001 - always record a failure metric
        code = EXIT_ERROR
        log(f"ERROR unexpected {type(exc).__name__}: {exc}")
    finished = time.time()
    write_metrics(cfg, code=code, started=started, finished=finished, objects=objects, size=size)
    print(json.dumps({"exit_code": code, "objects": objects, "bytes": size,
                      "duration_seconds": round(finished - started, 3)}), flush=True)
    return code


def cmd_restore(cfg: dict, args) -> int:
    from .restore import Restore

    return Restore(cfg, args)()


def cmd_list_manifests(cfg: dict, args) -> int:
    from .restore import list_manifests

    for name in list_manifests(cfg):
        print(name)
    return EXIT_OK


def cmd_fetch_manifest(cfg: dict, args) -> int:
    from .restore import fetch_manifest

    print(fetch_manifest(cfg, args.name, args.output))
    return EXIT_OK


def cmd_rclone(cfg: dict, args) -> int:
    from .rclone import Rclone

    rclone = Rclone(cfg)
    return subprocess.run(rclone.argv(*args.args), env=rclone.env, check=False).returncode


def _terminated(signum, frame):
    raise BackupError(EXIT_ERROR, f"terminated by signal {signum}; nothing was deleted offsite")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="koprogo-backup",
                                     description="Encrypted offsite backup and verified restore of MinIO buckets.")
    parser.add_argument("--config", default=os.environ.get("KOPROGO_BACKUP_CONFIG", DEFAULT_CONFIG))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="back up now")
    restore = sub.add_parser("restore", help="restore from offsite and verify against a decrypted manifest")
    restore.add_argument("--manifest", required=True, help="decrypted manifest (JSON or gzipped JSON)")
    restore.add_argument("--bucket", action="append", default=[], help="bucket to restore (repeatable; default all)")
    restore.add_argument("--prefix", default="", help="only keys starting with this prefix")
    restore.add_argument("--target-bucket", default="", help="restore into this (scratch) bucket instead")
    restore.add_argument("--overwrite", action="store_true", help="also replace objects newer than the backup")
    restore.add_argument("--drop-target-when-verified", action="store_true",
                         help="remove the --target-bucket (every version) once every object verified (a drill)")
    restore.add_argument("--report", default="", help="write the JSON report here too")
    restore.add_argument("--credentials-file", default="",
                         help="JSON {access_key, secret_key} of a MinIO user that may write the target "
                              "(default: $KOPROGO_RESTORE_ACCESS_KEY/SECRET_KEY, else the backup user)")
    sub.add_parser("list-manifests", help="list encrypted manifests stored offsite")
    fetch = sub.add_parser("fetch-manifest", help="download an encrypted manifest")
    fetch.add_argument("name", help="manifest file name or 'latest'")
    fetch.add_argument("output")
    passthrough = sub.add_parser("rclone", help="rclone with the configured remotes offsite: and vault:")
    passthrough.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "drop_target_when_verified", False) and not args.target_bucket:
        parser().error("--drop-target-when-verified needs --target-bucket")
    os.umask(0o077)
    signal.signal(signal.SIGTERM, _terminated)
    try:
        cfg = load_config(args.config)
        if args.command in ("run", "restore"):
            open_log(cfg.get("log_file"))
        handler = {"run": cmd_run, "restore": cmd_restore, "list-manifests": cmd_list_manifests,
                   "fetch-manifest": cmd_fetch_manifest, "rclone": cmd_rclone}[args.command]
        return handler(cfg, args)
    except BackupError as exc:
        log(f"ERROR {exc}")
        return exc.code
