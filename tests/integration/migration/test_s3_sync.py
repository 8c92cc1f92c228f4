"""koprogo.storage.s3_sync against real MinIO servers: check, apply, apply again, check again; every
object compared with an independent client (boto3); faults mid-run and the re-run that finishes."""

from __future__ import annotations

import io

from helpers.ansible_run import run_tasks
from migration_helpers import document_set, put_document, regional_clients, snapshot, upload_tree, versions

TASK = "sync"


def sync_play(tmp_path, source, target, *, check=False, verbosity=0, **options):
    """(the play's result, the task's result)"""
    task = {"name": TASK, "koprogo.storage.s3_sync": {"source": source, "target": target, **options}}
    result = run_tasks([task], tmp_path=tmp_path, check=check, verbosity=verbosity)
    assert TASK in result.tasks, result.stdout[-3000:] + result.stderr[-3000:]
    return result, result[TASK]


def sync(tmp_path, source, target, **options):
    return sync_play(tmp_path, source, target, **options)[1]


def location(server, bucket, prefix="", **extra):
    return {**server.connection, "bucket": bucket, "prefix": prefix, **extra}


def house_sequence(tmp_path, source, target, expected_count, **options):
    """check (writes nothing), apply, apply again, check again; returns the first apply's result."""
    planned = sync(tmp_path, source, target, check=True, **options)
    assert planned["changed"] is True and planned["copied"] == expected_count, planned
    assert planned["verified"] == 0 and planned["unchanged"] == 0
    applied = sync(tmp_path, source, target, **options)
    assert applied["changed"] is True, applied
    assert applied["copied"] == expected_count and applied["verified"] == expected_count
    assert applied["missing"] == [] and applied["mismatched"] == [] and applied["failures"] == []
    assert applied["copied_keys"] == planned["copied_keys"]
    for check in (False, True):
        again = sync(tmp_path, source, target, check=check, **options)
        assert again["changed"] is False and again["copied"] == 0, again
        assert again["unchanged"] == expected_count and again["mismatched"] == [] and again["missing"] == []
    return applied


def test_local_uploads_to_minio(tmp_path, minio, unique_name):
    """KoproGo's UPLOAD_DIR (<building>/<uuid>_<name>) -> keys its database already stores."""
    uploads = tmp_path / "uploads"
    files = upload_tree(uploads)
    sdk = minio.sdk()[0]
    sdk.make_bucket(unique_name)
    source, target = {"path": str(uploads)}, location(minio, unique_name)

    planned = sync(tmp_path, source, target, check=True)
    assert sorted(planned["missing"]) == sorted(files)
    assert list(sdk.list_objects(unique_name, recursive=True)) == []  # check mode wrote nothing

    house_sequence(tmp_path, source, target, len(files))
    quick = sync(tmp_path, source, target, compare="etag")  # local MD5s against the listed ETags
    assert quick["changed"] is False and quick["unchanged_by_etag"] == len(files)
    held = snapshot(minio.boto3(), unique_name)
    assert sorted(held) == sorted(files)
    for key, data in files.items():
        assert held[key]["size"] == len(data)
        assert minio.boto3().get_object(Bucket=unique_name, Key=key)["Body"].read() == data
        guessed = "application/pdf" if key.endswith(".pdf") else held[key]["ContentType"]
        assert held[key]["ContentType"] == guessed
    # the source directory is untouched
    assert sorted(str(p.relative_to(uploads)) for p in uploads.rglob("*") if p.is_file()) == sorted(files)


