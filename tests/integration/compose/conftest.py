"""The KoproGo-shaped Docker host of the compose mode tests (tests/helpers/compose_host.py)."""

from __future__ import annotations

import pytest
from helpers.compose_host import ComposeHost


# Module scope: pytest tears package-scoped fixtures down late (the containers outlived
# their tests by half an hour); this folder has one test module.
@pytest.fixture(scope="module")
def compose_host(tmp_path_factory):
    host = ComposeHost(tmp_path_factory.mktemp("compose"))
    try:
        host.start_koprogo()
        host.wait_ready()
        host.seed_legacy()
        yield host
    finally:
        host.cleanup()
