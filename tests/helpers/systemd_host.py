"""Throwaway Debian 12 systemd hosts (Docker containers) for role tests.

A thin Python face of ``tests/tools/systemd-host.sh``: the script builds the
image once (debootstrap + docker import, cached), starts the container with
options that work without ``--privileged`` and waits for systemd.

The container shares the host network. Every service a test converges into it
must bind 127.0.0.1 on a port no other test (or the host) uses: pass ports as
role variables, e.g. from ``free_port()``.

Example fixture for a role test suite::

    import pytest
    from helpers.ansible_run import run_playbook
    from helpers.systemd_host import SystemdHost, free_port

    @pytest.fixture(scope="module")
    def host(tmp_path_factory):
        h = SystemdHost("kp-test-backup").start()
        yield h
        h.stop()

    def test_converge(host, tmp_path):
        inventory = host.inventory(tmp_path / "hosts.yml", hostvars={"backup_port": free_port()})
        result = run_playbook(playbook, inventory=str(inventory), extra_vars={...})
        assert result.rc == 0, result.stdout
        assert host.exec(["systemctl", "is-active", "cron"]).stdout.strip() == "active"

Set KOPROGO_KEEP_HOSTS=1 to leave containers running after ``stop()`` for
debugging.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import yaml
from helpers.ports import free_port

__all__ = ["SystemdHost", "free_port"]  # free_port is re-exported for the role suites

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "tools" / "systemd-host.sh"


class SystemdHost:
    """One systemd container named ``name``; ``start()`` replaces any old one."""

    def __init__(self, name: str, docker_args: list[str] | tuple[str, ...] = ()):
        self.name = name
        self.docker_args = list(docker_args)

    def start(self) -> SystemdHost:
        subprocess.run(["bash", str(SCRIPT), "start", self.name, *self.docker_args], check=True,
                       stdout=subprocess.DEVNULL)
        return self

    def stop(self) -> None:
        if os.environ.get("KOPROGO_KEEP_HOSTS") == "1":
            return
        subprocess.run(["bash", str(SCRIPT), "stop", self.name], check=False)

    def exec(self, cmd: list[str] | str, *, check: bool = True, input: str | bytes | None = None,
             user: str | None = None, text: bool = True) -> subprocess.CompletedProcess:
        """Run a command inside the host (a string runs through ``bash -c``)."""
        argv = ["bash", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        docker = ["docker", "exec", "-i"]
        if user:
            docker += ["-u", user]
        if text and isinstance(input, bytes):
            input = input.decode()
        proc = subprocess.run([*docker, self.name, *argv], input=input, capture_output=True, text=text,
                              check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{shlex.join(argv)} failed in {self.name} (rc {proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def read_file(self, path: str) -> bytes:
        """A file's bytes, read inside the container."""
        return self.exec(["cat", path], text=False).stdout

    def stat(self, path: str) -> dict:
        """Mode (octal string), owner and group of a path inside the container."""
        out = self.exec(["stat", "-c", "%a %U %G", path]).stdout.split()
        return {"mode": out[0].zfill(4), "owner": out[1], "group": out[2]}

    def is_active(self, unit: str) -> bool:
        return self.exec(["systemctl", "is-active", unit], check=False).stdout.strip() == "active"

    def inventory(self, path: str | Path, *, group: str = "storage", hostvars: dict | None = None) -> Path:
        """Write a YAML inventory reaching this host through the community.docker.docker connection."""
        host = {
            "ansible_connection": "community.docker.docker",
            "ansible_host": self.name,
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        host.update(hostvars or {})
        doc = {"all": {"children": {group: {"hosts": {self.name: host}}}}}
        path = Path(path)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        path.chmod(0o600)
        return path

    def __enter__(self) -> SystemdHost:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
