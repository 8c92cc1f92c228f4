"""Shared pytest fixtures: real MinIO servers on 127.0.0.1 and an ansible-playbook runner."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# `make setup` links this checkout as ansible_collections/koprogo/storage under the cache.
_CACHE = Path(os.environ.get("KOPROGO_CACHE", Path(__file__).resolve().parents[1] / ".cache"))
sys.path.insert(0, str(_CACHE / "collections"))

from helpers.ansible_run import run_tasks  # noqa: E402
from helpers.minio_server import MinioServer  # noqa: E402


@pytest.fixture(scope="session")
def minio():
    """A single-drive MinIO server shared by the session (tests use unique names)."""
    server = MinioServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def minio_kms():
    """A MinIO server with a static KMS key (MINIO_KMS_SECRET_KEY), for SSE tests."""
    server = MinioServer(kms=True).start()
    yield server
    server.stop()


@pytest.fixture
def play(tmp_path, minio):
    """play(tasks, check=False, diff=False, ...) runs tasks on localhost against the `minio` server."""

    def _run(tasks, server=None, **kwargs):
        target = server or minio
        return run_tasks(tasks, tmp_path=tmp_path, connection=target.connection, **kwargs)

    return _run


@pytest.fixture
def unique_name(request):
    """A short S3-valid name unique to this test."""
    import secrets

    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:30].strip("-")
    return f"{base}-{secrets.token_hex(3)}"


# Tests that need KoproGo's Rust client probe or Docker Compose run last: on a fresh machine their
# first builds take about 11 and 4 min, and make-test.sh starts them beside the suites, so they are
# done (or nearly) by the time the tests ask for them. Whole files and folders move, a file only to
# the end of its own folder, so module- and package-scoped fixtures (the shared edge stack) are
# still built once.
_LAST_IN_FOLDER = ("tests/integration/roles/test_koprogo_client.py",)
_LAST_FOLDERS = ("tests/integration/compose/",)


def pytest_collection_modifyitems(items):
    folders: dict = {}  # folder -> the order it was first collected in

    def rank(item):
        path = item.path.as_posix()
        folder = folders.setdefault(path.rsplit("/", 1)[0], len(folders))
        return (any(f"/{last}" in path for last in _LAST_FOLDERS), folder, path.endswith(_LAST_IN_FOLDER))

    items.sort(key=rank)
