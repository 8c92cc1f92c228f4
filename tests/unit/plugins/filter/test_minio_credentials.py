"""The credential filter the roles' pre-flight uses: the modules' rules, plus the strength rule."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.koprogo.storage.plugins.filter.minio_credentials import FilterModule
from ansible_collections.koprogo.storage.plugins.module_utils import _iam

problems = FilterModule().filters()["minio_credential_problems"]
GOOD_SECRET = "s" * 24

CASES = {
    # (access key, secret, kind) -> expected fragments of the problems (empty = accepted)
    "service account ok": (("kpbackend01", GOOD_SECRET, "service_account"), []),
    "user ok": (("koprogo-prometheus", GOOD_SECRET, "user"), []),
    "key only": (("kpbackend01", None, "service_account"), []),
    "'=' refused (the module refuses it)": (("kp=backend", GOOD_SECRET, "service_account"), ["must not contain '='"]),
    "',' refused": (("kp,backend", GOOD_SECRET, "user"), ["must not contain '='"]),
    "white space refused": (("kp backend", GOOD_SECRET, "user"), ["white space"]),
    "service account key too long": (("k" * 21, GOOD_SECRET, "service_account"), ["3 to 20"]),
    "user name may be longer": (("u" * 60, GOOD_SECRET, "user"), []),
    "key too short": (("kp", GOOD_SECRET, "user"), ["3 to 128"]),
    "empty key": (("", GOOD_SECRET, "user"), ["access key is empty"]),
    "empty secret": (("kpbackend01", "", "service_account"), ["secret key is empty"]),
    "secret under MinIO's 8": (("kpbackend01", "short", "service_account"), ["at least 8"]),
    "secret under the roles' 20": (("kpbackend01", "s" * 12, "service_account"), ["at least 20"]),
    "service account secret over 40": (("kpbackend01", "s" * 41, "service_account"), ["at most 40"]),
    "user secret over 40": (("kpuser01", "s" * 41, "user"), ["at most 40"]),
    "well-known secret": (("kpbackend01", "minioadmin", "user"), ["at least 20", "well-known default"]),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_problems(case):
    (key, secret, kind), expected = CASES[case]
    found = problems(key, secret, kind=kind)
    assert len(found) == len(expected), found
    for fragment, message in zip(expected, found):
        assert fragment in message, (fragment, message)


def test_messages_never_contain_the_secret():
    for secret in ("", "short-secret", "s" * 41, "minioadmin", "x" * 12):
        assert all(secret not in m for m in problems("kp=bad key", secret) if secret), secret


def test_same_verdict_as_the_module_on_keys():
    """Any key the filter accepts for a service account, the module's own check accepts."""
    for key in ("kpbackend01", "a.b@c+d-e_f", "kp=backend", "kp,b", "kp b", "k" * 21, "ab"):
        assert (problems(key, None) == []) == (_iam.validate_service_account_key(key) is None), key


def test_unknown_kind_is_an_error():
    with pytest.raises(AnsibleFilterError, match="kind must be"):
        problems("kpbackend01", GOOD_SECRET, kind="root")
