# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to koprogo.storage: may change without notice.
"""Pure decisions of s3_sync (no SDK, no network): locations, key mapping, fidelity, the plan.

An object is described by an "entry": size, sha256, the Content-* headers, user metadata and tags
(FIDELITY_FIELDS). Two entries are the same object when every fidelity field is equal.
"""

from __future__ import annotations

import hashlib
import posixpath
from urllib.parse import unquote_plus

# entry field -> HTTP header; the minio SDK sends these names as they are (any other name in its
# metadata argument becomes x-amz-meta-<name>)
HEADER_FIELDS = {
    "content_type": "Content-Type",
    "content_encoding": "Content-Encoding",
    "content_disposition": "Content-Disposition",
    "cache_control": "Cache-Control",
    "content_language": "Content-Language",
}
USER_PREFIX = "x-amz-meta-"
FIDELITY_FIELDS = ("size", "sha256", *HEADER_FIELDS, "metadata", "tags")
# what verify=etag compares after a copy: the ETag the target computed stands for the bytes (it must
# equal the MD5, or the multipart MD5, of the bytes read at the source)
ETAG_FIELDS = ("size", "etag", *HEADER_FIELDS, "metadata", "tags")
VERIFY_MODES = ("etag", "full")
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# the S3 limits on a multipart part (providers may set a lower maximum)
MIN_PART_MIB = 5
MAX_PART_MIB = 5 * 1024
MAX_KEY_BYTES = 1024
ADDRESSING_STYLES = ("auto", "path", "virtual")
# a local directory as target keeps the bytes only: these are compared, the others cannot be stored in a
# plain file and are reported as not preserved
LOCAL_FIELDS = ("size", "sha256")
LOCAL_NOT_PRESERVED = (*HEADER_FIELDS, "metadata", "tags")
LOCAL_ONLY_OPTIONS = ("owner", "group", "mode")
MAX_NAME_BYTES = 255


class SyncError(Exception):
    """Bad input, refused before any request."""


def normalize_prefix(prefix):
    """'' or a prefix ending with '/' ('documents' -> 'documents/'); refuses '/x', '..' and empty segments."""
    prefix = (prefix or "").strip()
    if not prefix:
        return ""
    if prefix.startswith("/"):
        raise SyncError(f"prefix '{prefix}' must not start with '/': S3 keys have no leading slash")
    parts = prefix.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise SyncError(f"prefix '{prefix}' has an empty, '.' or '..' segment")
    return "/".join(parts) + "/"


def validate_location(location, role, allow_dir):
    """Check one source/target dict (already typed by the argument spec); returns a list of messages."""
    errors = []
    has_dir = bool(location.get("path"))
    has_s3 = bool(location.get("endpoint") or location.get("bucket"))
    if has_dir and not allow_dir:
        errors.append(f"{role}: a local directory (path) can be the source or the target, not both")
    if has_dir and has_s3:
        errors.append(f"{role}: set either path (a local directory) or endpoint and bucket, not both")
    if not has_dir:
        for name in ("endpoint", "bucket", "access_key", "secret_key"):
            if not location.get(name):
                errors.append(f"{role}: {name} is required")
    elif not location["path"].startswith("/"):
        errors.append(f"{role}: path '{location['path']}' must be absolute")
    if location.get("addressing_style", "auto") not in ADDRESSING_STYLES:
        errors.append(f"{role}: addressing_style must be one of {', '.join(ADDRESSING_STYLES)}")
    try:
        normalize_prefix(location.get("prefix"))
    except SyncError as exc:
        errors.append(f"{role}: {exc}")
    return errors


def parse_mode(mode):
    """(file mode as an int, error or None) from an octal string ('0640', '640') or an int; None -> 0o640."""
    if mode is None or mode == "":
        return 0o640, None
    try:
        value = int(mode, 8) if isinstance(mode, str) else int(mode)
    except ValueError:
        return None, f"target: mode {mode!r} is not an octal file mode such as '0644'"
    if not 0 <= value <= 0o7777:
        return None, f"target: mode {mode!r} is not a file mode"
    return value, None


