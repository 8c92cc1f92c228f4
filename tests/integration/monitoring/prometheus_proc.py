"""Run the Debian Prometheus and node exporter binaries on 127.0.0.1 for the monitoring tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from helpers.minio_server import free_port, wait_http

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
# Upper bound on the lifetime of every process started here, even if pytest dies.
LIFETIME_SECONDS = 1800


def _start(argv: list[str], log: Path) -> subprocess.Popen:
    handle = open(log, "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(["timeout", "-s", "TERM", str(LIFETIME_SECONDS), *argv], stdout=handle,
                            stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_handle = handle
    return proc


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.log_handle.close()


class NodeExporter:
    """node exporter with only the filesystem and textfile collectors."""

    def __init__(self, workdir: Path, textfile_dir: Path):
        self.workdir = workdir
        self.textfile_dir = textfile_dir
        self.port = free_port()
        self.proc = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> NodeExporter:
        self.proc = _start([NODE_EXPORTER, f"--web.listen-address={self.address}", "--collector.disable-defaults",
                            "--collector.filesystem", "--collector.textfile",
                            f"--collector.textfile.directory={self.textfile_dir}"],
                           self.workdir / "node-exporter.log")
        wait_http(f"http://{self.address}/metrics")
        return self

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None


class Prometheus:
    """A Prometheus server with its own data directory, on a free loopback port."""

    def __init__(self, workdir: Path, config: Path):
        self.workdir = workdir
        self.config = config
        self.port = free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        data = self.workdir / "prometheus-data"
        data.mkdir(exist_ok=True)
        self.proc = _start([PROMETHEUS, f"--config.file={self.config}", f"--storage.tsdb.path={data}",
                            f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1d"],
                           self.workdir / "prometheus.log")
        wait_http(f"{self.url}/-/ready", timeout=120)
        return self

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def log_text(self) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def api(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as resp:  # noqa: S310
            doc = json.loads(resp.read())
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str) -> list:
        return self.api("query", query=expr)["result"]

    def targets(self) -> list:
        return self.api("targets", state="active")["activeTargets"]

    def wait_for(self, predicate, timeout: float = 180.0, interval: float = 1.0):
        """Poll predicate() until it returns a truthy value; return the last value (no timing assertion)."""
        deadline = time.monotonic() + timeout
        value = predicate()
        while not value and time.monotonic() < deadline:
            time.sleep(interval)
            value = predicate()
        return value
