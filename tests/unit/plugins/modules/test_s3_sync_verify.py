"""How s3_sync verifies the objects it copied (mocked reads): from the target's listing, a HEAD, or a read-back."""

from __future__ import annotations

import pytest
from ansible_collections.koprogo.storage.plugins.modules import s3_sync as mod

MD5 = "0cc175b9c0f1b6a831c399e269772661"
COPIED = {"size": 1, "sha256": "ab", "etag": MD5, "content_type": "application/pdf", "content_encoding": None,
          "content_disposition": "attachment", "cache_control": None, "content_language": None,
          "metadata": {"building": "b1"}, "tags": {"kind": "invoice"}}


class FakeModule:
    check_mode = False
    _diff = False


def manager(verify="etag", tags=True):
    location = {name: spec.get("default") for name, spec in mod.location_spec().items()}
    params = {name: spec.get("default") for name, spec in mod.argument_spec().items()}
    params.update(verify=verify, tags=tags,
                  source=dict(location, endpoint="http://127.0.0.1:9", bucket="src", access_key="a", secret_key="s1"),
                  target=dict(location, endpoint="http://127.0.0.1:9", bucket="dst", access_key="a", secret_key="s2"))
    return mod.SyncManager(FakeModule(), mod.SyncParameters(params))


@pytest.fixture
def reads(monkeypatch):
    calls = {"list": 0, "head": [], "get": []}

    def listing(conn, bucket, prefix, with_metadata=False):
        calls["list"] += 1
        return calls.get("listing", {})

    def head(conn, bucket, key, with_tags=True, listed=None):
        calls["head"].append(key)
        return calls["target"]

    def get(conn, bucket, key, with_tags=True, listed=None):
        calls["get"].append((key, listed is not None))
        return calls["target"]
    monkeypatch.setattr(mod, "list_bucket", listing)
    monkeypatch.setattr(mod, "head_s3", head)
    monkeypatch.setattr(mod, "read_s3", get)
    return calls


@pytest.mark.parametrize("listed_change, fields", [
    ({}, []),
    ({"etag": f'"{MD5.upper()}"'}, []),
    ({"etag": "ffff"}, ["etag"]),  # the target did not store the bytes that were sent
    ({"etag": MD5 + "-2"}, ["etag"]),
    ({"size": 2}, ["size"]),
    ({"content_disposition": None, "metadata": {}}, ["content_disposition", "metadata"]),
    ({"tags": {}}, ["tags"]),
])
def test_verified_from_the_listing(reads, listed_change, fields):
    listed = {k: v for k, v in COPIED.items() if k != "sha256"}
    reads["listing"] = {"k": {"size": 1, "etag": MD5, "listed": {**listed, **listed_change}}}
    assert manager().verify_copies({"k": dict(COPIED)}, 1, []) == {"k": fields}
    assert reads["list"] == 1 and reads["head"] == [] and reads["get"] == []


def test_without_the_listing_extension_each_object_is_asked(reads):
    reads["listing"] = {"k": {"size": 1, "etag": MD5}}  # a server that ignored metadata=true
    reads["target"] = {**COPIED, "sha256": None, "etag": "other"}
    assert manager().verify_copies({"k": dict(COPIED)}, 1, []) == {"k": ["etag"]}
    assert reads["head"] == ["k"]


def test_a_vanished_target_object_is_missing(reads):
    reads["target"] = None
    assert manager().verify_copies({"k": dict(COPIED)}, 1, []) == {"k": ["missing"]}


def test_few_copies_among_many_objects_are_not_listed_again(reads):
    reads["target"] = dict(COPIED)
    assert manager().verify_copies({"k": dict(COPIED)}, 1000, []) == {"k": []}
    assert reads["list"] == 0 and reads["head"] == ["k"]


def test_verify_full_reads_the_bytes_back(reads):
    listed = {k: v for k, v in COPIED.items() if k != "sha256"}
    reads["listing"] = {"k": {"size": 1, "etag": MD5, "listed": listed}}
    reads["target"] = {**COPIED, "sha256": "cd"}
    assert manager("full").verify_copies({"k": dict(COPIED)}, 1, []) == {"k": ["sha256"]}
    assert reads["get"] == [("k", True)] and reads["head"] == []  # tags from the listing


def test_tags_not_compared_when_off(reads):
    listed = {k: v for k, v in COPIED.items() if k != "sha256"}
    reads["listing"] = {"k": {"size": 1, "etag": MD5, "listed": {**listed, "tags": {"other": "1"}}}}
    assert manager(tags=False).verify_copies({"k": {**COPIED, "tags": None}}, 1, []) == {"k": []}
