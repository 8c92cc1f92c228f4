"""koprogo-backup against real servers: a source MinIO and a second MinIO standing in for B2.

Every check reads back through an independent client (boto3 on either server, the raw
offsite data directory, gpg with the test's private key)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from backup_helpers import OFFSITE_BUCKET
from helpers.gpg import make_key

MARKER_NAME = "marker-Zq7XkP-contract-lease.pdf"
MARKER_BODY = b"KOPROGO-MARKER-7f3a9c1e-deed-of-co-ownership " * 50


def put(server, bucket, key, body: bytes):
    server.boto3().put_object(Bucket=bucket, Key=key, Body=body)


def bucket_digests(server, bucket) -> dict:
    s3 = server.boto3()
    result = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            result[obj["Key"]] = hashlib.sha256(body).hexdigest()
    return result


def offsite_keys(offsite) -> list:
    s3 = offsite.boto3()
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=OFFSITE_BUCKET):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def seed(source, bucket="docs", count=20) -> dict:
    source.boto3().create_bucket(Bucket=bucket)
    bodies = {f"building-{i % 3}/doc-{i:03d}.pdf": os.urandom(1000 + i) for i in range(count)}
    for key, body in bodies.items():
        put(source, bucket, key, body)
    return bodies


def latest_manifest(backup_setup, gpg_keys) -> tuple:
    path = backup_setup.manifests()[-1]
    manifest = gpg_keys.manifest(path)
    plain = backup_setup.tmp / f"{path.name}.json"
    plain.write_text(json.dumps(manifest))
    return manifest, plain


def restore(backup_setup, plain, *args, env=None):
    proc = backup_setup.run("restore", "--manifest", str(plain), *args, env=env)
    report = json.loads(proc.stdout[proc.stdout.index("{"):]) if "{" in proc.stdout else {}
    return proc, report


def test_full_backup_wipe_restore_loses_nothing(backup_setup, source, offsite, gpg_keys):
    seed(source, "docs", 30)
    seed(source, "archive", 5)
    put(source, "docs", "big/scan.bin", os.urandom(7 * 1024 * 1024))  # multipart-sized object
    before = {b: bucket_digests(source, b) for b in ("docs", "archive")}
    result = backup_setup.backup()
    assert result["exit_code"] == 0 and result["objects"] == 36

    manifest, plain = latest_manifest(backup_setup, gpg_keys)
    listed = {(o["bucket"], o["key"]): o for o in manifest["objects"]}
    assert len(listed) == 36
    for bucket, digests in before.items():
        for key, digest in digests.items():
            entry = listed[(bucket, key)]
            assert entry["sha256"] == digest
            assert entry["etag"] and entry["last_modified"] and entry["version_id"] and entry["size"] > 0

    # wipe the buckets on the source, then restore everything in place
    for bucket in before:
        source.mc("rm", "--recursive", "--force", f"t/{bucket}")
    assert bucket_digests(source, "docs") == {}
    # the backup user is read-only: restore with credentials that may write (from the environment)
    proc, report = restore(backup_setup, plain, env={"KOPROGO_RESTORE_ACCESS_KEY": source.access_key,
                                                     "KOPROGO_RESTORE_SECRET_KEY": source.secret_key})
    assert proc.returncode == 0, proc.stderr
    assert report["missing"] == [] and report["corrupt"] == [] and report["verified"] == 36
    assert {b: bucket_digests(source, b) for b in before} == before


def test_read_only_backup_user_cannot_restore(backup_setup, source, gpg_keys):
    seed(source, "docs", 3)
    backup_setup.backup()
    plain = latest_manifest(backup_setup, gpg_keys)[1]
    source.mc("rm", "--recursive", "--force", "t/docs")
    proc, report = restore(backup_setup, plain)
    assert proc.returncode != 0
    assert bucket_digests(source, "docs") == {}


def test_same_size_edit_is_backed_up_and_old_content_restorable(backup_setup, source, offsite, gpg_keys):
    seed(source, "docs", 10)
    backup_setup.backup()
    old_manifest, old_plain = latest_manifest(backup_setup, gpg_keys)
    key = "building-1/doc-001.pdf"
    old_body = source.boto3().get_object(Bucket="docs", Key=key)["Body"].read()
    new_body = bytes(b ^ 0xFF for b in old_body)  # same size, different content
    assert len(new_body) == len(old_body)
    put(source, "docs", key, new_body)

    # a plain `mc mirror` (size-only) would not copy it again: check our backup does
    result = backup_setup.backup()
    assert result["exit_code"] == 0
    new_manifest, new_plain = latest_manifest(backup_setup, gpg_keys)
    entry = next(o for o in new_manifest["objects"] if o["key"] == key)
    assert entry["sha256"] == hashlib.sha256(new_body).hexdigest()

    # restore into a scratch bucket from the latest manifest: the edited content comes back
    env = {"KOPROGO_RESTORE_ACCESS_KEY": source.access_key, "KOPROGO_RESTORE_SECRET_KEY": source.secret_key}
    proc, report = restore(backup_setup, new_plain, "--bucket", "docs", "--prefix", "building-1/",
                           "--target-bucket", "drill-new", env=env)
    assert proc.returncode == 0, proc.stderr
    assert source.boto3().get_object(Bucket="drill-new", Key=key)["Body"].read() == new_body
    # and the previous content stays restorable (its blob is kept offsite) from the older manifest
    proc, report = restore(backup_setup, old_plain, "--bucket", "docs", "--prefix", key,
                           "--target-bucket", "drill-old", env=env)
    assert proc.returncode == 0, proc.stderr
    assert source.boto3().get_object(Bucket="drill-old", Key=key)["Body"].read() == old_body


def test_deleted_object_stays_restorable(backup_setup, source, gpg_keys):
    bodies = seed(source, "docs", 6)
    backup_setup.backup()
    plain = latest_manifest(backup_setup, gpg_keys)[1]
    key = "building-2/doc-005.pdf"
    source.boto3().delete_object(Bucket="docs", Key=key)
    backup_setup.backup()  # the new manifest no longer lists it; its blob stays for the retention
    latest = latest_manifest(backup_setup, gpg_keys)[0]
    assert key not in {o["key"] for o in latest["objects"]}

    env = {"KOPROGO_RESTORE_ACCESS_KEY": source.access_key, "KOPROGO_RESTORE_SECRET_KEY": source.secret_key}
    proc, report = restore(backup_setup, plain, "--prefix", key, env=env)
    assert proc.returncode == 0, proc.stderr
    assert report["restored"] == 1
    assert source.boto3().get_object(Bucket="docs", Key=key)["Body"].read() == bodies[key]


def test_restore_never_overwrites_a_newer_object_unless_asked(backup_setup, source, gpg_keys):
    seed(source, "docs", 3)
    backup_setup.backup()
    plain = latest_manifest(backup_setup, gpg_keys)[1]
    key = "building-0/doc-000.pdf"
    put(source, "docs", key, b"edited after the backup")
    env = {"KOPROGO_RESTORE_ACCESS_KEY": source.access_key, "KOPROGO_RESTORE_SECRET_KEY": source.secret_key}
    proc, report = restore(backup_setup, plain, env=env)
    assert proc.returncode == 0, proc.stderr
    assert report["kept_newer"] == [f"docs/{key}"]
    assert source.boto3().get_object(Bucket="docs", Key=key)["Body"].read() == b"edited after the backup"
    proc, report = restore(backup_setup, plain, "--overwrite", env=env)
    assert proc.returncode == 0 and report["kept_newer"] == []
    assert source.boto3().get_object(Bucket="docs", Key=key)["Body"].read() != b"edited after the backup"


def test_restore_reports_missing_and_corrupt_objects(backup_setup, source, offsite, gpg_keys):
    seed(source, "docs", 4)
    backup_setup.backup()
    manifest, plain = latest_manifest(backup_setup, gpg_keys)
    # one object whose blob never reached offsite, and one blob altered offsite (bytes that are not
    # the backed-up ones are never written)
    manifest["objects"].append({**manifest["objects"][0], "key": "never-backed-up.pdf", "sha256": "f" * 64})
    plain.write_text(json.dumps(manifest))
    tampered = manifest["objects"][1]
    other = backup_setup.tmp / "other.bin"
    other.write_bytes(b"not the backed-up bytes")
    proc = backup_setup.run("rclone", "copyto", str(other), f"vault:blobs/{tampered['sha256']}")
    assert proc.returncode == 0, proc.stderr
    env = {"KOPROGO_RESTORE_ACCESS_KEY": source.access_key, "KOPROGO_RESTORE_SECRET_KEY": source.secret_key}
    proc, report = restore(backup_setup, plain, "--target-bucket", "drill", env=env)
    assert proc.returncode == 10
    assert report["missing"] == ["docs/never-backed-up.pdf"]
    assert report["corrupt"] == [f"docs/{tampered['key']}"]
    assert report["verified"] == 3
    keys = [o["Key"] for o in source.boto3().list_objects_v2(Bucket="drill").get("Contents", [])]
    assert tampered["key"] not in keys


def test_offsite_holds_no_plaintext_content_or_names(backup_setup, source, offsite):
    source.boto3().create_bucket(Bucket="docs")
    put(source, "docs", f"building-9/{MARKER_NAME}", MARKER_BODY)
    backup_setup.backup()
    keys = offsite_keys(offsite)
    assert any(k.startswith("koprogo/data/") for k in keys)
    assert all("marker" not in k and "building" not in k and "docs" not in k for k in keys)
    # the raw bytes of the offsite server's drive: neither the content nor the name
    raw = b"".join(p.read_bytes() for p in Path(offsite.workdir, "data").rglob("*") if p.is_file())
    assert MARKER_BODY[:40] not in raw
    assert b"KOPROGO-MARKER" not in raw
    assert MARKER_NAME.encode() not in raw and b"Zq7XkP" not in raw


def test_manifest_decrypts_only_with_the_private_key(backup_setup, source, gpg_keys, tmp_path):
    seed(source, "docs", 2)
    backup_setup.backup()
    path = backup_setup.manifests()[-1]
    assert path.stat().st_mode & 0o077 == 0
    stranger = tmp_path / "gnupg-stranger"
    stranger.mkdir()
    make_key(stranger, "Stranger <stranger@koprogo.invalid>")
    assert gpg_keys.decrypt(path, home=stranger).returncode != 0
    assert gpg_keys.manifest(path)["format"] == "koprogo-backup-manifest/2"
    # the same manifest is stored offsite
    names = [k for k in offsite_keys_of(backup_setup) if k.endswith(path.name)]
    assert names


def offsite_keys_of(backup_setup):
    proc = backup_setup.run("list-manifests")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_metrics_written_with_agreed_names(backup_setup, source):
    seed(source, "docs", 5)
    backup_setup.backup()
    metrics = backup_setup.metrics
    assert metrics["koprogo_backup_last_exit_code"] == 0
    assert metrics["koprogo_backup_objects"] == 5
    assert metrics["koprogo_backup_bytes"] > 5000
    assert metrics["koprogo_backup_last_success_timestamp_seconds"] == metrics[
        "koprogo_backup_last_run_timestamp_seconds"]
    assert "koprogo_backup_duration_seconds" in metrics
    leftovers = [p.name for p in Path(backup_setup.config["textfile_dir"]).iterdir() if p.name != "koprogo_backup.prom"]
    assert leftovers == []


def test_source_down_fails_without_offsite_deletion(backup_setup, source, offsite):
    seed(source, "docs", 8)
    backup_setup.backup()
    before = sorted(offsite_keys(offsite))
    success = backup_setup.metrics["koprogo_backup_last_success_timestamp_seconds"]
    source.stop(keep_data=True)
    proc = backup_setup.run("run")
    assert proc.returncode == 3, proc.stderr
    metrics = backup_setup.metrics
    assert metrics["koprogo_backup_last_exit_code"] == 3
    assert metrics["koprogo_backup_last_success_timestamp_seconds"] == success
    assert sorted(offsite_keys(offsite)) == before


def test_source_dies_during_transfer_deletes_nothing_offsite(backup_setup, source, offsite):
    seed(source, "docs", 10)
    backup_setup.backup()
    first = set(offsite_keys(offsite))
    # many new objects, then stop the source as soon as the transfer has started
    for i in range(300):
        put(source, "docs", f"bulk/{i:04d}.bin", os.urandom(2048))
    backup_setup.config["staging_max_bytes"] = 16 * 1024  # reads and uploads interleave
    backup_setup.save()
    runner = backup_setup.popen("run")
    wait_until(lambda: len(offsite_keys(offsite)) > len(first) + 5, runner)
    source.stop(keep_data=True)
    out, err = runner.communicate(timeout=600)
    assert runner.returncode == 3, err
    assert "source MinIO stopped answering" in err
    assert backup_setup.metrics["koprogo_backup_last_exit_code"] == runner.returncode
    assert first <= set(offsite_keys(offsite))


def test_offsite_unreachable_fails(backup_setup, source, offsite):
    seed(source, "docs", 2)
    offsite.stop()
    proc = backup_setup.run("run")
    assert proc.returncode == 4, proc.stderr
    assert backup_setup.metrics["koprogo_backup_last_exit_code"] == 4
    assert "koprogo_backup_last_success_timestamp_seconds" not in backup_setup.metrics


def test_second_run_during_a_running_one_does_nothing(backup_setup, source, offsite):
    seed(source, "docs", 5)
    # hold the first run inside its transfer with a gate in front of rclone
    gate = backup_setup.tmp / "gate"
    gate.touch()
    wrapper = backup_setup.tmp / "rclone-gated"
    wrapper.write_text(f"""#!/bin/sh
