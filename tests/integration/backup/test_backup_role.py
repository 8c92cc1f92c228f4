"""The backup role, backup_now.yml and restore.yml on a Debian 12 systemd container (real cron, real
systemd), against a source MinIO and a second MinIO standing in for B2, both on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path

import pytest
from backup_helpers import OFFSITE_BUCKET, RCLONE, readonly_user
from helpers.ansible_run import run_playbook
from helpers.edge_stack import RECAP
from helpers.minio_server import MinioServer
from test_backup_fidelity import BUCKET as HARD
from test_backup_fidelity import seed_hard, snapshot

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOKS = ROOT / "playbooks"

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the Docker engine")


@pytest.fixture(scope="module")
def host():
    from helpers.systemd_host import SystemdHost

    container = SystemdHost(f"kp-test-backup-{secrets.token_hex(2)}").start()
    yield container
    container.stop()


@pytest.fixture(scope="module")
def servers():
    source, offsite = MinioServer().start(), MinioServer().start()
    offsite.mc("mb", f"t/{OFFSITE_BUCKET}")
    yield source, offsite
    source.stop()
    offsite.stop()


@pytest.fixture(scope="module")
def role_vars(servers, gpg_keys):
    source, offsite = servers
    access, secret = readonly_user(source)
    return {
        "backup_rclone_source": "local",
        "backup_rclone_local_path": str(RCLONE),
        "backup_rclone_sha256": hashlib.sha256(RCLONE.read_bytes()).hexdigest(),
        "backup_rclone_version": "1.75.2",
        "backup_manage_packages": False,  # the test image has gnupg and cron; nothing leaves the machine
        # no backup_source_endpoint: it must follow minio_server's (non-default) port
        "minio_server_api_port": source.port,
        "backup_source_access_key": access,
        "backup_source_secret_key": secret,
        "backup_offsite_endpoint": offsite.endpoint,
        "backup_offsite_region": "us-east-1",
        "backup_offsite_bucket": OFFSITE_BUCKET,
        "backup_offsite_access_key": offsite.access_key,
        "backup_offsite_secret_key": offsite.secret_key,
        "backup_crypt_password": secrets.token_urlsafe(30),
        "backup_crypt_password2": secrets.token_urlsafe(30),
        "backup_gpg_recipient_key": gpg_keys.recipient.read_text(),
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory, host):
    tmp = tmp_path_factory.mktemp("backup-role")
    inventory = host.inventory(tmp / "hosts.yml")
    playbook = tmp / "converge.yml"
    # as site.yml does: minio_config's venv (the minio SDK) first, then the backup role
    playbook.write_text("""- name: Converge the backup role
  hosts: storage
  gather_facts: false
  tasks:
    - name: The minio SDK venv of minio_config
      ansible.builtin.include_role:
        name: koprogo.storage.minio_config
        tasks_from: venv.yml
    - name: The backup role
      ansible.builtin.include_role:
        name: koprogo.storage.backup