def validate_local_target(source, target, delete_extra):
    """Messages for the options that only make sense with (or are refused for) a local directory target."""
    errors = [f"source: {name} only applies to a local directory target" for name in LOCAL_ONLY_OPTIONS
              if source.get(name) not in (None, "")]
    if not target.get("path"):
        errors += [f"target: {name} only applies to a local directory target (path)" for name in LOCAL_ONLY_OPTIONS
                   if target.get(name) not in (None, "")]
        return errors
    if (target.get("prefix") or "").strip():
        errors.append("target: prefix cannot be used with path (keys below the source prefix are the file paths)")
    if delete_extra:
        errors.append("delete_extra is refused for a local directory target: files are never deleted there")
    errors += [message for message in [parse_mode(target.get("mode"))[1]] if message]
    return errors


def local_target_problems(keys):
    """[(key, why)] for keys (below the source prefix) that cannot be written as a file under the target
    directory: absolute, with an empty, '.' or '..' segment (a key must never escape the directory), a NUL,
    a name too long for the file system, or a key that is also the directory of another key."""
    directories = set()
    for key in keys:
        parts = key.split("/")
        directories.update("/".join(parts[:end]) for end in range(1, len(parts)))
    problems = []
    for key in sorted(keys):
        parts = key.split("/")
        if key.startswith("/"):
            why = "an absolute path"
        elif any(part in (".", "..") for part in parts):
            why = "a '.' or '..' segment would leave the directory"
        elif any(part == "" for part in parts):
            why = "an empty segment (empty key, '//' or a trailing '/')"
        elif "\x00" in key:
            why = "a NUL character"
        elif any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts):
            why = f"a name longer than {MAX_NAME_BYTES} bytes"
        elif key in directories:
            why = "also the directory of another key"
        else:
            continue
        problems.append((key, why))
    return problems


def same_place(source, target):
    """True when source and target are the same bucket with overlapping prefixes (a sync onto itself)."""
    if source.get("path") or target.get("path"):
        return False
    if source.get("endpoint") != target.get("endpoint") or source.get("bucket") != target.get("bucket"):
        return False
    first, second = normalize_prefix(source.get("prefix")), normalize_prefix(target.get("prefix"))
    return first.startswith(second) or second.startswith(first)


def validate_part_size(mib):
    if not MIN_PART_MIB <= mib <= MAX_PART_MIB:
        return f"part_size_mib must be between {MIN_PART_MIB} and {MAX_PART_MIB} (S3's part size limits), got {mib}"
    return None


def map_key(source_key, source_prefix, target_prefix):
    """Target key of a source key: the source prefix replaced by the target prefix."""
    if not source_key.startswith(source_prefix):
        raise SyncError(f"key {source_key!r} is not under the source prefix {source_prefix!r}")
    return target_prefix + source_key[len(source_prefix):]


def local_key(relative_path):
    """S3 key (below the source prefix) of a file at relative_path (OS separators) under the directory.

    KoproGo's local provider stores '<building>/<uuid>_<name>' relative to UPLOAD_DIR; its S3 provider
    uses the stored value as the key as it is, so the relative path, with '/' separators, is the key.
    """
    key = posixpath.join(*relative_path.replace("\\", "/").split("/"))
    return key


def check_key(key):
    """Why key cannot be an S3 key, or None."""
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8"
    if len(encoded) > MAX_KEY_BYTES:
        return f"the key is {len(encoded)} bytes long (S3 allows {MAX_KEY_BYTES})"
    if not key:
        return "the key is empty"
    return None


def entry_from_headers(headers):
    """Fidelity header fields and user metadata from a GET/HEAD response's headers.

    Absent headers are None; user metadata names are lower-cased (S3 treats them case-insensitively).
    """
    lower = {str(name).lower(): value for name, value in headers.items()}
    entry = {field: lower.get(header.lower()) for field, header in HEADER_FIELDS.items()}
    entry["metadata"] = {name[len(USER_PREFIX):]: value for name, value in sorted(lower.items())
                         if name.startswith(USER_PREFIX)}
    return entry


def put_arguments(entry):
    """(content_type, metadata) for the SDK's put_object: the other Content-* headers as they are,
    user metadata as x-amz-meta-<name>."""
    metadata = {header: entry[field] for field, header in HEADER_FIELDS.items()
                if field != "content_type" and entry.get(field) is not None}
    metadata.update({USER_PREFIX + name: value for name, value in (entry.get("metadata") or {}).items()})
    return entry.get("content_type") or DEFAULT_CONTENT_TYPE, metadata


