"""Servers shared by the migration tests: KoproGo's Compose MinIO and a MinIO standing in for Scaleway.

The collection's MinIO is the session fixture `minio` (tests/conftest.py). Every test uses its own
buckets, so the three servers start once for the whole folder.
"""

from __future__ import annotations

import pytest
from helpers.minio_server import MinioServer


@pytest.fixture(scope="package")
def compose_minio():
    """KoproGo's Compose MinIO: the backend holds its root credentials, documents under documents/."""
    server = MinioServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def scaleway():
    """A third MinIO on 127.0.0.1 standing in for Scaleway / OVH Object Storage (region fr-par)."""
    server = MinioServer(env={"MINIO_REGION": "fr-par"}).start()
    yield server
    server.stop()
