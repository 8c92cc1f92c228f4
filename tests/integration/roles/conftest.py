"""One converged edge stack (minio_server, minio_config, traefik, backend_env) for this folder.

Converging costs about a minute, so every suite here that only needs a running stack shares it:
the role tests (test_edge_roles.py), the public-route tests (attacks, differential transparency,
KoproGo's client) and the console browser test. Suites that change the stack put it back.
"""

from __future__ import annotations

import secrets

import pytest
from helpers.edge_stack import Stack
from helpers.minio_server import MINIO_BIN
from helpers.systemd_host import SystemdHost


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    if not MINIO_BIN.exists():
        pytest.skip("run `make minio` first")
    workdir = tmp_path_factory.mktemp("edge")
    host = SystemdHost("kp-test-edge-" + secrets.token_hex(3)).start()
    try:
        s = Stack(host, workdir)
        s.first = s.run(verbosity=1, json_output=False)
        s.second = s.run() if s.first.rc == 0 else None
        s.check = s.run(check=True) if s.first.rc == 0 else None
        yield s
    finally:
        host.stop()
