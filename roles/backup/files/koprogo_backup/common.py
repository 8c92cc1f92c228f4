"""Exit codes, errors, logging, configuration and small file helpers shared by every command."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
from typing import Optional

EXIT_OK = 0
EXIT_ERROR = 1            # unexpected internal error, or terminated by a signal
EXIT_CONFIG = 2           # bad or missing configuration
EXIT_SOURCE = 3           # MinIO (source) unreachable or listing/reading failed
EXIT_OFFSITE = 4          # offsite target unreachable
EXIT_TRANSFER = 5         # objects not stored offsite, or counts disagree (nothing was deleted)
EXIT_MANIFEST = 6         # manifest could not be encrypted or uploaded
EXIT_PRUNE = 7            # backup complete, but pruning old blobs or manifests failed
EXIT_RESTORE_INCOMPLETE = 10  # restore: objects missing, corrupt or with other metadata
EXIT_LOCKED = 75          # another run holds the lock: nothing was done

DEFAULT_CONFIG = "/etc/koprogo-backup/config.json"
REQUIRED = ("source", "offsite", "crypt", "recipient_file", "state_dir")


class BackupError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


_LOG_HANDLE = None
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Control characters of odd keys as \\xNN, so one log line stays one line and readable."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def log(message: str) -> None:
    message = printable(message)
    line = f"{dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')} {message}"
    print(line, file=sys.stderr, flush=True)
    if _LOG_HANDLE is not None:
        _LOG_HANDLE.write(line + "\n")
        _LOG_HANDLE.flush()


def log_handle():
    return _LOG_HANDLE


def open_log(path: Optional[str]) -> None:
    global _LOG_HANDLE
    if path:
        os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
        _LOG_HANDLE = open(path, "a", encoding="utf-8")  # noqa: SIM115 - process lifetime


def load_config(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            cfg = json.load(handle)
    except (OSError, ValueError) as exc:
        raise BackupError(EXIT_CONFIG, f"cannot read config {path}: {exc}") from None
    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        raise BackupError(EXIT_CONFIG, f"config {path} lacks {', '.join(missing)}")
    cfg.setdefault("rclone", shutil.which("rclone") or "/usr/local/bin/rclone")
    cfg.setdefault("gpg", shutil.which("gpg") or "/usr/bin/gpg")
    cfg.setdefault("docker", shutil.which("docker") or "/usr/bin/docker")
    cfg.setdefault("retention_days", 30)
    cfg.setdefault("manifest_keep_days", 14)
    cfg.setdefault("manifest_dir", os.path.join(cfg["state_dir"], "manifests"))
    cfg.setdefault("staging_dir", os.path.join(cfg["state_dir"], "staging"))
    cfg.setdefault("staging_max_bytes", 256 * 1024 * 1024)
    cfg.setdefault("lock_file", "/run/lock/koprogo-backup.lock")
    cfg.setdefault("textfile_dir", "")
    cfg.setdefault("transfers", 4)
    cfg.setdefault("checkers", 8)
    cfg.setdefault("rclone_extra_args", [])
    cfg["offsite"].setdefault("prefix", "koprogo")
    cfg["offsite"].setdefault("provider", "Other")
    cfg["offsite"].setdefault("region", "us-east-1")
    cfg["source"].setdefault("buckets", [])
    cfg["source"].setdefault("region", "us-east-1")
    return cfg


def atomic_write(path: str, data: bytes, mode: int = 0o600) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_json(path: str, default):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return default