""")
    return {"inventory": str(inventory), "converge": playbook, "tmp": tmp}


@pytest.fixture(scope="module")
def converged(site, role_vars):
    """The role applied once with the default settings (cron schedule)."""
    result = converge(site, role_vars)
    assert result.rc == 0, result.stdout[-3000:]
    return result


def converge(site, role_vars, **kwargs):
    extra = dict(role_vars)
    extra.update(kwargs.pop("extra", {}))
    return run_playbook(site["converge"], inventory=site["inventory"], extra_vars=extra, **kwargs)


def test_converge_idempotent_and_check_mode(site, role_vars, host, converged):
    assert converged.changed > 0
    # The no-change run is also the -vvv run that must not show a secret (one converge, two checks).
    second = converge(site, role_vars, verbosity=3, json_output=False)
    recap = [(int(m.group(3)), int(m.group(5))) for m in RECAP.finditer(second.stdout)]
    assert second.rc == 0 and recap == [(0, 0)], second.stdout[-3000:]
    text = second.stdout + second.stderr
    for name in ("backup_crypt_password", "backup_crypt_password2", "backup_offsite_secret_key",
                 "backup_source_secret_key"):
        assert role_vars[name] not in text, name
    check = converge(site, role_vars, check=True, diff=True)
    assert check.rc == 0 and check.changed == 0, check.stdout[-3000:]

    assert host.stat("/etc/koprogo-backup/config.json") == {"mode": "0600", "owner": "root", "group": "root"}
    assert host.stat("/etc/koprogo-backup")["mode"] == "0700"
    assert host.exec(["/usr/local/bin/rclone", "version"]).stdout.startswith("rclone v1.75.2")
    assert b"PUBLIC KEY" in host.read_file("/etc/koprogo-backup/recipient.asc")
    assert b"/var/log/koprogo-backup/backup.log" in host.read_file("/etc/logrotate.d/koprogo-backup")
    config = json.loads(host.read_file("/etc/koprogo-backup/config.json"))
    assert config["source"]["endpoint"] == f"http://127.0.0.1:{role_vars['minio_server_api_port']}"
    assert host.exec(["/usr/local/sbin/koprogo-backup", "--help"]).returncode == 0


def test_crontab_entry_schedule_and_time_zone(host, converged):
    cron = host.read_file("/etc/cron.d/koprogo-backup").decode()
    lines = [line.replace('"', "") for line in cron.splitlines() if line and not line.startswith("#")]
    assert lines == ["CRON_TZ=UTC",  # the variable precedes the job, in the job's own file
                     "0 3 * * * root /opt/koprogo-storage/venv/bin/python /usr/local/sbin/koprogo-backup run"
                     " >/dev/null 2>&1"]
    assert host.is_active("cron")


def test_bad_input_is_refused_before_any_change(site, role_vars, host):
    bad = {"backup_offsite_endpoint": "https://s3.eu-central-003.backblazeb2.com",
           "backup_offsite_access_key": "0123456789ab", "backup_state_dir": "/var/lib/koprogo-backup-bad"}
    result = converge(site, role_vars, extra=bad, json_output=False)
    assert result.rc != 0 and "master keyID" in result.stdout
    private = {"backup_gpg_recipient_key": "-----BEGIN PGP PRIVATE KEY BLOCK-----\nxx\n",
               "backup_state_dir": "/var/lib/koprogo-backup-bad"}
    result = converge(site, role_vars, extra=private, json_output=False)
    assert result.rc != 0 and "PUBLIC key" in result.stdout
    weak = {"backup_crypt_password": "short", "backup_state_dir": "/var/lib/koprogo-backup-bad"}
    result = converge(site, role_vars, extra=weak, json_output=False)
    assert result.rc != 0 and "at least 20 characters" in result.stdout
    assert host.exec(["test", "-e", "/var/lib/koprogo-backup-bad"], check=False).returncode != 0


def test_backup_now_restore_round_trip(site, servers, host, gpg_keys, converged):
    source, offsite = servers
    s3 = source.boto3()
    s3.create_bucket(Bucket="koprogo-documents")
    bodies = {f"b-{i % 4}/doc-{i:03d}.pdf": os.urandom(500 + i * 7) for i in range(40)}
    for key, body in bodies.items():
        s3.put_object(Bucket="koprogo-documents", Key=key, Body=body)

    hard, _refused = seed_hard(source)
    hard_before = snapshot(source, HARD, hard)

    now = run_playbook(PLAYBOOKS / "backup_now.yml", inventory=site["inventory"], json_output=True)
    assert now.rc == 0, now.stdout[-3000:]
    result = now.tasks["Read the result"]["ansible_facts"]["backup_now_result"]
    assert result["exit_code"] == 0 and result["objects"] == 40 + len(hard)
    total = 40 + len(hard)
    metrics = host.read_file("/var/lib/prometheus/node-exporter/koprogo_backup.prom").decode()
    assert "koprogo_backup_last_exit_code 0" in metrics and f"koprogo_backup_objects {total}" in metrics

    # the server holds no GPG secret key anywhere, and no throwaway GNUPGHOME is left behind
    assert host.exec("find / -xdev -path '*private-keys-v1.d/*' -type f 2>/dev/null",
                     check=False).stdout.strip() == ""
    assert host.exec("gpg --batch --list-secret-keys 2>/dev/null", check=False).stdout.strip() == ""
    assert host.exec("ls -d /tmp/koprogo-backup-gnupg-* 2>/dev/null", check=False).stdout.strip() == ""

    # wipe the bucket, then restore in place: the latest manifest is fetched from offsite and
    # decrypted on the controller with the test's private key
    source.mc("rm", "--recursive", "--force", "t/koprogo-documents")
    for key in hard:
        s3.delete_object(Bucket=HARD, Key=key)
    restore_vars = {"backup_restore_access_key": source.access_key, "backup_restore_secret_key": source.secret_key,
                    "backup_restore_gnupghome": str(gpg_keys.home)}
    restored = run_playbook(PLAYBOOKS / "restore.yml", inventory=site["inventory"], extra_vars=restore_vars)
    assert restored.rc == 0, restored.stdout[-3000:]
    report = restored.tasks["Keep the restore report"]["ansible_facts"]["backup_restore_report"]
    assert report["missing"] == [] and report["corrupt"] == [] and report["metadata_mismatch"] == []
    assert report["verified"] == total
    for key, body in bodies.items():
        assert s3.get_object(Bucket="koprogo-documents", Key=key)["Body"].read() == body
    assert snapshot(source, HARD, hard) == hard_before  # bytes, Content-*, metadata and tags
    # nothing decrypted is left on the server
    assert host.exec("ls -d /tmp/koprogo-restore-* 2>/dev/null", check=False).stdout.strip() == ""

    # restore drill into a scratch bucket, one prefix only
    drill = dict(restore_vars, backup_restore_target_bucket="restore-drill", backup_restore_prefix="b-1/",
                 backup_restore_buckets=["koprogo-documents"])
    restored = run_playbook(PLAYBOOKS / "restore.yml", inventory=site["inventory"], extra_vars=drill)
    assert restored.rc == 0, restored.stdout[-3000:]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="restore-drill").get("Contents", []))
    assert keys == sorted(k for k in bodies if k.startswith("b-1/"))


def test_systemd_timer_schedule(site, role_vars, host, servers):
    result = converge(site, role_vars, extra={"backup_schedule": "systemd"})
    assert result.rc == 0, result.stdout[-3000:]
    assert host.is_active("koprogo-backup.timer")
    assert host.exec(["test", "-e", "/etc/cron.d/koprogo-backup"], check=False).returncode != 0
    timer = host.exec(["systemctl", "show", "koprogo-backup.timer", "-p", "TimersCalendar"]).stdout
    assert "03:00:00 UTC" in timer
    again = converge(site, role_vars, extra={"backup_schedule": "systemd"})
    assert again.rc == 0 and again.changed == 0

    # stopping the unit in the middle of a transfer leaves no process behind
    # a slow transfer: edit the installed config in place (the next converge puts it back)
    host.exec(["python3", "-c", "import json; p = '/etc/koprogo-backup/config.json'; c = json.load(open(p)); "
               "c.update(transfers=1, rclone_extra_args=['--bwlimit=20k']); json.dump(c, open(p, 'w'))"])
    source, _offsite = servers
    source.boto3().create_bucket(Bucket="unit-stop")
    for i in range(60):
        source.boto3().put_object(Bucket="unit-stop", Key=f"f-{i:03d}", Body=os.urandom(8192))
    host.exec(["systemctl", "start", "--no-block", "koprogo-backup.service"])
    host.exec("for i in $(seq 600); do pgrep -f '[r]clone.* copy ' >/dev/null && exit 0; sleep 0.1; done; exit 1")
    host.exec(["systemctl", "stop", "koprogo-backup.service"])
    left = [line for line in host.exec(["ps", "-eo", "args"]).stdout.splitlines()
            if "rclone" in line or "koprogo-backup" in line]
    assert left == []
    assert host.exec(["flock", "-n", "/run/lock/koprogo-backup.lock", "true"], check=False).returncode == 0
    back = converge(site, role_vars)
    assert back.rc == 0, back.stdout[-3000:]
    assert not host.is_active("koprogo-backup.timer")
    assert 'CRON_TZ="UTC"' in host.read_file("/etc/cron.d/koprogo-backup").decode()
