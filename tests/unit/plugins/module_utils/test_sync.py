"""Table-driven tests of the pure s3_sync decisions (plugins/module_utils/_sync.py)."""

from __future__ import annotations

import pytest
from ansible_collections.koprogo.storage.plugins.module_utils import _sync as s

S3 = {"endpoint": "http://127.0.0.1:9000", "bucket": "docs", "access_key": "ak", "secret_key": "sk",
      "addressing_style": "auto", "prefix": ""}


@pytest.mark.parametrize("prefix, expected", [
    (None, ""), ("", ""), ("  ", ""), ("documents", "documents/"), ("documents/", "documents/"),
    ("a/b", "a/b/"), ("a/b//", "a/b/"), ("\u00e9t\u00e9", "\u00e9t\u00e9/"),
])
def test_normalize_prefix(prefix, expected):
    assert s.normalize_prefix(prefix) == expected


@pytest.mark.parametrize("prefix, reason", [
    ("/documents", "leading"), ("a//b", "empty"), ("a/../b", "'..'"), ("./a", "'.'"),
])
def test_normalize_prefix_refused(prefix, reason):
    with pytest.raises(s.SyncError, match=reason):
        s.normalize_prefix(prefix)


@pytest.mark.parametrize("location, role, allow_dir, fragments", [
    (S3, "source", True, []),
    ({"path": "/srv/uploads", "prefix": ""}, "source", True, []),
    ({"path": "/srv/uploads"}, "target", False, ["the source or the target, not both"]),
    ({"path": "uploads"}, "source", True, ["must be absolute"]),
    ({**S3, "path": "/srv"}, "source", True, ["not both"]),
    ({**S3, "secret_key": ""}, "target", False, ["target: secret_key is required"]),
    ({"endpoint": "http://x"}, "target", False,
     ["bucket is required", "access_key is required", "secret_key is required"]),
    ({**S3, "prefix": "/x"}, "target", False, ["leading slash"]),
    ({**S3, "addressing_style": "dns"}, "target", False, ["addressing_style"]),
])
def test_validate_location(location, role, allow_dir, fragments):
    assert_errors(s.validate_location(location, role, allow_dir), fragments)


def assert_errors(errors, fragments):
    """One message per expected fragment, each fragment in one of them."""
    assert len(errors) == len(fragments), errors
    for fragment in fragments:
        assert any(fragment in error for error in errors), errors


@pytest.mark.parametrize("source, target, same", [
    (S3, S3, True),
    (S3, {**S3, "prefix": "copy"}, True),  # the target prefix is inside the source's
    ({**S3, "prefix": "a"}, {**S3, "prefix": "b"}, False),
    ({**S3, "prefix": "a"}, {**S3, "prefix": "ab"}, False),
    (S3, {**S3, "bucket": "other"}, False),
    (S3, {**S3, "endpoint": "http://127.0.0.1:9001"}, False),
    ({"path": "/srv"}, S3, False),
])
def test_same_place(source, target, same):
    assert s.same_place(source, target) is same


@pytest.mark.parametrize("mib, ok", [(4, False), (5, True), (64, True), (5120, True), (5121, False)])
def test_part_size(mib, ok):
    assert (s.validate_part_size(mib) is None) is ok


@pytest.mark.parametrize("key, source_prefix, target_prefix, expected", [
    ("documents/b/x.pdf", "documents/", "", "b/x.pdf"),
    ("b/x.pdf", "", "documents/", "documents/b/x.pdf"),
    ("documents/b/x.pdf", "documents/", "archive/", "archive/b/x.pdf"),
    ("documents/\t\u0001\u201b", "documents/", "d/", "d/\t\u0001\u201b"),
])
def test_map_key(key, source_prefix, target_prefix, expected):
    assert s.map_key(key, source_prefix, target_prefix) == expected


def test_map_key_outside_prefix():
    with pytest.raises(s.SyncError):
        s.map_key("other/x", "documents/", "")


@pytest.mark.parametrize("relative, expected", [
    ("b1/uuid_name.pdf", "b1/uuid_name.pdf"),
    ("b1/uuid_nom avec espace \u00e9.pdf", "b1/uuid_nom avec espace \u00e9.pdf"),
    ("top.txt", "top.txt"),
])
def test_local_key(relative, expected):
    assert s.local_key(relative) == expected


@pytest.mark.parametrize("key, reason", [
    ("ok/\u00e9", None),
    ("", "empty"),
    ("a" * 1025, "1025 bytes"),
    ("\u00e9" * 513, "1026 bytes"),
    ("bad\udcff", "not valid UTF-8"),
])
def test_check_key(key, reason):
    why = s.check_key(key)
    assert (why is None) if reason is None else (reason in why)