case "$1" in copy) while [ -e '{gate}' ]; do sleep 0.05; done ;; esac
exec '{backup_setup.config["rclone"]}' "$@"
""")
    wrapper.chmod(0o755)
    backup_setup.config["rclone"] = str(wrapper)
    backup_setup.save()
    runner = backup_setup.popen("run")
    log = Path(backup_setup.config["log_file"])
    wait_until(lambda: log.exists() and "rclone copy" in log.read_text(), runner)

    second = backup_setup.run("run")
    assert second.returncode == 75
    assert "another backup run holds the lock" in second.stderr
    assert second.stdout == ""  # no result: it did nothing
    assert not Path(backup_setup.config["textfile_dir"], "koprogo_backup.prom").exists()
    assert offsite_keys(offsite) == []

    gate.unlink()
    out, err = runner.communicate(timeout=600)
    assert runner.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["objects"] == 5
    assert backup_setup.metrics["koprogo_backup_last_exit_code"] == 0


def wait_until(predicate, runner, limit=3000):
    """Poll (no timing assertion): until predicate() or the runner ends."""
    import time

    for _attempt in range(limit):
        if predicate():
            return
        if runner.poll() is not None:
            raise AssertionError(f"run ended before the condition: {runner.communicate()}")
        time.sleep(0.05)
    raise AssertionError("condition never met")


def test_retention_prunes_unneeded_blobs_only_after_a_successful_run(backup_setup, source, offsite, tmp_path):
    seed(source, "docs", 3)
    backup_setup.backup()
    key = "building-0/doc-000.pdf"
    put(source, "docs", key, os.urandom(1000))  # the old content is now needed by the first manifest only
    backup_setup.backup()
    state_path = Path(backup_setup.config["state_dir"]) / "state.json"

    def blobs():
        proc = backup_setup.run("rclone", "lsf", "vault:blobs")
        assert proc.returncode == 0, proc.stderr
        return set(proc.stdout.split())

    def age(blob):
        state = json.loads(state_path.read_text())
        state["blobs"][blob] = "20000101T000000Z"
        state_path.write_text(json.dumps(state))

    current = {e["sha256"] for e in json.loads(state_path.read_text())["objects"]["docs"].values()}
    old = (blobs() - current).pop()
    assert len(blobs()) == 4
    backup_setup.backup()
    assert old in blobs()  # needed by a run within the retention: kept
    age(old)
    backup_setup.backup()
    assert blobs() == current  # no kept manifest needs it any more: pruned

    # a failed run prunes nothing
    stale = "e" * 64
    (tmp_path / "stale").write_bytes(b"stale")
    assert backup_setup.run("rclone", "copyto", str(tmp_path / "stale"), f"vault:blobs/{stale}").returncode == 0
    age(stale)
    source.stop(keep_data=True)
    assert backup_setup.run("run").returncode == 3
    assert stale in blobs()
