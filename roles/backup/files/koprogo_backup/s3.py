"""MinIO and the offsite target through the minio SDK (SigV4, url-encoded listings, retries)."""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from typing import Optional

import urllib3
from minio import Minio
from minio.commonconfig import Tags
from minio.error import S3Error

from .common import EXIT_CONFIG, BackupError
from .manifest import metadata_from_headers, put_headers

CHUNK = 1024 * 1024
GONE = ("NoSuchKey", "NoSuchVersion")
CHANGED = ("PreconditionFailed",)


def client(endpoint: str, access_key: str, secret_key: str, region: str, read_timeout: float = 60) -> Minio:
    parsed = urllib.parse.urlsplit(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path.strip("/"):
        raise BackupError(EXIT_CONFIG, f"endpoint must be an http(s) URL without a path, got {endpoint!r}")
    # short timeouts and few retries: a server that stops answering fails the run quickly
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=10, read=read_timeout), maxsize=16,
        retries=urllib3.Retry(total=3, backoff_factor=0.5, status_forcelist=[500, 502, 503, 504]))
    return Minio(parsed.netloc, access_key=access_key, secret_key=secret_key, secure=parsed.scheme == "https",
                 region=region, http_client=http)


def list_latest(mc: Minio, bucket: str, prefix: Optional[str] = None, with_tags: bool = False) -> dict:
    """key -> {size, etag, last_modified} of the current version of every object (folder markers
    and keys with any character included; the SDK lists with encoding-type=url). with_tags adds
    "tag_tokens": the object's tags as MinIO's listing extension (metadata=true) spells them, still
    URL-encoded (the SDK splits them without decoding), to tell unchanged tags without a request."""
    if with_tags:
        try:
            return _list(mc, bucket, prefix, True)
        except ValueError:
            # the SDK could not split a listed tag set: list without tags, every object's tags are
            # then read one by one
            pass
    return _list(mc, bucket, prefix, False)


def _list(mc: Minio, bucket: str, prefix: Optional[str], with_tags: bool) -> dict:
    objects = {}
    for obj in mc.list_objects(bucket, prefix=prefix, recursive=True, include_user_meta=with_tags):
        entry = {
            "size": int(obj.size or 0), "etag": (obj.etag or "").strip('"'),
            "last_modified": obj.last_modified.isoformat() if obj.last_modified else None,
        }
        if with_tags:
            entry["tag_tokens"] = sorted((obj.tags or {}).items())
        objects[obj.object_name] = entry
    return objects


def read_object(mc: Minio, bucket: str, key: str, etag: Optional[str], dest: Optional[str]) -> dict:
    """GET one object (the listed version when etag is given), hash it, optionally write it to dest.
    Returns size, sha256, etag, version_id and the fidelity headers. Bytes are read as stored:
    a Content-Encoding such as gzip is never decoded."""
    headers = {"If-Match": f'"{etag}"'} if etag else None
    response = mc.get_object(bucket, key, request_headers=headers)
    digest, size = hashlib.sha256(), 0
    try:
        handle = open(dest, "wb") if dest else None  # noqa: SIM115 - closed below
        try:
            while True:
                chunk = response.read(CHUNK, decode_content=False)
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
                if handle:
                    handle.write(chunk)
        finally:
            if handle:
                handle.close()
        info = metadata_from_headers(response.headers)
        info.update(size=size, sha256=digest.hexdigest(),
                    etag=(response.headers.get("ETag") or "").strip('"'),
                    version_id=response.headers.get("x-amz-version-id") or "null")
        return info
    except BaseException:
        if dest and os.path.exists(dest):
            os.unlink(dest)
        raise
    finally:
        response.close()
        response.release_conn()


def read_tags(mc: Minio, bucket: str, key: str) -> dict:
    tags = mc.get_object_tags(bucket, key)
    return dict(tags) if tags else {}


def put_object(mc: Minio, bucket: str, key: str, path: str, entry: dict) -> None:
    """Write an object back with its Content-* headers, user metadata and tags."""
    content_type, metadata = put_headers(entry)
    tags = None
    if entry.get("tags"):
        tags = Tags.new_object_tags()
        tags.update(entry["tags"])
    with open(path, "rb") as handle:
        mc.put_object(bucket, key, handle, os.path.getsize(path), content_type=content_type,
                      metadata=metadata or None, tags=tags, part_size=64 * 1024 * 1024)


def error_code(exc: BaseException) -> str:
    return exc.code if isinstance(exc, S3Error) else ""
