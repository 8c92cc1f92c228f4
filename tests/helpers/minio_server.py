"""Start and stop a real MinIO server (built from source by tests/tools/build-minio.sh) on 127.0.0.1."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from helpers.ports import free_port  # also imported from here by the module suites

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("KOPROGO_CACHE", ROOT / ".cache"))
MINIO_BIN = CACHE / "bin" / "minio"
MC_BIN = CACHE / "bin" / "mc"


def wait_http(url: str, timeout: float = 60.0, expect: int = 200) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
                if resp.status == expect:
                    return
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer {expect} within {timeout}s: {last}")


@dataclass
class MinioServer:
    """One MinIO process with its own drives, root credentials and mc config."""

    drives: int = 1
    kms: bool = False
    env: dict = field(default_factory=dict)
    access_key: str = field(default_factory=lambda: "root-" + secrets.token_hex(4))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port: int = 0
    console_port: int = 0
    workdir: Path | None = None
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connection(self) -> dict:
        """Module options for koprogo.storage.minio_* modules."""
        return {"endpoint": self.endpoint, "access_key": self.access_key, "secret_key": self.secret_key}

    def start(self) -> MinioServer:
        if not MINIO_BIN.exists():
            raise RuntimeError(f"{MINIO_BIN} is missing: run `make minio` first")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="koprogo-minio-"))
        self.port = self.port or free_port()
        self.console_port = self.console_port or free_port()
        env = dict(os.environ)
        env.update(
            MINIO_ROOT_USER=self.access_key,
            MINIO_ROOT_PASSWORD=self.secret_key,
            MINIO_CALLHOME_ENABLE="off",
            MINIO_UPDATE="off",
            MINIO_BROWSER="off",
            MINIO_CI_CD="1",
        )
        if self.kms:
            key = base64.b64encode(secrets.token_bytes(32)).decode()
            env["MINIO_KMS_SECRET_KEY"] = f"koprogo-test-key:{key}"
        env.update(self.env)
        if self.drives == 1:
            volumes = [str(self.workdir / "data")]
        else:
            for i in range(1, self.drives + 1):
                (self.workdir / f"data{i}").mkdir(exist_ok=True)
            volumes = [str(self.workdir / f"data{{1...{self.drives}}}")]
        self._log = open(self.workdir / "minio.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(MINIO_BIN), "server", "--quiet", "--address", f"127.0.0.1:{self.port}",
             "--console-address", f"127.0.0.1:{self.console_port}", *volumes],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_http(f"{self.endpoint}/minio/health/live")
            wait_http(f"{self.endpoint}/minio/health/cluster")
        except TimeoutError:
            self.stop()
            raise
        return self

    def log_text(self) -> str:
        return (self.workdir / "minio.log").read_text(errors="replace") if self.workdir else ""

    def stop(self, keep_data: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
        if self.workdir and not keep_data:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def restart(self) -> None:
        """Stop and start again on the same port and drives, keeping the data."""
        self.stop(keep_data=True)
        self.start()

    # --- independent clients used to check what the modules did -------------

    def mc_env(self, alias: str = "t") -> dict:
        env = dict(os.environ)
        env[f"MC_HOST_{alias}"] = f"http://{self.access_key}:{self.secret_key}@127.0.0.1:{self.port}"
        env["MC_CONFIG_DIR"] = str(self.workdir / "mc")
        env["MC_DISABLE_PAGER"] = "1"
        return env

    def mc(self, *args: str, check: bool = True, alias: str = "t") -> subprocess.CompletedProcess:
        """Run mc with credentials passed through the environment, never argv."""
        return subprocess.run([str(MC_BIN), "--no-color", *args], env=self.mc_env(alias), check=check,
                              capture_output=True, text=True, timeout=120)

    def boto3(self, access_key: str | None = None, secret_key: str | None = None):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def sdk(self):
        from minio import Minio
        from minio.credentials import StaticProvider
        from minio.minioadmin import MinioAdmin

        host = f"127.0.0.1:{self.port}"
        return (Minio(endpoint=host, access_key=self.access_key, secret_key=self.secret_key, secure=False),
                MinioAdmin(endpoint=host, credentials=StaticProvider(self.access_key, self.secret_key), secure=False))
