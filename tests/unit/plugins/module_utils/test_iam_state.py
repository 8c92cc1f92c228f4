"""The IAM I/O half (plugins/module_utils/_iam_state.py) with a mocked SDK."""

from __future__ import annotations

from unittest import mock

import pytest
from ansible_collections.koprogo.storage.plugins.module_utils import _iam_state
from ansible_collections.koprogo.storage.plugins.module_utils._minio import MinioConnection, MinioError
from minio.error import MinioAdminException

SECRET = "root-secret-key-123"


@pytest.fixture
def conn():
    connection = MinioConnection("http://127.0.0.1:9", "root", SECRET)
    connection.admin = mock.MagicMock()
    return connection


@pytest.mark.parametrize("status, expected, probed", [
    pytest.param("disabled", "unverifiable", False, id="disabled-not-probed"),
    pytest.param("enabled", "match", True, id="enabled-probed"),
])
def test_probe_secret(monkeypatch, status, expected, probed):
    calls, warnings = [], []
    monkeypatch.setattr(_iam_state, "check_secret", lambda *args: calls.append(args) or "match")
    assert _iam_state.probe_secret("conn", "user", "alice", "s3cretpass", status, warnings.append) == expected
    assert bool(calls) is probed
    assert bool(warnings) is not probed
    assert all("cannot be checked" in w and "'alice'" in w for w in warnings)


def test_read_user_missing_and_service_account(conn):
    conn.admin.user_info.side_effect = MinioAdminException("404", '{"Code":"XMinioAdminNoSuchUser"}')
    assert _iam_state.read_user(conn, "alice") is None
    conn.admin.user_info.side_effect = MinioAdminException("403", '{"Code":"XMinioIAMActionNotAllowed"}')
    with pytest.raises(MinioError, match="is a service account"):
        _iam_state.read_user(conn, "app-key")


def test_admin_errors_are_scrubbed(conn):
    conn.admin.user_info.side_effect = MinioAdminException("500", f'{{"Code":"Boom","Message":"{SECRET}"}}')
    with pytest.raises(MinioError) as err:
        _iam_state.read_user(conn, "alice")
    assert SECRET not in str(err.value)
    assert "read user alice" in str(err.value)


def test_add_service_account_for_another_user_sends_target_user(conn, monkeypatch):
    sent = []
    monkeypatch.setattr(_iam_state, "_send_service_account_add", lambda admin, body: sent.append(body))
    conn.admin.add_service_account = lambda *, access_key=None, secret_key=None, name=None, description=None, \
        policy=None, policy_file=None, expiration=None, status=None: pytest.fail("SDK call without target user")
    assert _iam_state.add_service_account(conn, "app", "app-key", "app-secret-1", name="n",
                                          expiration="never") == ""
    assert sent == [{"accessKey": "app-key", "secretKey": "app-secret-1", "targetUser": "app", "name": "n"}]
