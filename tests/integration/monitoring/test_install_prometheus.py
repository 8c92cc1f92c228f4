"""monitoring_install_prometheus: true on a throwaway Debian 12 systemd container.

The container gets the role's Debian packages from a local flat apt repository
(tests/tools/monitoring-debs.sh) instead of the network. The role installs
Prometheus, node exporter and python3-jwt, binds both daemons to loopback, and
the Prometheus it installed scrapes the real MinIO (host network) with the token.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
import yaml
from helpers.ansible_run import ROOT, run_playbook
from helpers.systemd_host import SystemdHost, free_port

DEFAULTS = yaml.safe_load((ROOT / "roles" / "monitoring" / "defaults" / "main.yml").read_text())
PROM_USER = "koprogo-prom-inst"
SECRET = "Prom-install-secret-0123456789"
REPO_IN_HOST = "/opt/koprogo-debs"
# node exporter in the container sees its own mounts: /tmp is a tmpfs there.
MOUNTPOINT = "/tmp"


@pytest.fixture(scope="module")
def host():
    repo = subprocess.run(["bash", str(ROOT / "tests" / "tools" / "monitoring-debs.sh")], check=True,
                          capture_output=True, text=True).stdout.strip()
    h = SystemdHost(f"kp-test-monitoring-{secrets.token_hex(2)}").start()
    try:
        subprocess.run(["docker", "cp", f"{repo}/.", f"{h.name}:{REPO_IN_HOST}"], check=True)
        # Only the local repository: nothing is fetched from the network inside the test.
        h.exec("mkdir -p /etc/apt/disabled && (mv /etc/apt/sources.list /etc/apt/disabled/ 2>/dev/null || true) && "
               "(mv /etc/apt/sources.list.d/* /etc/apt/disabled/ 2>/dev/null || true) && "
               f"echo 'deb [trusted=yes] file:{REPO_IN_HOST} ./' > /etc/apt/sources.list.d/koprogo-local.list && "
               "apt-get update -q")
        yield h
    finally:
        h.stop()


@pytest.fixture(scope="module")
def converge(host, minio, tmp_path_factory):
    base = tmp_path_factory.mktemp("monitoring-install")
    prom_port, node_port = free_port(), free_port()
    playbook = base / "site.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Monitoring with Prometheus from Debian packages",
        "hosts": "storage",
        "gather_facts": False,
        "roles": [{"role": "koprogo.storage.monitoring"}],
    }], sort_keys=False))
    inventory = host.inventory(base / "hosts.yml")
    extra = {
        "monitoring_install_prometheus": True,
        "monitoring_minio_run_on": "controller",
        # no monitoring_minio_endpoint or _targets: the admin calls and the scrape follow minio_server's port
        "minio_server_api_port": minio.port,
        "monitoring_minio_admin_access_key": minio.access_key,
        "monitoring_minio_admin_secret_key": minio.secret_key,
        "monitoring_minio_prometheus_user": PROM_USER,
        "monitoring_minio_prometheus_secret_key": SECRET,
        "monitoring_prometheus_listen_address": f"127.0.0.1:{prom_port}",
        "monitoring_node_exporter_listen_address": f"127.0.0.1:{node_port}",
        "monitoring_data_mountpoint": MOUNTPOINT,
        "monitoring_scrape_interval": "2s",
        "monitoring_scrape_timeout": "2s",
    }

    def apply(check=False):
        return run_playbook(playbook, inventory=str(inventory), check=check, diff=check, extra_vars=extra)

    return {"apply": apply, "prom": f"http://127.0.0.1:{prom_port}", "node_port": node_port,
            "prom_port": prom_port, "check": apply(check=True), "first": apply()}


def api(url: str, path: str, **params) -> dict:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}/api/v1/{path}?{query}", timeout=20) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())["data"]


def wait_for(predicate, timeout=180.0):
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(1)
        value = predicate()
    return value


def test_check_mode_on_a_fresh_host(converge):
    check = converge["check"]
    assert check.rc == 0, check.stdout[-4000:] + check.stderr[-2000:]
    assert check.changed > 0


def test_converge_installs_and_is_idempotent(host, converge):
    first = converge["first"]
    assert first.rc == 0, first.stdout[-4000:] + first.stderr[-2000:]
    for package in ("prometheus", "prometheus-node-exporter", "python3-jwt"):
        assert host.exec(["dpkg-query", "-W", "-f", "${Status}", package]).stdout == "install ok installed"
    assert host.is_active("prometheus") and host.is_active("prometheus-node-exporter")
    again = converge["apply"]()
    assert again.rc == 0, again.stdout[-4000:]
    assert again.changed == 0, {n: r for n, r in again.tasks.items() if r.get("changed")}


def test_daemons_listen_on_loopback_only(host, converge):
    listening = host.exec(["ss", "-Hltnp"]).stdout
    lines = [line for line in listening.splitlines() if "prometheus" in line]
    assert any(f"127.0.0.1:{converge['prom_port']}" in line for line in lines), listening
    assert any(f"127.0.0.1:{converge['node_port']}" in line for line in lines), listening
    assert all(" 127.0.0.1:" in line for line in lines), lines


def test_token_file_belongs_to_prometheus(host, converge):
    # The standalone defaults (with a Prometheus container they are /etc/koprogo-storage/prometheus and 65534).
    assert host.stat("/etc/prometheus/koprogo-minio.token") == {
        "mode": "0600", "owner": "prometheus", "group": "prometheus"}


def test_installed_prometheus_scrapes_minio_and_node_exporter(host, converge):
    jobs = {DEFAULTS["monitoring_job_minio_cluster"], DEFAULTS["monitoring_job_minio_node"],
            DEFAULTS["monitoring_job_node_exporter"]}

    def all_up():
        targets = api(converge["prom"], "targets", state="active")["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        return health if all(health.get(job) == "up" for job in jobs) else None

    health = wait_for(all_up)
    assert health, api(converge["prom"], "targets", state="active")
    rules = [r for g in api(converge["prom"], "rules")["groups"] for r in g["rules"] if r["type"] == "alerting"]
    assert len(rules) == 8


def test_backup_textfile_reaches_prometheus(host, converge):
    textfile_dir = "/var/lib/prometheus/node-exporter"  # Debian's, the standalone default
    now = int(time.time())
    host.exec(f"printf 'koprogo_backup_last_success_timestamp_seconds {now}\\nkoprogo_backup_last_exit_code 0\\n'"
              f" > {textfile_dir}/.koprogo_backup.prom.tmp && mv {textfile_dir}/.koprogo_backup.prom.tmp"
              f" {textfile_dir}/koprogo_backup.prom")

    def seen():
        result = api(converge["prom"], "query", query="koprogo_backup_last_success_timestamp_seconds")["result"]
        return result if result and int(float(result[0]["value"][1])) == now else None

    assert wait_for(seen)
    mounted = api(converge["prom"], "query", query=f'node_filesystem_size_bytes{{mountpoint="{MOUNTPOINT}"}}')
    assert mounted["result"]
