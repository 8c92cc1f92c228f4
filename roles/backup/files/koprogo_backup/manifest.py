"""The manifest: what each object was (key, bytes, metadata, tags) and which blob holds its bytes.

Pure functions only (no I/O): built and compared here, unit-tested in tests/unit/backup.
"""

from __future__ import annotations

import gzip
import json
import urllib.parse
from collections.abc import Mapping

FORMAT = "koprogo-backup-manifest/2"
USER_PREFIX = "x-amz-meta-"
# manifest field -> HTTP header; the minio SDK sends these as they are (anything else becomes x-amz-meta-*)
HEADER_FIELDS = {
    "content_type": "Content-Type",
    "content_encoding": "Content-Encoding",
    "content_disposition": "Content-Disposition",
    "cache_control": "Cache-Control",
    "content_language": "Content-Language",
}
# what a restore must give back, and what its verification compares
FIDELITY_FIELDS = ("size", "sha256", *HEADER_FIELDS, "metadata", "tags")


def metadata_from_headers(headers: Mapping[str, str]) -> dict:
    """The fidelity fields carried by a GET/HEAD response: standard headers (None when absent) and
    user metadata (x-amz-meta-<name>, names lower-cased: S3 treats them case-insensitively)."""
    lower = {str(k).lower(): v for k, v in headers.items()}
    result = {field: lower.get(name.lower()) for field, name in HEADER_FIELDS.items()}
    result["metadata"] = {k[len(USER_PREFIX):]: v for k, v in sorted(lower.items()) if k.startswith(USER_PREFIX)}
    return result


def put_headers(entry: Mapping) -> tuple:
    """(content_type, metadata) for the SDK's put_object from a manifest entry."""
    headers = {name: entry[field] for field, name in HEADER_FIELDS.items()
               if field != "content_type" and entry.get(field) is not None}
    headers.update({USER_PREFIX + name: value for name, value in (entry.get("metadata") or {}).items()})
    return entry.get("content_type") or "application/octet-stream", headers


def fidelity(entry: Mapping) -> dict:
    return {field: entry.get(field) if field not in ("metadata", "tags") else dict(entry.get(field) or {})
            for field in FIDELITY_FIELDS}


def differences(expected: Mapping, actual: Mapping) -> list:
    """Names of the fidelity fields that differ between a manifest entry and what a server holds."""
    want, have = fidelity(expected), fidelity(actual)
    return [field for field in FIDELITY_FIELDS if want[field] != have[field]]


def build(stamp: str, created: str, source: str, listing: Mapping) -> dict:
    """listing: {bucket: {key: entry}}. Objects sorted by bucket, then by key (code points)."""
    return {
        "format": FORMAT, "run": stamp, "created": created, "source": source, "buckets": sorted(listing),
        "objects": [{"bucket": bucket, "key": key, **listing[bucket][key]}
                    for bucket in sorted(listing) for key in sorted(listing[bucket])],
    }


def dumps(manifest: Mapping) -> bytes:
    """gzipped JSON; ensure_ascii keeps every key byte-exact (control characters, NFC/NFD twins)."""
    return gzip.compress(json.dumps(manifest, ensure_ascii=True, separators=(",", ":")).encode(), mtime=0)


def loads(data: bytes) -> dict:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    manifest = json.loads(data)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"unknown manifest format {manifest.get('format') if isinstance(manifest, dict) else None!r}"
                         f" (this program reads {FORMAT})")
    return manifest


def count_problems(listed: Mapping, recorded: Mapping, gone: Mapping) -> list:
    """Keys (bucket, key) listed on the source but neither recorded nor confirmed deleted during the run:
    each one would be a silent loss, so the run fails naming them. Arguments: {bucket: set(keys)}."""
    problems = []
    for bucket in sorted(listed):
        missing = set(listed[bucket]) - set(recorded.get(bucket, ())) - set(gone.get(bucket, ()))
        problems += [(bucket, key) for key in sorted(missing)]
    return problems


def compare_live(manifest_objects: Mapping, live: Mapping) -> dict:
    """A manifest's bucket ({key: entry}) against the live bucket's listing ({key: {etag, size}})."""
    only_manifest = sorted(set(manifest_objects) - set(live))
    only_live = sorted(set(live) - set(manifest_objects))
    changed = sorted(k for k in set(manifest_objects) & set(live)
                     if (manifest_objects[k].get("etag"), manifest_objects[k].get("size"))
                     != (live[k].get("etag"), live[k].get("size")))
    return {"only_in_manifest": only_manifest, "only_in_live": only_live, "changed_since": changed}


def target_key(key: str, bucket: str, multi_bucket_target: bool) -> str:
    """Key in the restore target: unchanged, or under <bucket>/ when several buckets go into one."""
    return f"{bucket}/{key}" if multi_bucket_target else key


def tag_tokens(tags: Mapping) -> list:
    """Tags URL-encoded like Go's url.Values (MinIO's stored form), as sorted (key, value) pairs.
    Equal to a listing's tokens means equal tags (the encoding is one-to-one); a client that encoded
    its tags otherwise only makes them look changed, and they are then read with a request."""
    quote = urllib.parse.quote_plus
    return sorted((quote(str(k), safe=""), quote(str(v), safe="")) for k, v in tags.items())


def same_listed_tags(entry: Mapping, listed: Mapping | None) -> bool:
    """True when an entry carried over from the previous run has the tags the listing shows."""
    return (listed is not None and "tags" in entry and "tag_tokens" in listed
            and tag_tokens(entry["tags"] or {}) == [tuple(t) for t in listed["tag_tokens"]])