def test_entry_from_headers_and_put_arguments_round_trip():
    headers = {"Content-Type": "application/pdf", "content-disposition": "attachment", "ETag": '"x"',
               "X-Amz-Meta-Owner": "alice", "x-amz-meta-b": "2", "Cache-Control": "no-cache"}
    entry = s.entry_from_headers(headers)
    assert entry == {"content_type": "application/pdf", "content_encoding": None, "content_disposition": "attachment",
                     "cache_control": "no-cache", "content_language": None, "metadata": {"b": "2", "owner": "alice"}}
    content_type, metadata = s.put_arguments(entry)
    assert content_type == "application/pdf"
    assert metadata == {"Content-Disposition": "attachment", "Cache-Control": "no-cache", "x-amz-meta-b": "2",
                        "x-amz-meta-owner": "alice"}


def test_put_arguments_default_type():
    assert s.put_arguments({"metadata": {}}) == (s.DEFAULT_CONTENT_TYPE, {})


BASE = {"size": 3, "sha256": "ab", "content_type": "text/plain", "metadata": {"a": "1"}, "tags": {"t": "1"}}


@pytest.mark.parametrize("change, fields", [
    ({}, []),
    ({"size": 4}, ["size"]),
    ({"sha256": "cd"}, ["sha256"]),
    ({"content_type": "application/pdf"}, ["content_type"]),
    ({"content_encoding": "gzip"}, ["content_encoding"]),
    ({"content_disposition": "inline"}, ["content_disposition"]),
    ({"cache_control": "no-cache"}, ["cache_control"]),
    ({"content_language": "fr-BE"}, ["content_language"]),
    ({"metadata": {}}, ["metadata"]),
    ({"metadata": None, "tags": None}, ["metadata", "tags"]),
    ({"tags": {"t": "2"}}, ["tags"]),
])
def test_differences(change, fields):
    assert s.differences(BASE, {**BASE, **change}) == fields


def test_missing_and_empty_maps_are_equal():
    assert s.differences({**BASE, "tags": None}, {**BASE, "tags": {}}) == []


@pytest.mark.parametrize("mapping, target, compared, delete_extra, expected", [
    ({}, {}, {}, False, {"copy": [], "unchanged": [], "delete": [], "extra": []}),
    ({"a": "a"}, {}, {}, False, {"copy": [("a", "missing")], "unchanged": [], "delete": [], "extra": []}),
    ({"a": "a", "b": "b"}, {"a": 1, "b": 1}, {"a": [], "b": ["sha256"]}, False,
     {"copy": [("b", "differs: sha256")], "unchanged": ["a"], "delete": [], "extra": []}),
    ({"a": "a"}, {"a": 1, "z": 1}, {"a": []}, False, {"copy": [], "unchanged": ["a"], "delete": [], "extra": ["z"]}),
    ({"a": "a"}, {"a": 1, "z": 1}, {"a": []}, True, {"copy": [], "unchanged": ["a"], "delete": ["z"], "extra": []}),
])
def test_plan(mapping, target, compared, delete_extra, expected):
    assert s.plan(mapping, target, compared, delete_extra) == expected


def test_verification():
    result = s.verification({"a": "a", "b": "b", "c": "c"}, {"a", "b"}, {"a": [], "b": ["tags"]})
    assert result == {"missing": ["c"], "mismatched": [{"key": "b", "fields": ["tags"]}]}


def test_failure_message_says_what_is_done():
    text = s.failure_message(3, 10, [{"key": "k", "error": "boom"}], [], [])
    assert "copied 3 of 10" in text and "1 failed" in text and "'k': boom" in text and "run again" in text
    assert "2 missing" in s.failure_message(0, 0, [], ["x", "y"], [])


@pytest.mark.parametrize("etag, plain", [
    ('"0cc175b9c0f1b6a831c399e269772661"', "0cc175b9c0f1b6a831c399e269772661"),
    ("0CC175B9C0F1B6A831C399E269772661", "0cc175b9c0f1b6a831c399e269772661"),
    ('"9b2cf535f27731c974343645a3985328-2"', None), ("", None), (None, None),
])
def test_plain_etag(etag, plain):
    assert s.plain_etag(etag) == plain


MD5 = "0cc175b9c0f1b6a831c399e269772661"


@pytest.mark.parametrize("source, target, same", [
    ({"size": 1, "etag": MD5}, {"size": 1, "etag": f'"{MD5}"'}, True),
    ({"size": 1, "etag": MD5}, {"size": 2, "etag": MD5}, False),
    ({"size": 1, "etag": MD5}, {"size": 1, "etag": "ffff"}, False),
    ({"size": 1, "etag": MD5 + "-2"}, {"size": 1, "etag": MD5 + "-2"}, False),  # multipart: read both sides
    ({"size": 1, "etag": None}, {"size": 1, "etag": MD5}, False),
])
def test_same_by_etag(source, target, same):
    assert s.same_by_etag(source, target) is same


MIB = 1024 * 1024


@pytest.mark.parametrize("length, part_size, parts", [
    (0, 5 * MIB, [0]),
    (1, 5 * MIB, [1]),
    (5 * MIB, 5 * MIB, [5 * MIB]),  # exactly one part: a single PUT
    (5 * MIB + 1, 5 * MIB, [5 * MIB, 1]),
    (12 * MIB, 5 * MIB, [5 * MIB, 5 * MIB, 2 * MIB]),
    (10 * MIB, 5 * MIB, [5 * MIB, 5 * MIB]),
])
def test_part_lengths(length, part_size, parts):
    assert s.part_lengths(length, part_size) == parts


