"""The hashing reader s3_sync streams each object through: the ETag it predicts must not depend on how
the SDK slices its reads."""

from __future__ import annotations

import hashlib
import io

import pytest
from ansible_collections.koprogo.storage.plugins.module_utils import _sync_state as state

PART = 5 * 1024 * 1024


@pytest.mark.parametrize("length, read_size", [
    (0, 1024), (1, 1024), (PART, 1024 * 1024), (PART, PART + 1), (PART + 1, 1000003),
    (2 * PART + 7, 3 * 1024 * 1024), (2 * PART, PART),
])
def test_hashing_reader_predicts_the_etag(length, read_size):
    data = bytes(range(256)) * (length // 256) + bytes(length % 256)
    source = io.BytesIO(data)
    reader = state._HashingReader(source.read, length, PART)
    while reader.read(read_size):
        pass
    entry = reader.finish({})
    whole = hashlib.md5(data, usedforsecurity=False)
    if length <= PART:
        expected = whole.hexdigest()
    else:
        parts = [hashlib.md5(data[i:i + PART], usedforsecurity=False).digest() for i in range(0, length, PART)]
        expected = f"{hashlib.md5(b''.join(parts), usedforsecurity=False).hexdigest()}-{len(parts)}"
    assert entry == {"size": length, "sha256": hashlib.sha256(data).hexdigest(), "etag": expected}
    assert reader.md5() == whole.hexdigest()
