"""Shared pieces of the backup tests (constants, a read-only MinIO user, the koprogo-backup runner)."""

from __future__ import annotations

import gzip
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from helpers.minio_server import MinioServer

ROOT = Path(__file__).resolve().parents[3]
PACKAGE_DIR = ROOT / "roles" / "backup" / "files"  # holds the koprogo_backup package
RCLONE = Path(sys.executable).parent / "rclone"
OFFSITE_BUCKET = "koprogo-offsite"

READONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"], "Resource": ["arn:aws:s3:::*"]},
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetObject",
                                       "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"],
         "Resource": ["arn:aws:s3:::*", "arn:aws:s3:::*/*"]},
    ],
}


@dataclass
class GpgKeys:
    home: Path          # the test's GNUPGHOME holding the private key
    recipient: Path     # exported public key (what the server gets)
    fingerprint: str

    def decrypt(self, path: Path, home: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["gpg", "--batch", "--homedir", str(home or self.home), "--decrypt", str(path)],
                              capture_output=True, check=False)

    def manifest(self, path: Path) -> dict:
        proc = self.decrypt(path)
        assert proc.returncode == 0, proc.stderr.decode()
        return json.loads(gzip.decompress(proc.stdout))


def readonly_user(server: MinioServer) -> tuple:
    """A read-only MinIO user for the backup, made with the SDK (secrets never on a command line)."""
    access, secret = "backup-ro-" + secrets.token_hex(3), secrets.token_urlsafe(24)
    admin = server.sdk()[1]
    admin.policy_add(policy_name="koprogo-backup-ro", policy=READONLY_POLICY)
    admin.user_add(access_key=access, secret_key=secret)
    admin.attach_policy(policies=["koprogo-backup-ro"], user=access)
    return access, secret


@dataclass
class Backup:
    config_path: Path
    config: dict
    tmp: Path

    def env(self, extra: dict | None = None) -> dict:
        full_env = dict(os.environ)
        full_env["PATH"] = f"{RCLONE.parent}:{full_env['PATH']}"
        full_env["PYTHONPATH"] = str(PACKAGE_DIR)
        full_env.update(extra or {})
        return full_env

    def argv(self, *args: str) -> list:
        return [sys.executable, "-m", "koprogo_backup", "--config", str(self.config_path), *args]

    def run(self, *args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env(env), timeout=timeout,
                              check=False)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env(), start_new_session=True)

    def save(self) -> None:
        self.config_path.write_text(json.dumps(self.config))

    def backup(self) -> dict:
        proc = self.run("run")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    @property
    def metrics(self) -> dict:
        path = Path(self.config["textfile_dir"]) / "koprogo_backup.prom"
        values = {}
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                name, value = line.split()
                values[name] = float(value)
        return values

    def manifests(self) -> list:
        return sorted(Path(self.config["manifest_dir"]).glob("manifest-*.json.gz.gpg"))
