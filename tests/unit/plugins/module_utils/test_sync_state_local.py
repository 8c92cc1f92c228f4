"""copy_to_local, the write of one object into a local directory target: the final name only ever holds
the complete bytes; a failed read leaves neither a file nor a temporary behind."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from ansible_collections.koprogo.storage.plugins.module_utils import _sync_state as state
from ansible_collections.koprogo.storage.plugins.module_utils._minio import MinioError


class Response:
    def __init__(self, data, fail_after=None, etag=None):
        self.body, self.fail_after = io.BytesIO(data), fail_after
        self.headers = {"Content-Length": str(len(data)),
                        "ETag": etag or hashlib.md5(data, usedforsecurity=False).hexdigest()}

    def read(self, size, decode_content=False):
        if self.fail_after is not None and self.body.tell() >= self.fail_after:
            raise OSError(104, "connection reset")
        return self.body.read(size)

    def close(self):
        pass

    def release_conn(self):
        pass


class Source:
    endpoint = "http://127.0.0.1:9"

    def __init__(self, response):
        self.response = response

    def try_call(self, _label, function, missing=()):
        return function()

    @property
    def s3(self):
        return self

    def get_object(self, _bucket, _key):
        return self.response


def files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_written_through_a_renamed_temporary(tmp_path):
    data = os.urandom(3 * state.CHUNK + 5)
    got = state.copy_to_local(Source(Response(data)), "b", "documents/b1/x.pdf", str(tmp_path), "documents/b1/x.pdf",
                              mode=0o640)
    assert got == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert (tmp_path / "documents/b1/x.pdf").read_bytes() == data
    assert (tmp_path / "documents/b1/x.pdf").stat().st_mode & 0o7777 == 0o640
    assert files(tmp_path) == ["documents/b1/x.pdf"]


@pytest.mark.parametrize("response, message", [
    (Response(b"x" * (2 * state.CHUNK), fail_after=state.CHUNK), "connection reset"),
    (Response(b"abc", etag="0" * 32), "MD5 of the source's ETag"),
])
def test_a_failed_read_leaves_nothing(tmp_path, response, message):
    (tmp_path / "b1").mkdir()
    (tmp_path / "b1/x.pdf").write_bytes(b"previous")
    with pytest.raises(MinioError, match=message):
        state.copy_to_local(Source(response), "b", "b1/x.pdf", str(tmp_path), "b1/x.pdf")
    assert files(tmp_path) == ["b1/x.pdf"] and (tmp_path / "b1/x.pdf").read_bytes() == b"previous"


@pytest.mark.parametrize("owner, group, expected", [(None, None, (-1, -1)), ("0", "", (0, -1)), ("root", "0", (0, 0))])
def test_resolve_owner(owner, group, expected):
    assert state.resolve_owner(owner, group) == expected


def test_resolve_owner_unknown():
    with pytest.raises(MinioError, match="does not exist"):
        state.resolve_owner("kp-no-such-user", None)


def test_a_linked_directory_does_not_take_the_write_elsewhere(tmp_path):
    root, elsewhere = tmp_path / "uploads", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / "b1").symlink_to(elsewhere)
    with pytest.raises(MinioError, match="through a symbolic link"):
        state.copy_to_local(Source(Response(b"abc")), "b", "b1/x.pdf", str(root), "b1/x.pdf")
    assert list(elsewhere.iterdir()) == []