def fidelity(entry, fields=FIDELITY_FIELDS):
    result = {}
    for field in fields:
        value = entry.get(field)
        if field in ("metadata", "tags"):
            value = dict(value or {})
        elif field == "etag":
            value = (value or "").strip('"').lower() or None
        result[field] = value
    return result


def differences(expected, actual, fields=FIDELITY_FIELDS):
    """Names of the fields that differ (the source's entry against the target's)."""
    want, have = fidelity(expected, fields), fidelity(actual, fields)
    return [field for field in fields if want[field] != have[field]]


def part_lengths(length, part_size):
    """The part lengths the minio SDK's put_object sends for an object of length bytes: one PUT up to
    part_size, else parts of part_size and a shorter last one."""
    if length <= part_size:
        return [length]
    full, rest = divmod(length, part_size)
    return [part_size] * full + ([rest] if rest else [])


def etag_of_parts(part_md5s):
    """The ETag S3 gives an object uploaded in these parts (binary MD5 digests, in order): the MD5 itself
    for a single PUT, else the MD5 of the concatenated part MD5s followed by -<number of parts>."""
    if len(part_md5s) == 1:
        return part_md5s[0].hex()
    return f"{hashlib.md5(b''.join(part_md5s), usedforsecurity=False).hexdigest()}-{len(part_md5s)}"


def listed_tags(tags):
    """Tags as MinIO's listing extension returns them (URL-encoded, split but not decoded by the SDK)."""
    return {unquote_plus(name): unquote_plus(value) for name, value in (tags or {}).items()}


def plain_etag(etag):
    """The ETag without quotes when it is a single-part MD5 (no '-<parts>' suffix), else None."""
    etag = (etag or "").strip('"').lower()
    return etag if etag and "-" not in etag else None


def same_by_etag(source, target):
    """True when two listed objects (size, etag) certainly hold the same bytes: equal sizes and equal
    single-part MD5 ETags. Metadata and tags are not compared (the quick delta mode)."""
    first, second = plain_etag(source.get("etag")), plain_etag(target.get("etag"))
    return source.get("size") == target.get("size") and first is not None and first == second


def classify(source_keys, target_keys):
    """(to_create, common, extra): target keys missing at the target, present on both, only at the target.

    source_keys is the set of source keys already mapped to target keys.
    """
    source_keys, target_keys = set(source_keys), set(target_keys)
    return sorted(source_keys - target_keys), sorted(source_keys & target_keys), sorted(target_keys - source_keys)


def plan(mapping, target_keys, compared, delete_extra):
    """What a run does.

    mapping: {target_key: source_key}; target_keys: keys listed at the target (under its prefix);
    compared: {target_key: [differing fields]} for the keys present on both sides.
    Returns {copy: [(target_key, reason)], unchanged: [...], delete: [...], extra: [...]}.
    """
    to_create, common, extra = classify(mapping, target_keys)
    copy = [(key, "missing") for key in to_create]
    copy += [(key, "differs: " + ", ".join(compared[key])) for key in common if compared.get(key)]
    unchanged = [key for key in common if not compared.get(key)]
    copy.sort()
    return {"copy": copy, "unchanged": unchanged, "delete": extra if delete_extra else [],
            "extra": [] if delete_extra else extra}


def verification(mapping, target_keys, compared):
    """After the writes: missing (source keys absent at the target) and mismatched ({key, fields})."""
    missing = sorted(key for key in mapping if key not in target_keys)
    mismatched = [{"key": key, "fields": compared[key]} for key in sorted(compared)
                  if compared[key] and key in target_keys]
    return {"missing": missing, "mismatched": mismatched}


def failure_message(copied, to_copy, failures, missing, mismatched):
    """One readable sentence on what was done and what is left, for a failed run."""
    parts = [f"copied {copied} of {to_copy} objects"]
    if failures:
        first = failures[0]
        parts.append(f"{len(failures)} failed (first: {first['key']!r}: {first['error']})")
    if missing:
        parts.append(f"{len(missing)} missing at the target")
    if mismatched:
        parts.append(f"{len(mismatched)} differ from the source")
    parts.append("nothing was deleted at the source; run again to finish (objects already copied and "
                 "verified are not copied again)")
    return "; ".join(parts)
