"""site.yml's pre-flight: bad input for any enabled role fails before the first change.

A fresh Debian 12 systemd container (never converged) gets playbooks/site.yml with every role
enabled (LUKS, backup and monitoring included) and one bad value at a time, each for a role that
runs late in the play. The run must fail in the pre-flight with a message naming the variable,
report no change, and leave the host's files exactly as they were (path, size, mode, owner and
mtime of every file outside the kernel's and Ansible's scratch trees).
"""

from __future__ import annotations

import secrets

import pytest
from helpers.ansible_run import ROOT, run_playbook
from helpers.edge_stack import CONSOLE_HOST, MINIO_BIN, S3_HOST, TRAEFIK_BIN, sha256
from helpers.gpg import make_key, stop_agent
from helpers.systemd_host import SystemdHost

SITE = ROOT / "playbooks" / "site.yml"
# Everything that holds state, minus what changes by itself or belongs to the connection.
SNAPSHOT = (
    "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp "
    "-o -path /root/.ansible -o -path /var/log/journal -o -path /var/cache/ldconfig \\) -prune "
    "-o -printf '%p %s %m %u %g %T@\\n' | LC_ALL=C sort | sha256sum"
)


@pytest.fixture(scope="module")
def host():
    h = SystemdHost(f"kp-test-preflight-{secrets.token_hex(2)}").start()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def site(host, tmp_path_factory, gpg_public_key):
    work = tmp_path_factory.mktemp("preflight")
    keyfile = work / "data.key"
    keyfile.write_bytes(secrets.token_bytes(64))
    keyfile.chmod(0o600)
    good = {
        "koprogo_storage_luks_enabled": True,
        "koprogo_storage_backup_enabled": True,
        "koprogo_storage_monitoring_enabled": True,
        "luks_volume_name": "koprogo-data",
        "luks_volume_device": "/dev/disk/by-id/virtio-absent",
        "luks_volume_keyfile_src": str(keyfile),
        "luks_volume_header_backup_dir": str(work / "headers"),
        "minio_server_root_user": "root-" + secrets.token_hex(4),
        "minio_server_root_password": secrets.token_urlsafe(24),
        "minio_server_install_source": "local",
        "minio_server_local_file": str(MINIO_BIN.resolve()),
        "minio_server_sha256": sha256(MINIO_BIN.resolve()),
        "minio_server_api_port": 29500,
        "minio_server_console_port": 29501,
        "minio_server_browser_redirect_url": f"https://{CONSOLE_HOST}:29443",
        "minio_config_backend_access_key": "kpbackend" + secrets.token_hex(4),
        "minio_config_backend_secret_key": secrets.token_urlsafe(27),
        "traefik_install_source": "local",
        "traefik_local_file": str(TRAEFIK_BIN),
        "traefik_binary_sha256": sha256(TRAEFIK_BIN),
        "traefik_listen_address": "127.0.0.1",
        "traefik_http_port": 29080,
        "traefik_https_port": 29443,
        "traefik_tls_mode": "selfsigned",
        "traefik_console_host": CONSOLE_HOST,
        "traefik_s3_host": S3_HOST,
        "traefik_console_password": secrets.token_urlsafe(18),
        "backend_env_s3_endpoint": f"https://{S3_HOST}:29443",
        "backup_source_access_key": "koprogo-backup",
        "backup_source_secret_key": secrets.token_urlsafe(30),
        "backup_offsite_endpoint": "http://127.0.0.1:29900",
        "backup_offsite_region": "us-east-1",
        "backup_offsite_bucket": "koprogo-offsite",
        "backup_offsite_access_key": "koprogo-offsite",
        "backup_offsite_secret_key": secrets.token_urlsafe(30),
        "backup_crypt_password": secrets.token_urlsafe(30),
        "backup_crypt_password2": secrets.token_urlsafe(30),
        "backup_gpg_recipient_key": gpg_public_key,
        "monitoring_minio_prometheus_secret_key": secrets.token_urlsafe(30),
        "monitoring_install_prometheus": True,
    }
    return {"inventory": str(host.inventory(work / "hosts.yml")), "good": good}


@pytest.fixture(scope="module")
def gpg_public_key(tmp_path_factory) -> str:
    home = tmp_path_factory.mktemp("gnupg-preflight")
    public = make_key(home, "Pre-flight test <preflight@koprogo.invalid>")[1]
    stop_agent(home)
    return public


@pytest.fixture(scope="module")
def pristine(host):
    # Ansible's own remote scratch directory, made now so that its creation does not touch /root
    host.exec("mkdir -p -m 0700 /root/.ansible/tmp")
    return host.exec(SNAPSHOT).stdout


# (bad input, what the output must name): each for a role that runs after MinIO started. Checks
# that involve secrets run under no_log: their task name shows, never the message.
CASES = {
    "empty console password": ({"traefik_console_password": ""}, "Check the console password"),
    "API port out of range": ({"minio_server_api_port": 70000}, "minio_server_api_port"),
    "server URL without a scheme": ({"minio_server_server_url": "console.koprogo.test"}, "minio_server_server_url"),
    "malformed backend endpoint": ({"backend_env_s3_endpoint": "https://s3.koprogo.test:99999/x"},
                                   "Check the S3 settings"),
    "monitoring scheme outside its choices": ({"monitoring_minio_scheme": "ftp"}, "monitoring_minio_scheme"),
    "monitoring port that is no port": ({"monitoring_prometheus_listen_address": "127.0.0.1:99999"},
                                        "monitoring_prometheus_listen_address"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_before_any_change(host, site, pristine, case):
    bad, variable = CASES[case]
    result = run_playbook(SITE, inventory=site["inventory"], extra_vars={**site["good"], **bad})
    output = result.stdout + result.stderr
    assert result.rc != 0, output[-3000:]
    assert result.changed == 0, output[-3000:]
    failed = [name for name, task in result.tasks.items() if task.get("failed")]
    assert failed and all("Pre-flight" in name or "Validat" in name or "Check" in name for name in failed), failed
    assert variable in output, output[-3000:]
    for value in (site["good"]["minio_server_root_password"], site["good"]["backup_crypt_password2"]):
        assert value not in output
    assert host.exec(SNAPSHOT).stdout == pristine, f"{case}: the host changed"
