"""Every key S3 allows comes back with its bytes, Content-* headers, user metadata and tags.

Keys: every control character, U+201B (rclone's quote character), a 1024-byte key, NFC/NFD twins,
a leading '/', '//', '%', '+', '?', '#', a folder marker... Keys the server itself refuses are
reported; every accepted key must survive backup, wipe and restore, checked with boto3."""

from __future__ import annotations

import gzip
import hashlib
import json
import unicodedata
from pathlib import Path

from botocore.exceptions import ClientError
from test_backup_script import latest_manifest, restore

BUCKET = "hard"
CAFE = "caf\u00e9-r\u00e9glement.pdf"


def hard_keys() -> list:
    keys = [f"ctl/{code:02x}-{chr(code)}-end.txt" for code in [*range(32), 0x7F]]
    long_key = "long/" + "/".join(["d" * 200] * 4) + "/"
    long_key += "f" * (1024 - len(long_key.encode()))
    keys += [
        "quote/\u201bname\u201b.pdf", "quote/\uff0efullwidth-dot.pdf", "nfc/" + unicodedata.normalize("NFC", CAFE),
        "nfd/" + unicodedata.normalize("NFD", CAFE), long_key, "g" * 1024, "/leading-slash.pdf",
        "double//slash.pdf", "pct/100%.pdf", "pct/%41%2F.pdf", "plus/a+b c.pdf", "q/what?.pdf", "hash/#1.pdf",
        "folder-marker/", "dot/./x.pdf", "dotdot/../x.pdf", "xml/<&>'\".xml", "space/ padded ", "emoji/\U0001f4c4.pdf",
        "back\\slash.pdf", "c1/\u0085next-line.pdf", "bidi/\u202eevil.pdf",
    ]
    assert len(long_key.encode()) == 1024
    return keys


def attributes(index: int, key: str) -> dict:
    """What each object is written with: every third one plain, the others with every field."""
    if index % 3 == 0:
        return {}
    return {
        "ContentType": ["image/jpeg", "application/pdf", "text/plain; charset=utf-8"][index % 3],
        "ContentEncoding": "gzip" if index % 2 else "identity",
        "ContentDisposition": f'attachment; filename="doc-{index}.pdf"',
        "CacheControl": "private, max-age=60",
        "ContentLanguage": "fr-BE",
        "Metadata": {"owner": f"lot-{index}", "building": "B"},
        "Tagging": f"kind=deed&index={index}",
    }


def seed_hard(source) -> tuple:
    s3 = source.boto3()
    s3.create_bucket(Bucket=BUCKET)
    accepted, refused = {}, {}
    for index, key in enumerate(hard_keys()):
        body = gzip.compress(f"{index}:{key}".encode()) if index % 2 else f"body {index} {key!r}".encode()
        if key.endswith("/"):
            body = b""
        try:
            s3.put_object(Bucket=BUCKET, Key=key, Body=body, **attributes(index, key))
        except ClientError as exc:
            refused[key] = exc.response["Error"]["Code"]
            continue
        accepted[key] = (index, body)
    listed = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
              for o in page.get("Contents", [])}
    # MinIO stores "/leading-slash.pdf" as "leading-slash.pdf": what counts is what the bucket holds
    renamed = sorted(set(accepted) - listed)
    return {key: accepted.get(key) for key in listed}, {**refused, **{k: "stored under another name"
                                                                      for k in renamed}}


def snapshot(source, bucket: str, keys) -> dict:
    """What a client sees of each object (boto3, independent of the program)."""
    s3 = source.boto3()
    result = {}
    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
        result[key] = {
            "sha256": hashlib.sha256(body).hexdigest(), "size": len(body),
            **{field: head.get(field) for field in ("ContentType", "ContentEncoding", "ContentDisposition",
                                                    "CacheControl", "ContentLanguage")},
            "Metadata": head.get("Metadata", {}), "Tags": sorted((t["Key"], t["Value"]) for t in tags),
        }
    return result


