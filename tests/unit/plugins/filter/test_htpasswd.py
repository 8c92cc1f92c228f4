"""htpasswd_matches: the traefik role skips its htpasswd module call only on a real bcrypt match."""

from __future__ import annotations

import bcrypt
import pytest
from ansible_collections.koprogo.storage.plugins.filter.htpasswd import FilterModule

matches = FilterModule().filters()["htpasswd_matches"]
HASH = bcrypt.hashpw(b"console-password-1234", bcrypt.gensalt(rounds=4)).decode()


@pytest.mark.parametrize("text, user, password, expected", [
    (f"admin:{HASH}\n", "admin", "console-password-1234", True),
    (f"admin:{HASH}\n", "admin", "console-password-12345", False),
    (f"admin:{HASH}\n", "other", "console-password-1234", False),
    (f"admin:{HASH}\nadmin:{HASH}\n", "admin", "console-password-1234", False),  # two lines: let the module fix it
    (f"other:{HASH}\nadmin:{HASH}\n", "admin", "console-password-1234", True),
    (f"admin:{HASH.replace('$2b$', '$2y$')}\n", "admin", "console-password-1234", True),  # Apache's prefix
    ("admin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "admin", "password", False),  # not bcrypt
    ("admin:$2b$04$garbage\n", "admin", "x", False),
    ("", "admin", "x", False),
    (None, "admin", "x", False),
])
def test_htpasswd_matches(text, user, password, expected):
    assert matches(text, user, password) is expected
