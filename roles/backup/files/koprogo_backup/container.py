"""Compose mode: the source MinIO is a container on a Docker network. Its address changes whenever
Docker recreates or restarts it (reboot, redeploy, new image), so the configuration names the
container and each run asks the engine for the current address (`docker container inspect`,
argv only, no shell)."""

from __future__ import annotations

import json
import subprocess
import urllib.parse

from .common import EXIT_CONFIG, EXIT_SOURCE, BackupError, log


def source_endpoint(cfg: dict) -> str:
    """The MinIO URL for this run: `source.endpoint` as configured, or, when `source.container` names
    a container, that URL with its host replaced by the container's current address."""
    src = cfg["source"]
    name = src.get("container") or ""
    if not name:
        return src["endpoint"]
    network = src.get("container_network") or ""
    address, network = container_address(cfg.get("docker") or "docker", name, network)
    parts = urllib.parse.urlsplit(src["endpoint"])
    host = f"[{address}]" if ":" in address else address
    endpoint = urllib.parse.urlunsplit((parts.scheme or "http", f"{host}:{parts.port or 9000}", "", "", ""))
    log(f"MinIO container {name} is at {endpoint} on the network {network}")
    return endpoint


def container_address(docker: str, name: str, network: str) -> tuple:
    """(address, network) of a running container; a BackupError that says what is wrong otherwise."""
    try:
        proc = subprocess.run([docker, "container", "inspect", "--", name], capture_output=True, text=True,
                              timeout=60, check=False)
    except OSError as exc:
        raise BackupError(EXIT_CONFIG, f"cannot run {docker} to find the MinIO container {name}: {exc}") from None
    except subprocess.TimeoutExpired:
        raise BackupError(EXIT_SOURCE, f"the Docker engine did not answer within 60 s about the MinIO container "
                                       f"{name}; nothing was read, nothing deleted offsite") from None
    if proc.returncode != 0:
        raise BackupError(EXIT_SOURCE, f"cannot find the MinIO container {name} ({proc.stderr.strip()[-300:]}); "
                                       "nothing was read, nothing deleted offsite")
    try:
        info = json.loads(proc.stdout)[0]
        state, networks = info["State"], info["NetworkSettings"]["Networks"] or {}
    except (ValueError, LookupError, TypeError):
        raise BackupError(EXIT_SOURCE, f"docker container inspect {name} gave no container state") from None
    if not state.get("Running") or state.get("Paused") or state.get("Restarting"):
        raise BackupError(EXIT_SOURCE, f"the MinIO container {name} is not running (state: {state.get('Status')}): "
                                       f"start it (docker start {name}); nothing was read, nothing deleted offsite")
    if not network:
        if len(networks) != 1:
            raise BackupError(EXIT_CONFIG, f"the MinIO container {name} is on {len(networks)} networks "
                                           f"({', '.join(sorted(networks))}): name one (container_network)")
        network = next(iter(networks))
    entry = networks.get(network) or {}
    address = entry.get("IPAddress") or entry.get("GlobalIPv6Address") or ""
    if not address:
        raise BackupError(EXIT_SOURCE, f"the MinIO container {name} has no address on the network {network} "
                                       f"(it is on: {', '.join(sorted(networks)) or 'none'})")
    return address, network
