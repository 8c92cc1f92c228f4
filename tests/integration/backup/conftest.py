"""Fixtures for the backup tests: a source MinIO, a second MinIO standing in for Backblaze B2,
a throwaway GPG key pair (the private key stays in the test), and a runner for koprogo-backup."""

from __future__ import annotations

import json
import secrets

import pytest
from backup_helpers import OFFSITE_BUCKET, RCLONE, Backup, GpgKeys, readonly_user
from helpers.gpg import make_key, stop_agent
from helpers.minio_server import MinioServer


@pytest.fixture(scope="session")
def gpg_keys(tmp_path_factory) -> GpgKeys:
    home = tmp_path_factory.mktemp("gnupg-operator")
    fingerprint, public = make_key(home, "KoproGo backup test <backup-test@koprogo.invalid>")
    recipient = home.parent / "recipient.asc"
    recipient.write_text(public)
    yield GpgKeys(home, recipient, fingerprint)
    stop_agent(home)


@pytest.fixture
def source():
    server = MinioServer().start()
    yield server
    server.stop()


@pytest.fixture
def offsite():
    server = MinioServer().start()
    server.mc("mb", f"t/{OFFSITE_BUCKET}")
    yield server
    server.stop()


@pytest.fixture
def backup_setup(tmp_path, source, offsite, gpg_keys):
    access, secret = readonly_user(source)
    state = tmp_path / "state"
    config = {
        "source": {"endpoint": source.endpoint, "access_key": access, "secret_key": secret, "buckets": []},
        "offsite": {"endpoint": offsite.endpoint, "region": "us-east-1", "bucket": OFFSITE_BUCKET,
                    "prefix": "koprogo", "access_key": offsite.access_key, "secret_key": offsite.secret_key},
        "crypt": {"password": secrets.token_urlsafe(32), "password2": secrets.token_urlsafe(32)},
        "recipient_file": str(gpg_keys.recipient),
        "rclone": str(RCLONE),
        "state_dir": str(state),
        "manifest_dir": str(state / "manifests"),
        "retention_days": 30,
        "manifest_keep_days": 14,
        "textfile_dir": str(tmp_path / "textfile"),
        "log_file": str(tmp_path / "log" / "backup.log"),
        "lock_file": str(tmp_path / "backup.lock"),
        "transfers": 4,
        "checkers": 8,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return Backup(path, config, tmp_path)
