"""Object sets with unusual keys and metadata, and independent (boto3) snapshots to compare sides."""

from __future__ import annotations

import gzip
import hashlib
import io
import uuid

from minio.commonconfig import Tags

# names KoproGo keeps after its sanitising ('..', '/' and '\' become '_'): spaces, accents (NFC and
# NFD), U+201B, a TAB, a 0x01, quotes, '+', '%', '#', '?', a long name
UNUSUAL_NAMES = [
    "facture 2026.pdf",
    "proc\u00e8s-verbal AG \u00e9t\u00e9.pdf",
    "proce\u0300s-verbal NFD.pdf",
    "\u201bquote\u201b.txt",
    "tab\there.txt",
    "ctrl\u0001char.bin",
    "plus+percent%25 hash# ask?.txt",
    "single'double\".txt",
    "_etc_passwd",
    "x" * 180 + ".pdf",
]
HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "CacheControl", "ContentLanguage")


def body_for(name: str, size: int = 0) -> bytes:
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size] if size else b"content of " + name.encode()


def upload_tree(root, buildings: int = 2) -> dict:
    """KoproGo's local layout: <root>/<building>/<uuid>_<name>; returns {relative path: bytes}."""
    files = {}
    for number in range(buildings):  # noqa: B007 - only a count
        building = str(uuid.uuid4())
        (root / building).mkdir(parents=True)
        for name in UNUSUAL_NAMES:
            relative = f"{building}/{uuid.uuid4()}_{name}"
            data = body_for(relative)
            (root / relative).write_bytes(data)
            files[relative] = data
    return files


def put_document(sdk, bucket: str, key: str, data: bytes, *, rich: bool = True) -> None:
    """An object as KoproGo's documents can be: Content-* headers, user metadata and tags."""
    metadata, tags = {}, None
    if rich:
        metadata = {"Content-Disposition": 'attachment; filename="doc.pdf"', "Cache-Control": "private, max-age=60",
                    "Content-Language": "fr-BE", "x-amz-meta-building": "b-1", "x-amz-meta-uploaded-by": "syndic one"}
        tags = Tags.new_object_tags()
        tags.update({"kind": "invoice", "year": "2026"})
    sdk.put_object(bucket, key, io.BytesIO(data), len(data), content_type="application/pdf", metadata=metadata,
                   tags=tags)


def put_gzip(sdk, bucket: str, key: str) -> None:
    data = gzip.compress(b"compressed minutes " * 100, mtime=0)
    sdk.put_object(bucket, key, io.BytesIO(data), len(data), content_type="text/plain",
                   metadata={"Content-Encoding": "gzip"})


def document_set(sdk, bucket: str, prefix: str) -> list:
    """Rich and plain objects under prefix (one gzip-encoded, one multipart-sized); returns the keys."""
    keys = []
    for index, name in enumerate(UNUSUAL_NAMES):
        key = f"{prefix}b-{index % 2}/{uuid.uuid4()}_{name}"
        put_document(sdk, bucket, key, body_for(key), rich=index % 3 != 0)
        keys.append(key)
    key = f"{prefix}b-0/minutes.txt.gz"
    put_gzip(sdk, bucket, key)
    keys.append(key)
    key = f"{prefix}b-1/{uuid.uuid4()}_scan large.pdf"
    put_document(sdk, bucket, key, body_for(key, 7 * 1024 * 1024))
    keys.append(key)
    return keys


def snapshot(client, bucket: str, prefix: str = "") -> dict:
    """{key below prefix: every fidelity field}, read with boto3 (not the module's SDK)."""
    result = {}
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", []):
            key = item["Key"]
            got = client.get_object(Bucket=bucket, Key=key)
            data = got["Body"].read()
            tags = client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
            result[key[len(prefix):]] = {
                "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                **{header: got.get(header) for header in HEADERS},
                "metadata": got.get("Metadata", {}), "tags": {t["Key"]: t["Value"] for t in tags},
            }
    return result


def versions(client, bucket: str) -> list:
    """Every version and delete marker of a bucket (to prove the source untouched)."""
    listing = client.list_object_versions(Bucket=bucket)
    return sorted((v["Key"], v["VersionId"], v.get("ETag"), v.get("IsLatest"))
                  for v in listing.get("Versions", []) + listing.get("DeleteMarkers", []))


def regional_clients(server, region: str):
    """(minio SDK, boto3) clients of a server that only accepts requests signed for region."""
    import boto3
    from botocore.config import Config
    from minio import Minio

    sdk = Minio(f"127.0.0.1:{server.port}", access_key=server.access_key, secret_key=server.secret_key, secure=False,
                region=region)
    client = boto3.client("s3", endpoint_url=server.endpoint, region_name=region,
                          aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))
    return sdk, client
