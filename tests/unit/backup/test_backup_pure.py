"""Table-driven tests of koprogo_backup's pure parts: manifest fields and comparison, key handling,
run stamps and retention decisions."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from koprogo_backup import manifest as mf
from koprogo_backup import retention
from koprogo_backup.common import printable

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
BLOB = {c: c * 64 for c in "abcdef"}

ODD_KEYS = [
    "tab\there", "cr\rhere", "lf\nhere", "del\x7fhere", "soh\x01here", "quote\u201bhere",
    unicodedata.normalize("NFC", "caf\u00e9.pdf"), unicodedata.normalize("NFD", "caf\u00e9.pdf"),
    "/leading", "a//b", "100%", "a+b", "what?", "#hash", "trailing/", "x" * 1024,
]


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Content-Type": "image/jpeg", "ETag": '"x"'},
     {"content_type": "image/jpeg", "content_encoding": None, "content_disposition": None, "cache_control": None,
      "content_language": None, "metadata": {}}),
    ({"content-type": "text/plain", "Content-Encoding": "gzip", "Content-Disposition": 'attachment; filename="a b"',
      "Cache-Control": "no-cache", "Content-Language": "fr-BE", "X-Amz-Meta-Owner": "lot 4",
      "x-amz-meta-Building": "B"},
     {"content_type": "text/plain", "content_encoding": "gzip", "content_disposition": 'attachment; filename="a b"',
      "cache_control": "no-cache", "content_language": "fr-BE", "metadata": {"building": "B", "owner": "lot 4"}}),
    ({}, {"content_type": None, "content_encoding": None, "content_disposition": None, "cache_control": None,
          "content_language": None, "metadata": {}}),
])
def test_metadata_from_headers(headers, expected):
    assert mf.metadata_from_headers(headers) == expected


@pytest.mark.parametrize(("entry", "content_type", "headers"), [
    ({"content_type": "image/jpeg", "metadata": {}}, "image/jpeg", {}),
    ({"content_type": None}, "application/octet-stream", {}),
    ({"content_type": "text/html", "content_encoding": "gzip", "cache_control": "max-age=60",
      "content_disposition": "inline", "content_language": None, "metadata": {"owner": "lot 4"}},
     "text/html", {"Content-Encoding": "gzip", "Cache-Control": "max-age=60", "Content-Disposition": "inline",
                   "x-amz-meta-owner": "lot 4"}),
])
def test_put_headers(entry, content_type, headers):
    assert mf.put_headers(entry) == (content_type, headers)


def test_put_headers_round_trip_through_metadata_from_headers():
    entry = {"content_type": "application/pdf", "content_encoding": "br", "content_disposition": "attachment",
             "cache_control": "private", "content_language": "nl", "metadata": {"a": "1", "b-c": "2"}}
    content_type, headers = mf.put_headers(entry)
    assert mf.metadata_from_headers({"Content-Type": content_type, **headers}) == entry


BASE = {"size": 3, "sha256": BLOB["a"], "content_type": "text/plain", "content_encoding": None,
        "content_disposition": None, "cache_control": None, "content_language": None,
        "metadata": {"k": "v"}, "tags": {"t": "1"}}


@pytest.mark.parametrize(("change", "fields"), [
    ({}, []),
    ({"etag": "other", "version_id": "v2", "last_modified": "later"}, []),  # not fidelity fields
    ({"sha256": BLOB["b"]}, ["sha256"]),
    ({"size": 4, "sha256": BLOB["b"]}, ["size", "sha256"]),
    ({"content_type": "application/octet-stream"}, ["content_type"]),
    ({"metadata": {"k": "v", "mtime": "1"}}, ["metadata"]),
    ({"metadata": {}}, ["metadata"]),
    ({"tags": {}}, ["tags"]),
    ({"tags": None}, ["tags"]),
    ({"cache_control": "no-store", "content_disposition": "inline"}, ["content_disposition", "cache_control"]),
])
def test_differences(change, fields):
    assert mf.differences(BASE, {**BASE, **change}) == fields


def test_no_tags_equals_empty_tags():
    assert mf.differences({**BASE, "tags": {}}, {**BASE, "tags": None}) == []


def test_manifest_keeps_every_odd_key_exactly():
    listing = {"docs": {key: {"size": 1, "sha256": BLOB["a"]} for key in ODD_KEYS}}
    manifest = mf.build("20260301T120000Z", "2026-03-01T12:00:00+00:00", "http://127.0.0.1:9000", listing)
    data = mf.dumps(manifest)
    back = mf.loads(data)
    assert [o["key"] for o in back["objects"]] == sorted(ODD_KEYS)
    assert len({o["key"] for o in back["objects"]}) == len(ODD_KEYS)  # NFC and NFD stay two keys
    assert data == mf.dumps(back)  # deterministic bytes
    assert b"\t" not in __import__("gzip").decompress(data)  # control characters escaped in the JSON


@pytest.mark.parametrize("data", [b'{"format": "koprogo-backup-manifest/1", "objects": []}', b"[]", b"{}"])
def test_loads_refuses_other_formats(data):
    with pytest.raises(ValueError, match="manifest format"):
        mf.loads(data)


@pytest.mark.parametrize(("listed", "recorded", "gone", "problems"), [
    ({"d": {"a", "b"}}, {"d": {"a", "b"}}, {}, []),
    ({"d": {"a", "b"}}, {"d": {"a"}}, {"d": {"b"}}, []),
    ({"d": {"a", "tab\tkey"}}, {"d": {"a"}}, {}, [("d", "tab\tkey")]),
    ({"d": {"a"}, "e": {"x"}}, {"d": {"a"}}, {}, [("e", "x")]),
    ({"d": set()}, {}, {}, []),
])
def test_count_problems(listed, recorded, gone, problems):
    assert mf.count_problems(listed, recorded, gone) == problems


def test_compare_live():
    manifest = {"a": {"etag": "1", "size": 1}, "b": {"etag": "2", "size": 2}, "c": {"etag": "3", "size": 3}}
    live = {"a": {"etag": "1", "size": 1}, "b": {"etag": "9", "size": 2}, "d": {"etag": "4", "size": 4}}
    expected = {"only_in_manifest": ["c"], "only_in_live": ["d"], "changed_since": ["b"]}
    assert mf.compare_live(manifest, live) == expected


@pytest.mark.parametrize(("key", "bucket", "multi", "expected"), [
    ("a/b", "docs", False, "a/b"),
    ("a/b", "docs", True, "docs/a/b"),
    ("/leading", "docs", True, "docs//leading"),
    ("tab\t", "docs", False, "tab\t"),
])
def test_target_key(key, bucket, multi, expected):
    assert mf.target_key(key, bucket, multi) == expected


@pytest.mark.parametrize(("text", "shown"), [
    ("plain/key.pdf", "plain/key.pdf"),
    ("tab\there", "tab\\x09here"),
    ("cr\rlf\n", "cr\\x0dlf\\x0a"),
    ("del\x7f soh\x01", "del\\x7f soh\\x01"),
    ("caf\u00e9 \u201b", "caf\u00e9 \u201b"),
    ("c1\x85", "c1\\x85"),
])
def test_printable(text, shown):
    assert printable(text) == shown


@pytest.mark.parametrize(("previous", "now", "stamp", "wait"), [
    ([], NOW, "20260301T120000Z", 0.0),
    ([None, "garbage"], NOW, "20260301T120000Z", 0.0),
    (["20260301T115959Z"], NOW, "20260301T120000Z", 0.0),
    (["20260301T120000Z"], NOW, "20260301T120001Z", 1.0),
    (["20260301T120000Z"], NOW + dt.timedelta(milliseconds=400), "20260301T120001Z", 0.6),
    (["20260301T130000Z", "20260301T120000Z"], NOW, "20260301T130001Z", 3601.0),  # clock behind
])
def test_next_stamp(previous, now, stamp, wait):
    got_stamp, got_wait = retention.next_stamp(previous, now)
    assert got_stamp == stamp
    assert got_wait == pytest.approx(wait)


@pytest.mark.parametrize(("last_seen", "offsite", "referenced", "expected"), [
    ({}, [], [], {}),
    ({}, [BLOB["a"]], [], {BLOB["a"]: "S"}),  # unknown blob offsite: kept a full retention from now
    ({BLOB["a"]: "OLD"}, [BLOB["a"]], [], {BLOB["a"]: "OLD"}),
    ({BLOB["a"]: "OLD"}, [BLOB["a"]], [BLOB["a"]], {BLOB["a"]: "S"}),
    ({BLOB["a"]: "OLD"}, [], [], {}),  # gone offsite: forgotten
    ({}, [], [BLOB["b"]], {BLOB["b"]: "S"}),
])
def test_refresh_last_seen(last_seen, offsite, referenced, expected):
    assert retention.refresh_last_seen(last_seen, offsite, referenced, "S") == expected


@pytest.mark.parametrize(("last_seen", "referenced", "days", "expected"), [
    ({BLOB["a"]: "20260101T000000Z"}, [], 30, [BLOB["a"]]),
    ({BLOB["a"]: "20260101T000000Z"}, [BLOB["a"]], 30, []),  # still needed now
    ({BLOB["a"]: "20260215T000000Z"}, [], 30, []),  # needed within the retention
    ({BLOB["a"]: "garbage"}, [], 30, []),  # unreadable stamp: never pruned
    ({"not-a-blob": "20000101T000000Z"}, [], 30, []),
    ({BLOB["a"]: "20260130T120000Z", BLOB["b"]: "20260130T115959Z"}, [], 30, [BLOB["b"]]),  # boundary
])
def test_blobs_to_prune(last_seen, referenced, days, expected):
    assert retention.blobs_to_prune(last_seen, referenced, NOW, days) == expected


def name(stamp):
    return f"manifest-{stamp}.json.gz.gpg"


@pytest.mark.parametrize(("names", "days", "expected"), [
    ([], 14, []),
    ([name("20200101T000000Z")], 14, []),  # the newest is always kept
    ([name("20200101T000000Z"), name("20260228T000000Z")], 14, [name("20200101T000000Z")]),
    ([name("20260220T000000Z"), name("20260228T000000Z")], 14, []),
    ([name("20200101T000000Z"), "other.txt", name("20260228T000000Z")], 14, [name("20200101T000000Z")]),
    ([name("20200101T000000Z") + ".part", name("20260228T000000Z")], 14, []),
])
def test_manifests_to_prune(names, days, expected):
    assert retention.manifests_to_prune(names, NOW, days) == expected


@pytest.mark.parametrize(("tags", "tokens"), [
    ({}, []),
    ({"kind": "deed"}, [("kind", "deed")]),
    ({"b": "2", "a": "1"}, [("a", "1"), ("b", "2")]),
    ({"state": "signed by syndic"}, [("state", "signed+by+syndic")]),
    ({"k&=": "v+%/é"}, [("k%26%3D", "v%2B%25%2F%C3%A9")]),
    ({"safe-_.~": "x"}, [("safe-_.~", "x")]),
])
def test_tag_tokens_encode_like_go_url_values(tags, tokens):
    assert mf.tag_tokens(tags) == tokens


@pytest.mark.parametrize(("entry", "listed", "same"), [
    ({"tags": {"a b": "c"}}, {"tag_tokens": [["a+b", "c"]]}, True),
    ({"tags": {}}, {"tag_tokens": []}, True),
    ({"tags": {}}, {"tag_tokens": [["a", "1"]]}, False),          # tagged since the last run
    ({"tags": {"a": "1"}}, {"tag_tokens": []}, False),            # untagged since
    ({"tags": {"a": "1"}}, {"tag_tokens": [["a", "2"]]}, False),  # changed
    ({"tags": {"a b": "c"}}, {"tag_tokens": [["a%20b", "c"]]}, False),  # other spelling: read, never guessed
    ({}, {"tag_tokens": []}, False),                              # read this run: no tags recorded yet
    ({"tags": {}}, {}, False),                                    # listing without tags (fallback)
    ({"tags": {}}, None, False),
])
def test_same_listed_tags(entry, listed, same):
    assert mf.same_listed_tags(entry, listed) is same