def test_every_key_and_its_metadata_survive_backup_and_restore(backup_setup, source, gpg_keys):
    accepted, refused = seed_hard(source)
    print(f"server refused or renamed {len(refused)} key(s): {refused}")
    must = ["ctl/09-\t-end.txt", "ctl/0d-\r-end.txt", "ctl/0a-\n-end.txt", "ctl/7f-\x7f-end.txt",
            "ctl/01-\x01-end.txt", "quote/\u201bname\u201b.pdf", "nfc/" + unicodedata.normalize("NFC", CAFE),
            "nfd/" + unicodedata.normalize("NFD", CAFE), "pct/100%.pdf", "plus/a+b c.pdf", "q/what?.pdf",
            "hash/#1.pdf", "folder-marker/"]
    assert [k for k in must if k not in accepted] == []
    assert any(len(k.encode()) == 1024 for k in accepted)
    before = snapshot(source, BUCKET, accepted)

    result = backup_setup.backup()
    assert result["objects"] == len(accepted)
    manifest, plain = latest_manifest(backup_setup, gpg_keys)
    entries = {o["key"]: o for o in manifest["objects"] if o["bucket"] == BUCKET}
    assert set(entries) == set(accepted)
    for key, seen in before.items():
        entry = entries[key]
        assert (entry["sha256"], entry["size"], entry["content_type"], entry["metadata"]) == (
            seen["sha256"], seen["size"], seen["ContentType"], seen["Metadata"]), key
        assert sorted(entry["tags"].items()) == seen["Tags"], key

    # wipe, then restore in place: bytes, headers, metadata and tags come back, nothing else
    s3 = source.boto3()
    for key in accepted:
        s3.delete_object(Bucket=BUCKET, Key=key)
    env = {"KOPROGO_RESTORE_ACCESS_KEY": source.access_key, "KOPROGO_RESTORE_SECRET_KEY": source.secret_key}
    proc, report = restore(backup_setup, plain, "--bucket", BUCKET, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (report["missing"], report["corrupt"], report["metadata_mismatch"]) == ([], [], [])
    assert report["verified"] == report["restored"] == len(accepted)
    assert report["live_vs_manifest"][BUCKET]["only_in_live"] == 0
    assert snapshot(source, BUCKET, accepted) == before
    listed = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
              for o in page.get("Contents", [])}
    assert listed == set(accepted)

    # restoring again changes nothing and says so
    proc, report = restore(backup_setup, plain, "--bucket", BUCKET, env=env)
    assert proc.returncode == 0, proc.stderr
    assert report["restored"] == 0 and report["already_present"] == report["verified"] == len(accepted)
    print(json.dumps({"hard_keys": len(hard_keys()), "accepted": len(accepted), "restored_verified": len(accepted)}))


def test_metadata_or_tag_change_alone_is_backed_up(backup_setup, source, gpg_keys):
    s3 = source.boto3()
    s3.create_bucket(Bucket="docs")
    s3.put_object(Bucket="docs", Key="a.pdf", Body=b"same bytes", ContentType="application/pdf")
    backup_setup.backup()
    # tags and metadata change, the bytes do not
    s3.put_object_tagging(Bucket="docs", Key="a.pdf", Tagging={"TagSet": [{"Key": "state", "Value": "signed"}]})
    s3.copy_object(Bucket="docs", Key="a.pdf", CopySource={"Bucket": "docs", "Key": "a.pdf"},
                   MetadataDirective="REPLACE", ContentType="application/pdf", Metadata={"signed-by": "syndic"},
                   TaggingDirective="COPY")
    backup_setup.backup()
    entry = latest_manifest(backup_setup, gpg_keys)[0]["objects"][0]
    assert entry["tags"] == {"state": "signed"} and entry["metadata"] == {"signed-by": "syndic"}


def tags_read(backup) -> int:
    """How many objects' tags the last run read with a request (from its log)."""
    log = Path(backup.config["log_file"]).read_text().splitlines()
    return int([line for line in log if "reading the tags of" in line][-1].split("reading the tags of ")[1].split()[0])


def test_tag_only_changes_are_seen_through_the_listing(backup_setup, source, gpg_keys):
    """Unchanged tags are taken from MinIO's listing (no request per object); a tag-only change
    (tagged, re-tagged, untagged, with characters URL encoding escapes) is still backed up."""
    s3 = source.boto3()
    s3.create_bucket(Bucket="tagged")
    odd = {"Key": "note 2026", "Value": "a+b=c / x:@y"}
    for name, tagging in (("plain.pdf", ""), ("odd.pdf", "x=1"), ("gone.pdf", "state=draft")):
        s3.put_object(Bucket="tagged", Key=name, Body=name.encode(), Tagging=tagging)
    s3.put_object_tagging(Bucket="tagged", Key="odd.pdf", Tagging={"TagSet": [odd]})
    backup_setup.backup()
    backup_setup.backup()
    assert tags_read(backup_setup) == 0  # the listing spelled every recorded tag set as this program does
    s3.put_object_tagging(Bucket="tagged", Key="plain.pdf", Tagging={"TagSet": [{"Key": "k", "Value": "v w"}]})
    s3.put_object_tagging(Bucket="tagged", Key="odd.pdf", Tagging={"TagSet": [{**odd, "Value": "changed"}]})
    s3.delete_object_tagging(Bucket="tagged", Key="gone.pdf")
    backup_setup.backup()
    assert tags_read(backup_setup) == 3
    entries = {o["key"]: o["tags"] for o in latest_manifest(backup_setup, gpg_keys)[0]["objects"]
               if o["bucket"] == "tagged"}
    assert entries == {"plain.pdf": {"k": "v w"}, "odd.pdf": {odd["Key"]: "changed"}, "gone.pdf": {}}


def test_long_encoded_tags_compare_through_the_listing(backup_setup, source, gpg_keys):
    """A 200-character value of '/' is 600 characters URL-encoded (more than a tag value may hold):
    the listing's tokens still compare, and the manifest keeps the decoded value."""
    s3 = source.boto3()
    s3.create_bucket(Bucket="longtags")
    s3.put_object(Bucket="longtags", Key="a.pdf", Body=b"a")
    s3.put_object_tagging(Bucket="longtags", Key="a.pdf", Tagging={"TagSet": [{"Key": "path", "Value": "/" * 200}]})
    backup_setup.backup()
    backup_setup.backup()
    assert tags_read(backup_setup) == 0
    entry = latest_manifest(backup_setup, gpg_keys)[0]["objects"][0]
    assert entry["tags"] == {"path": "/" * 200}
