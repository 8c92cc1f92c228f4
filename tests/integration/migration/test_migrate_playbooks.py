"""playbooks/migrate.yml and migrate_rollback.yml: the collection's MinIO -> a MinIO standing in for
Scaleway (region fr-par, bucket made beforehand, a backend key limited to its prefix), a write made by
the backend while it stops (between the copy and the delta), the switch of the backend's env on a
systemd host, writes on the new storage, then the rollback. Every object compared with boto3."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from pathlib import Path

import pytest
from helpers.ansible_run import run_playbook
from helpers.systemd_host import SystemdHost
from migration_helpers import document_set, regional_clients, snapshot, upload_tree, versions

ROOT = Path(__file__).resolve().parents[3]
ENV_PATH = "/etc/koprogo/backend-storage.env"
SERVICE = "koprogo-backend-stub"


@pytest.fixture(scope="module")
def host():
    h = SystemdHost(f"kp-test-migrate-{secrets.token_hex(2)}").start()
    yield h
    h.stop()


def backend_user(admin, name, bucket, prefix):
    """A least-privilege key like the backend's: objects under <bucket>/<prefix>/, listing the bucket."""
    arn = f"arn:aws:s3:::{bucket}"
    prefix = prefix.rstrip("/*")  # "*" gives the whole bucket
    objects = f"{arn}/{prefix}/*" if prefix else f"{arn}/*"
    admin.policy_add(name, policy={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": [objects]},
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": [arn]}]})
    secret = secrets.token_urlsafe(18)
    admin.user_add(name, secret)
    admin.policy_set(name, user=name)
    return name, secret


def env_lines(host) -> dict:
    text = host.read_file(ENV_PATH).decode()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def stub_backend(host, put_url: str) -> None:
    """A stand-in backend unit whose stop finishes one upload (PUT through a presigned URL): a write
    that lands at the source between the copy and the delta sync."""
    script = ("import urllib.request\n"
              f"req = urllib.request.Request({json.dumps(put_url)}, data=b'uploaded while stopping', method='PUT')\n"
              "urllib.request.urlopen(req, timeout=20).read()\n")
    host.exec(["bash", "-c", "cat > /usr/local/bin/stub-stop.py"], input=script)
    unit = ("[Service]\nExecStart=/bin/sleep infinity\nExecStop=/usr/bin/python3 /usr/local/bin/stub-stop.py\n"
            "[Install]\nWantedBy=multi-user.target\n")
    host.exec(["bash", "-c", f"cat > /etc/systemd/system/{SERVICE}.service"], input=unit)
    host.exec(["systemctl", "daemon-reload"])
    host.exec(["systemctl", "start", SERVICE])


def run(host, tmp_path, playbook, extra_vars):
    inventory = host.inventory(tmp_path / "hosts.yml")
    common = {"migrate_sync_host": "localhost", "migrate_sync_become": False, "backend_env_path": ENV_PATH,
              "backend_env_require_mountpoint": "", "backend_env_upload_dir": "/srv/uploads"}
    return run_playbook(ROOT / "playbooks" / playbook, inventory=str(inventory), extra_vars={**common, **extra_vars})


def test_minio_to_external_s3_then_rollback(host, tmp_path, minio, scaleway, unique_name):
    bucket = unique_name
    src_sdk, src_admin = minio.sdk()
    dst_admin = scaleway.sdk()[1]
    dst_sdk, dst_boto = regional_clients(scaleway, "fr-par")
    src_sdk.make_bucket(bucket)
    keys = document_set(src_sdk, bucket, "documents/")
    dst_sdk.make_bucket(bucket)  # providers often refuse bucket creation to application keys
    old_key, old_secret = backend_user(src_admin, f"{bucket}-old", bucket, "documents")
    new_key, new_secret = backend_user(dst_admin, f"{bucket}-new", bucket, "documents")
    from datetime import timedelta
    stub_backend(host, src_sdk.presigned_put_object(bucket, "documents/b-0/at-shutdown.pdf", timedelta(hours=1)))

    source = {**minio.connection, "bucket": bucket, "prefix": "documents"}
    target = {**scaleway.connection, "bucket": bucket, "prefix": "documents", "region": "fr-par",
              "addressing_style": "path"}
    new_backend = {"endpoint": scaleway.endpoint, "bucket": bucket, "region": "fr-par", "access_key": new_key,
                   "secret_key": new_secret, "force_path_style": True, "key_prefix": "documents",
                   "env_extra": {"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required"}}
    old_backend = {"endpoint": minio.endpoint, "bucket": bucket, "region": "us-east-1", "access_key": old_key,
                   "secret_key": old_secret, "force_path_style": True, "key_prefix": "documents"}
    source_versions = versions(minio.boto3(), bucket)

    # bad input first: a prefix change would break every stored key; nothing may change
    refused = run(host, tmp_path, "migrate.yml", {
        "migrate_source": source, "migrate_target": {**target, "prefix": "docs"}, "migrate_backend": new_backend,
        "migrate_backend_service": SERVICE})
    refused_task = refused.tasks["Check the migration settings"]
    assert refused.rc != 0 and "'documents' -> 'docs' would break every stored reference" in refused_task["msg"]
    assert new_secret not in refused.stdout and minio.secret_key not in refused.stdout
    assert list(dst_sdk.list_objects(bucket, recursive=True)) == []
    assert host.is_active(SERVICE)

    result = run(host, tmp_path, "migrate.yml", {"migrate_source": source, "migrate_target": target,
                                                 "migrate_backend": new_backend, "migrate_backend_service": SERVICE})
    assert result.rc == 0, result.stdout[-4000:]
    copy, delta = result["Copy every object and verify it"], result["Delta sync (writes made since the copy), verified"]
    assert copy["copied"] == len(keys) and copy["verified"] == len(keys)
    assert delta["copied_keys"] == ["documents/b-0/at-shutdown.pdf"], delta
    assert delta["verified"] == len(keys) + 1 and delta["missing"] == [] and delta["mismatched"] == []
    report = result["Report"]["msg"]
    assert report["smoke_test"] == {"new storage": "PUT, GET, DELETE ok"}
    env = env_lines(host)
    assert env["S3_ENDPOINT"] == scaleway.endpoint and env["S3_REGION"] == "fr-par"
    assert env["S3_ACCESS_KEY"] == new_key and env["S3_KEY_PREFIX"] == "documents" and env["S3_BUCKET"] == bucket
    assert env["AWS_REQUEST_CHECKSUM_CALCULATION"] == "when_required"
    assert host.is_active(SERVICE)
    src_view = snapshot(minio.boto3(), bucket, "documents/")
    assert snapshot(dst_boto, bucket, "documents/") == src_view  # no probe left, nothing lost
    assert len(src_view) == len(keys) + 1
    # the source only gained the backend's own last write
    assert set(source_versions) <= set(versions(minio.boto3(), bucket))

    # the backend writes on the new storage, with its new key
    data = b"written after the switch"
    import boto3
    from botocore.config import Config
    backend = boto3.client("s3", endpoint_url=scaleway.endpoint, region_name="fr-par", aws_access_key_id=new_key,
                           aws_secret_access_key=new_secret, config=Config(s3={"addressing_style": "path"}))
    backend.put_object(Bucket=bucket, Key="documents/b-1/after-switch.pdf", Body=data)
    host.exec(["bash", "-c", "echo pass > /usr/local/bin/stub-stop.py"])  # no upload in flight this time
    target_before = snapshot(dst_boto, bucket, "documents/")

    back = run(host, tmp_path, "migrate_rollback.yml", {"migrate_source": source, "migrate_target": target,
                                                        "migrate_backend_previous": old_backend,
                                                        "migrate_backend_service": SERVICE})
    assert back.rc == 0, back.stdout[-4000:]
    synced = back["Copy back the writes made on the new storage, verified"]
    assert synced["copied_keys"] == ["documents/b-1/after-switch.pdf"]
    assert synced["verified"] == len(keys) + 2 and synced["mismatched"] == []
    assert back["Report"]["msg"]["smoke_test"]["previous storage"] == "PUT, GET, DELETE ok"
    env = env_lines(host)
    assert env["S3_ENDPOINT"] == minio.endpoint and env["S3_ACCESS_KEY"] == old_key
    assert env["S3_REGION"] == "us-east-1" and "AWS_REQUEST_CHECKSUM_CALCULATION" not in env
    got = minio.boto3().get_object(Bucket=bucket, Key="documents/b-1/after-switch.pdf")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert snapshot(minio.boto3(), bucket, "documents/") == snapshot(dst_boto, bucket, "documents/")
    # the new storage was only read
    assert snapshot(dst_boto, bucket, "documents/") == target_before
    assert new_secret not in back.stdout + result.stdout and old_secret not in back.stdout


def test_local_uploads_to_minio_through_migrate(host, tmp_path, minio, unique_name):
    """UPLOAD_DIR -> the collection's MinIO at the keys the database stores (target prefix ""), the backend
    switched from local to s3 with a key on the bucket and S3_KEY_PREFIX=documents for new uploads."""
    uploads = tmp_path / "uploads"
    files = upload_tree(uploads, buildings=1)
    sdk, admin = minio.sdk()
    sdk.make_bucket(unique_name)
    key, secret = backend_user(admin, f"{unique_name}-b", unique_name, "*")
    backend = {"endpoint": minio.endpoint, "bucket": unique_name, "access_key": key, "secret_key": secret,
               "key_prefix": "documents"}
    target = {**minio.connection, "bucket": unique_name}

    refused = run(host, tmp_path, "migrate.yml", {"migrate_source": {"path": str(uploads)},
                                                  "migrate_target": {**target, "prefix": "documents"},
                                                  "migrate_backend": backend})
    assert refused.rc != 0 and "stored without S3_KEY_PREFIX" in refused.tasks["Check the migration settings"]["msg"]
    assert list(sdk.list_objects(unique_name, recursive=True)) == []

    result = run(host, tmp_path, "migrate.yml", {"migrate_source": {"path": str(uploads)}, "migrate_target": target,
                                                 "migrate_backend": backend})
    assert result.rc == 0, result.stdout[-4000:]
    assert result["Copy every object and verify it"]["verified"] == len(files)
    assert result["Report"]["msg"]["smoke_test"] == {"new storage": "PUT, GET, DELETE ok"}
    held = snapshot(minio.boto3(), unique_name)
    assert sorted(held) == sorted(files)
    for relative, data in files.items():
        assert held[relative]["sha256"] == hashlib.sha256(data).hexdigest()
    env = env_lines(host)
    assert env["STORAGE_PROVIDER"] == "s3" and env["S3_KEY_PREFIX"] == "documents" and env["S3_ACCESS_KEY"] == key

    # an upload through the backend's S3 key after the switch, stored as its full key, then back to local
    import boto3
    building = sorted(files)[0].split("/")[0]
    new_upload = f"documents/{building}/{uuid.uuid4()}_apr\u00e8s bascule.pdf"
    data = b"uploaded on MinIO after the switch"
    boto3.client("s3", endpoint_url=minio.endpoint, region_name="us-east-1", aws_access_key_id=key,
                 aws_secret_access_key=secret).put_object(Bucket=unique_name, Key=new_upload, Body=data)
    back_vars = {"migrate_source": {"path": str(uploads)}, "migrate_target": target, "migrate_rollback_owner": "1000",
                 "migrate_rollback_group": "1000", "backend_env_upload_dir": str(uploads)}
    back = run(host, tmp_path, "migrate_rollback.yml", back_vars)
    assert back.rc == 0, back.stdout[-4000:]
    synced = back["Copy back the writes made on the new storage, verified"]
    assert synced["copied_keys"] == [new_upload] and synced["verified"] == len(files) + 1, synced
    assert back["Report"]["msg"]["smoke_test"] == {"previous storage": "write, read, delete ok"}
    on_disk = {str(p.relative_to(uploads)): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in uploads.rglob("*") if p.is_file()}
    assert on_disk == {**{relative: hashlib.sha256(body).hexdigest() for relative, body in files.items()},
                       new_upload: hashlib.sha256(data).hexdigest()}  # no probe, no temporary left
    assert (uploads / new_upload).stat().st_uid == 1000 and (uploads / "documents").stat().st_uid == 1000
    env = env_lines(host)
    assert env["STORAGE_PROVIDER"] == "local" and env["UPLOAD_DIR"] == str(uploads)
    assert "S3_ACCESS_KEY" not in env and secret not in back.stdout
    again = run(host, tmp_path, "migrate_rollback.yml", back_vars)
    assert again.rc == 0 and again["Copy back the writes made on the new storage, verified"]["copied"] == 0


def test_failure_during_the_write_freeze_restarts_the_backend_on_its_storage(host, tmp_path, minio, unique_name):
    """The smoke test fails (the backend's new key is wrong) after the backend was stopped: the play fails,
    says the backend still uses the previous storage, and the backend runs again with its env unchanged."""
    uploads = tmp_path / "uploads"
    upload_tree(uploads, buildings=1)
    minio.sdk()[0].make_bucket(unique_name)
    host.exec(["bash", "-c", "echo pass > /usr/local/bin/stub-stop.py"])
    unit = "[Service]\nExecStart=/bin/sleep infinity\nExecStop=/usr/bin/python3 /usr/local/bin/stub-stop.py\n"
    host.exec(["bash", "-c", f"cat > /etc/systemd/system/{SERVICE}.service"], input=unit)
    host.exec(["systemctl", "daemon-reload"])
    host.exec(["systemctl", "restart", SERVICE])
    host.exec(["bash", "-c", f"mkdir -p /etc/koprogo && printf 'STORAGE_PROVIDER=local\\n' > {ENV_PATH}"])
    before = host.read_file(ENV_PATH)
    wrong = "w" * 24
    backend = {"endpoint": minio.endpoint, "bucket": unique_name, "access_key": "kp-nobody", "secret_key": wrong}
    result = run(host, tmp_path, "migrate.yml", {"migrate_source": {"path": str(uploads)},
                                                 "migrate_target": {**minio.connection, "bucket": unique_name},
                                                 "migrate_backend": backend, "migrate_backend_service": SERVICE})
    assert result.rc != 0
    message = result.tasks["Stop with what failed"]["msg"]
    assert 'stopped at "PUT the probe and GET it back, verified"' in message and "AccessDenied" in message, message
    assert "still uses the previous storage" in message and "It was started again." in message, message
    assert host.is_active(SERVICE)
    assert host.read_file(ENV_PATH) == before
    assert wrong not in result.stdout