def _md5(data):
    import hashlib
    return hashlib.md5(data, usedforsecurity=False).digest()


@pytest.mark.parametrize("data, part_size, etag", [
    (b"", 5 * MIB, "d41d8cd98f00b204e9800998ecf8427e"),
    (b"hello", 5 * MIB, "5d41402abc4b2a76b9719d911017c592"),
    (b"a", 5 * MIB, MD5),
    # what MinIO answered for 6 MiB of "z" sent by the minio SDK in 5 MiB parts
    (b"z" * 6 * MIB, 5 * MIB, "17a1fae25f59d77c247980f586867028-2"),
])
def test_etag_of_parts(data, part_size, etag):
    parts, offset = [], 0
    for length in s.part_lengths(len(data), part_size):
        parts.append(_md5(data[offset:offset + length]))
        offset += length
    assert s.etag_of_parts(parts) == etag


@pytest.mark.parametrize("listed, tags", [
    (None, {}),
    ({}, {}),
    ({"kind": "invoice"}, {"kind": "invoice"}),
    # as MinIO's listing extension spells {"a b": "c=d", "k.": "v 1/x@y:z+w"}
    ({"a%20b": "c%3Dd", "k.": "v%201%2Fx%40y%3Az%2Bw"}, {"a b": "c=d", "k.": "v 1/x@y:z+w"}),
    ({"a+b": "%C3%A9"}, {"a b": "\u00e9"}),
])
def test_listed_tags(listed, tags):
    assert s.listed_tags(listed) == tags


ETAG_BASE = {**{k: v for k, v in BASE.items() if k != "sha256"}, "etag": MD5}


@pytest.mark.parametrize("change, fields", [
    ({}, []),
    ({"etag": f'"{MD5.upper()}"'}, []),  # quotes and case are the server's spelling
    ({"etag": MD5 + "-2"}, ["etag"]),
    ({"etag": None}, ["etag"]),
    ({"sha256": "other"}, []),  # not compared: the ETag stands for the bytes
    ({"size": 4, "content_type": "application/pdf"}, ["size", "content_type"]),
    ({"metadata": {"m": "2"}, "tags": {}}, ["metadata", "tags"]),
])
def test_differences_by_etag(change, fields):
    assert s.differences(ETAG_BASE, {**ETAG_BASE, **change}, s.ETAG_FIELDS) == fields


@pytest.mark.parametrize("mode, value, error", [
    (None, 0o640, None), ("", 0o640, None), ("0640", 0o640, None), ("600", 0o600, None), (0o600, 0o600, None),
    ("rw", None, "not an octal"), ("17777", None, "not a file mode"),
])
def test_parse_mode(mode, value, error):
    got, message = s.parse_mode(mode)
    assert got == value
    assert (message is None) if error is None else error in message


@pytest.mark.parametrize("source, target, delete_extra, fragments", [
    (S3, {"path": "/srv/uploads"}, False, []),
    (S3, {"path": "/srv/uploads", "owner": "1000", "group": "1000", "mode": "0640"}, False, []),
    (S3, {"path": "/srv/uploads", "prefix": "documents"}, False, ["prefix cannot be used with path"]),
    (S3, {"path": "/srv/uploads"}, True, ["delete_extra is refused"]),
    (S3, {"path": "/srv/uploads", "mode": "abc"}, False, ["not an octal"]),
    (S3, {**S3, "owner": "1000"}, False, ["target: owner only applies"]),
    ({"path": "/srv", "mode": "0644"}, S3, False, ["source: mode only applies"]),
])
def test_validate_local_target(source, target, delete_extra, fragments):
    assert_errors(s.validate_local_target(source, target, delete_extra), fragments)


@pytest.mark.parametrize("keys, refused", [
    (["b1/u_x.pdf", "documents/b2/u_y.pdf", "caf\u00e9 \u2019.txt"], []),
    (["../etc/passwd"], [("../etc/passwd", "'..'")]),
    (["a/../../x"], [("a/../../x", "'..'")]),
    (["./x"], [("./x", "'.'")]),
    (["/etc/passwd"], [("/etc/passwd", "absolute")]),
    (["a//b"], [("a//b", "empty segment")]),
    (["dir/"], [("dir/", "empty segment")]),
    ([""], [("", "empty segment")]),
    (["a\u0000b"], [("a\u0000b", "NUL")]),
    (["n" * 256], [("n" * 256, "longer than 255")]),
    (["a", "a/b"], [("a", "directory of another key")]),
])
def test_local_target_problems(keys, refused):
    got = s.local_target_problems(keys)
    assert [key for key, _why in got] == [key for key, _why in refused]
    for (_key, why), (_same, fragment) in zip(got, refused):
        assert fragment in why, why


def test_a_local_target_is_never_the_same_place_as_a_bucket():
    assert s.same_place(S3, {"path": "/srv/uploads"}) is False