def test_compose_minio_to_collection_minio_with_delta(tmp_path, compose_minio, minio, unique_name):
    """Compose MinIO (root credentials, versioned bucket, documents/) -> the collection's MinIO under the
    same prefix; then writes during the migration, picked up by the delta run; extra objects kept
    unless delete_extra."""
    src_sdk = compose_minio.sdk()[0]
    dst_sdk = minio.sdk()[0]
    src_sdk.make_bucket(unique_name)
    from minio.versioningconfig import ENABLED, VersioningConfig
    src_sdk.set_bucket_versioning(unique_name, VersioningConfig(ENABLED))
    keys = document_set(src_sdk, unique_name, "documents/")
    # an overwritten object (its current version must win) and a deleted one (not copied)
    put_document(src_sdk, unique_name, keys[1], b"second version")
    put_document(src_sdk, unique_name, "documents/b-0/deleted.pdf", b"gone")
    src_sdk.remove_object(unique_name, "documents/b-0/deleted.pdf")
    src_sdk.put_object(unique_name, "outside/not-copied.txt", io.BytesIO(b"x"), 1)
    dst_sdk.make_bucket(unique_name)
    source = location(compose_minio, unique_name, "documents")
    target = location(minio, unique_name, "documents/")
    before = versions(compose_minio.boto3(), unique_name)

    house_sequence(tmp_path, source, target, len(keys))
    src_view = snapshot(compose_minio.boto3(), unique_name, "documents/")
    assert snapshot(minio.boto3(), unique_name, "documents/") == src_view
    # the 7 MiB document in 5 MiB parts: the multipart ETag it must get is computed from the part MD5s
    parts = sync(tmp_path, source, location(minio, f"{unique_name}-parts", "documents/"), part_size_mib=5,
                 target_create_bucket=True)
    assert parts["verified"] == len(keys) and parts["mismatched"] == [] and parts["failures"] == [], parts
    assert snapshot(minio.boto3(), f"{unique_name}-parts", "documents/") == src_view
    listed = minio.boto3().list_objects_v2(Bucket=f"{unique_name}-parts", Prefix="documents/")["Contents"]
    assert [item["Size"] for item in listed if item["ETag"].endswith('-2"')] == [7 * 1024 * 1024]
    assert src_view[keys[1][len("documents/"):]]["size"] == len(b"second version")

    # writes made between the copy and the switch: a new document, a changed one, new tags
    put_document(src_sdk, unique_name, "documents/b-1/new during migration.pdf", b"new")
    put_document(src_sdk, unique_name, keys[2], b"changed bytes")
    from minio.commonconfig import Tags
    tags = Tags.new_object_tags()
    tags.update({"kind": "retagged"})
    src_sdk.set_object_tags(unique_name, keys[3], tags)
    # an object only the target has
    dst_sdk.put_object(unique_name, "documents/only-at-target.txt", io.BytesIO(b"t"), 1)

    quick = sync(tmp_path, source, target, check=True, compare="etag")
    # the quick mode sees new and rewritten bytes, not a tag-only change (documented)
    assert quick["copied_keys"] == sorted(["documents/b-1/new during migration.pdf", keys[2]])
    assert 0 < quick["unchanged_by_etag"] < len(keys)
    delta = sync(tmp_path, source, target, check=True)
    assert delta["copied_keys"] == sorted(["documents/b-1/new during migration.pdf", keys[2], keys[3]])
    delta = sync(tmp_path, source, target)
    assert delta["changed"] is True and delta["copied"] == 3 and delta["verified"] == len(keys) + 1
    assert delta["extra_keys"] == ["documents/only-at-target.txt"] and delta["deleted_keys"] == []
    held = snapshot(minio.boto3(), unique_name, "documents/")
    assert "only-at-target.txt" in held
    del held["only-at-target.txt"]
    assert held == snapshot(compose_minio.boto3(), unique_name, "documents/")

    cleaned = sync(tmp_path, source, target, delete_extra=True)
    assert cleaned["changed"] is True and cleaned["deleted_keys"] == ["documents/only-at-target.txt"]
    assert cleaned["copied"] == 0
    again = sync(tmp_path, source, target, delete_extra=True)
    assert again["changed"] is False
    assert snapshot(minio.boto3(), unique_name, "documents/") == snapshot(compose_minio.boto3(), unique_name,
                                                                          "documents/")
    # the source lost nothing: every version and delete marker is still there, plus the new writes
    after = versions(compose_minio.boto3(), unique_name)
    assert {v[:3] for v in before} <= {v[:3] for v in after}
    assert len(after) == len(before) + 2  # the new document and the changed one (tags make no version)


