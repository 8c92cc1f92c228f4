"""koprogo_backup.container: the source URL in compose mode, from `docker container inspect`
(mocked here; tests/integration/compose runs it against a real engine)."""

from __future__ import annotations

import json
import subprocess

import pytest
from koprogo_backup import container
from koprogo_backup.common import EXIT_CONFIG, EXIT_SOURCE, BackupError


def inspect_result(monkeypatch, *, rc=0, info=None, stderr=""):
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, rc, json.dumps([info]) if info else "[]", stderr)

    monkeypatch.setattr(container.subprocess, "run", fake_run)
    return calls


def info(running=True, status="running", networks=None):
    return {"State": {"Running": running, "Paused": False, "Restarting": False, "Status": status},
            "NetworkSettings": {"Networks": networks if networks is not None
                                else {"proj_koprogo-network": {"IPAddress": "10.201.3.7"}}}}


def cfg(name="kp-minio", network="proj_koprogo-network", endpoint="http://kp-minio:9000"):
    return {"docker": "/usr/bin/docker",
            "source": {"endpoint": endpoint, "container": name, "container_network": network}}


def test_no_container_keeps_the_endpoint(monkeypatch):
    calls = inspect_result(monkeypatch, info=info())
    assert container.source_endpoint(cfg(name="", endpoint="http://127.0.0.1:9000")) == "http://127.0.0.1:9000"
    assert calls == []


def test_the_host_becomes_the_current_address(monkeypatch):
    calls = inspect_result(monkeypatch, info=info())
    assert container.source_endpoint(cfg()) == "http://10.201.3.7:9000"
    # argv, the name after "--": never a shell, never read as an option
    assert calls == [["/usr/bin/docker", "container", "inspect", "--", "kp-minio"]]


def test_the_only_network_when_none_is_named(monkeypatch):
    inspect_result(monkeypatch, info=info())
    assert container.source_endpoint(cfg(network="")) == "http://10.201.3.7:9000"


@pytest.mark.parametrize(("kwargs", "code", "words"), [
    ({"info": info(running=False, status="exited")}, EXIT_SOURCE, "is not running (state: exited)"),
    ({"rc": 1, "stderr": "Error: No such container: kp-minio"}, EXIT_SOURCE, "No such container"),
    ({"info": info(networks={"other": {"IPAddress": "10.0.0.2"}})}, EXIT_SOURCE, "no address on the network"),
    ({"info": info(networks={"proj_koprogo-network": {"IPAddress": ""}})}, EXIT_SOURCE, "no address"),
])
def test_refusals(monkeypatch, kwargs, code, words):
    inspect_result(monkeypatch, **kwargs)
    with pytest.raises(BackupError) as failed:
        container.source_endpoint(cfg())
    assert failed.value.code == code
    assert words in str(failed.value)


def test_two_networks_and_none_named(monkeypatch):
    inspect_result(monkeypatch, info=info(networks={"a": {"IPAddress": "10.0.0.2"}, "b": {"IPAddress": "10.0.1.2"}}))
    with pytest.raises(BackupError) as failed:
        container.source_endpoint(cfg(network=""))
    assert failed.value.code == EXIT_CONFIG


def test_missing_docker_cli():
    with pytest.raises(BackupError) as failed:
        container.source_endpoint({**cfg(), "docker": "/nonexistent/docker"})
    assert failed.value.code == EXIT_CONFIG