def test_target_fails_halfway_then_rerun_finishes(tmp_path, compose_minio, scaleway, unique_name):
    """The target refuses writes part-way (a key-scoped deny), then goes down: each run fails saying what is
    done; a re-run finishes without copying twice or losing anything."""
    src_sdk = compose_minio.sdk()[0]
    admin = scaleway.sdk()[1]
    dst_sdk, dst_boto = regional_clients(scaleway, "fr-par")
    src_sdk.make_bucket(unique_name)
    keys = sorted(document_set(src_sdk, unique_name, "documents/"))
    dst_sdk.make_bucket(unique_name)
    # a user allowed to write except under documents/b-1/: the sorted run fails once it reaches them
    arn = f"arn:aws:s3:::{unique_name}"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": [arn, f"{arn}/*"]},
        {"Effect": "Deny", "Action": ["s3:PutObject"], "Resource": [f"{arn}/documents/b-1/*"]}]}
    admin.policy_add(f"{unique_name}-p", policy=policy)
    user_secret = "half-way-secret-" + unique_name
    admin.user_add(f"{unique_name}-u", user_secret)
    admin.policy_set(f"{unique_name}-p", user=f"{unique_name}-u")
    source = location(compose_minio, unique_name, "documents/")
    restricted = {**location(scaleway, unique_name, "documents/"), "access_key": f"{unique_name}-u",
                  "secret_key": user_secret, "region": "fr-par"}
    allowed = [k for k in keys if k.startswith("documents/b-0/")]

    result, failed = sync_play(tmp_path, source, restricted, workers=1, verbosity=3)
    assert result.rc != 0 and failed.get("failed") is True
    assert f"copied {len(allowed)} of {len(keys)} objects" in failed["msg"], failed["msg"]
    assert "AccessDenied" in failed["msg"] and "run again" in failed["msg"]
    assert failed["copied_keys"] == allowed
    assert failed["failures"][0]["key"].startswith("documents/b-1/")
    assert user_secret not in result.stdout + result.stderr
    assert compose_minio.secret_key not in result.stdout + result.stderr
    assert sorted(o.object_name for o in dst_sdk.list_objects(unique_name, recursive=True)) == allowed

    # the target goes down: a clear failure, nothing else written
    scaleway.stop(keep_data=True)
    try:
        result, down = sync_play(tmp_path, source, location(scaleway, unique_name, "documents/", region="fr-par"))
        assert result.rc != 0 and "cannot reach the server" in down["msg"], down["msg"]
    finally:
        scaleway.start()

    finished = sync(tmp_path, source, location(scaleway, unique_name, "documents/", region="fr-par"))
    assert finished["changed"] is True and finished["copied"] == len(keys) - len(allowed)
    assert finished["unchanged"] == len(allowed) and finished["verified"] == len(keys)
    target_view = snapshot(dst_boto, unique_name, "documents/")
    assert target_view == snapshot(compose_minio.boto3(), unique_name, "documents/")
    assert len(target_view) == len(keys)


def test_bad_input_refused_before_any_request(tmp_path, minio, unique_name):
    source = {"path": "relative/dir"}
    target = {**location(minio, unique_name, "/abs"), "addressing_style": "path"}
    result, refused = sync_play(tmp_path, source, target, part_size_mib=4)
    assert result.rc != 0
    for fragment in ("must be absolute", "leading slash", "part_size_mib"):
        assert fragment in refused["msg"]
    sdk = minio.sdk()[0]
    assert not sdk.bucket_exists(unique_name)
    missing = sync(tmp_path, location(minio, unique_name + "-src"), location(minio, unique_name))
    assert "does not exist" in missing["msg"]


def local_files(root) -> dict:
    """{relative path: sha256} of the regular files under root."""
    import hashlib
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


def test_bucket_to_local_directory(tmp_path, minio, unique_name):
    """A bucket prefix into a directory (the rollback to UPLOAD_DIR): check mode writes nothing, the files
    hold the bytes (sha256), a second run writes nothing, a changed file is rewritten, and a key that
    cannot be a file under the directory stops the run before any write."""
    sdk = minio.sdk()[0]
    sdk.make_bucket(unique_name)
    keys = document_set(sdk, unique_name, "documents/")
    sdk.put_object(unique_name, "outside/not-copied.txt", io.BytesIO(b"x"), 1)
    root = tmp_path / "uploads"
    root.mkdir()
    (root / "kept-local-only.txt").write_bytes(b"only here")
    source, target = location(minio, unique_name, "documents"), {"path": str(root), "mode": "0640"}
    expected = {key: value["sha256"] for key, value in snapshot(minio.boto3(), unique_name, "documents/").items()}

    planned = sync(tmp_path, source, target, check=True)
    assert planned["changed"] is True and planned["copied"] == len(keys) and planned["verified"] == 0
    assert local_files(root) == {"kept-local-only.txt": local_files(root)["kept-local-only.txt"]}
    applied = sync(tmp_path, source, target)
    assert applied["copied"] == len(keys) and applied["verified"] == len(keys), applied
    assert applied["missing"] == [] and applied["mismatched"] == [] and applied["failures"] == []
    assert applied["extra_keys"] == ["kept-local-only.txt"] and applied["deleted_keys"] == []
    assert "metadata" in applied["not_preserved"] and "tags" in applied["not_preserved"]
    held = local_files(root)
    del held["kept-local-only.txt"]
    assert held == expected  # every byte, no temporary file left
    assert {oct(p.stat().st_mode & 0o777) for p in root.rglob("*") if p.is_file() and p.name != "kept-local-only.txt"} \
        == {"0o640"}
    # the second run rewrites only a file changed meanwhile (the rollback test runs a third, copying 0)
    changed = sorted(expected)[0]
    (root / changed).write_bytes(b"changed locally")
    again = sync(tmp_path, source, target, compare="etag")
    assert again["copied_keys"] == [changed] and again["unchanged"] == len(keys) - 1, again
    assert again["unchanged_by_etag"] >= len(keys) - 2 and again["verified"] == len(keys)  # the 7 MiB one: in parts
    assert local_files(root)[changed] == expected[changed]

    # a folder marker (as consoles create) is a key with an empty last segment: not a file name
    sdk.put_object(unique_name, "documents/b-9/", io.BytesIO(b""), 0)
    sdk.put_object(unique_name, "documents/b-9/new.pdf", io.BytesIO(b"new"), 3)
    result, refused = sync_play(tmp_path, source, target)
    assert result.rc != 0 and "'b-9/': an empty segment" in refused["msg"] and "nothing was written" in refused["msg"]
    assert not (root / "b-9").exists()
