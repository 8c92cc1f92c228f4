"""The IAM modules on the shared manager base, with a mocked SDK: the failure payload, and that nothing is
written before a failure or in check mode."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from ansible_collections.koprogo.storage.plugins.module_utils import _manager
from ansible_collections.koprogo.storage.plugins.module_utils._minio import MinioConnection
from ansible_collections.koprogo.storage.plugins.modules import minio_policy, minio_service_account, minio_user
from minio.error import MinioAdminException

ADMIN_WRITES = ("user_add", "user_enable", "user_disable", "user_remove", "attach_policy", "detach_policy",
                "policy_add", "policy_remove", "add_service_account", "update_service_account",
                "delete_service_account")
POLICY = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::a/*"}]}


class Failed(Exception):
    def __init__(self, msg, **kwargs):
        super().__init__(msg)
        self.kwargs = kwargs


class Exited(Exception):
    def __init__(self, **kwargs):
        super().__init__("exit_json")
        self.kwargs = kwargs


class FakeModule:
    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def fail_json(self, msg, **kwargs):
        raise Failed(msg, **kwargs)

    def exit_json(self, **kwargs):
        raise Exited(**kwargs)


def admin_error(code):
    return MinioAdminException(code="404", body=json.dumps({"Code": code, "Message": code}))


@pytest.fixture
def conn(monkeypatch):
    connection = MinioConnection("http://127.0.0.1:9", "root", "root-secret-123")
    admin = mock.MagicMock()
    admin.user_info.side_effect = admin_error("XMinioAdminNoSuchUser")
    admin.policy_info.side_effect = admin_error("XMinioAdminNoSuchPolicy")
    admin.get_service_account.side_effect = admin_error("XMinioAdminNoSuchServiceAccount")
    admin.get_policy_entities.return_value = "{}"
    connection.admin = admin
    monkeypatch.setattr(MinioConnection, "from_module", classmethod(lambda cls, module, extra_secrets=(): connection))
    return connection


def written(conn):
    return [name for name in ADMIN_WRITES if getattr(conn.admin, name).called]


def params(module, **overrides):
    base = {name: spec.get("default") for name, spec in module.argument_spec().items()}
    base.update(endpoint="http://127.0.0.1:9", access_key="root", secret_key="root-secret-123")
    base.update(overrides)
    return base


def run(module, conn, check_mode=False, **options):
    fake = FakeModule(params(module, **options), check_mode=check_mode)
    with pytest.raises((Failed, Exited)) as outcome:
        _manager.run_module(fake, *{
            minio_policy: (minio_policy.PolicyParameters, minio_policy.PolicyManager),
            minio_user: (minio_user.UserParameters, minio_user.UserManager),
            minio_service_account: (minio_service_account.ServiceAccountParameters,
                                    minio_service_account.ServiceAccountManager),
        }[module])
    return outcome.value


@pytest.mark.parametrize("module, options, message", [
    pytest.param(minio_policy, {"name": "readwrite", "policy": POLICY}, "MinIO creates itself", id="policy-builtin"),
    pytest.param(minio_policy, {"name": "p", "policy": "{oops"}, "malformed policy JSON", id="policy-json"),
    pytest.param(minio_user, {"name": "ab", "password": "short"}, "3 to 128", id="user-name"),
    pytest.param(minio_user, {"name": "root", "password": "long-enough"}, "connects with", id="user-root"),
    pytest.param(minio_service_account, {"key_id": "k" * 21}, "3 to 20", id="sa-key"),
    pytest.param(minio_service_account, {"key_id": "app-key", "expiration": "soon"}, "ISO-8601", id="sa-expiry"),
])
def test_options_refused_before_connecting(module, options, message, conn):
    failure = run(module, conn, **options)
    assert isinstance(failure, Failed) and message in str(failure)
    assert failure.kwargs == {"changed_facets": []}
    assert not conn.admin.method_calls


def test_user_create_in_check_mode_writes_nothing(conn):
    result = run(minio_user, conn, check_mode=True, name="alice", password="alice-secret-1")
    assert isinstance(result, Exited)
    assert result.kwargs["changed"] is True and result.kwargs["changed_facets"] == ["state"]
    assert written(conn) == []


def test_user_missing_policy_fails_before_any_write(conn):
    failure = run(minio_user, conn, name="alice", password="alice-secret-1", policies=["nope"])
    assert isinstance(failure, Failed) and "do not exist" in str(failure)
    assert failure.kwargs == {"changed_facets": ["state"]}
    assert written(conn) == []


def test_user_writes_in_order(conn):
    conn.admin.policy_info.side_effect = None
    conn.admin.policy_info.return_value = json.dumps(POLICY)
    result = run(minio_user, conn, name="alice", password="alice-secret-1", policies=["p"], status="disabled")
    assert isinstance(result, Exited)
    assert [c[0] for c in conn.admin.method_calls if c[0] in ADMIN_WRITES] == \
        ["user_add", "attach_policy", "user_disable"]


def existing_policy(conn, users):
    conn.admin.policy_info.side_effect = None
    conn.admin.policy_info.return_value = json.dumps(POLICY)
    conn.admin.get_policy_entities.return_value = json.dumps(
        {"policyMappings": [{"policy": "p", "users": users, "groups": []}]})


def test_attached_policy_is_not_deleted_without_detach(conn):
    existing_policy(conn, ["alice"])
    failure = run(minio_policy, conn, name="p", state="absent")
    assert isinstance(failure, Failed) and "still attached" in str(failure)
    assert written(conn) == []


def test_policy_detached_then_deleted(conn):
    existing_policy(conn, ["alice"])
    result = run(minio_policy, conn, name="p", state="absent", detach=True)
    assert result.kwargs["changed_facets"] == ["attachments", "state"]
    assert [c[0] for c in conn.admin.method_calls if c[0] in ADMIN_WRITES] == ["detach_policy", "policy_remove"]


def test_unchanged_policy_writes_nothing(conn):
    existing_policy(conn, [])
    result = run(minio_policy, conn, name="p", policy=POLICY)
    assert result.kwargs["changed"] is False and written(conn) == []


def test_service_account_text_error_fails_before_any_write(conn):
    conn.admin.get_service_account.side_effect = None
    conn.admin.get_service_account.return_value = json.dumps(
        {"parentUser": "root", "name": "app", "accountStatus": "on", "impliedPolicy": True})
    failure = run(minio_service_account, conn, key_id="app-key", display_name="", status="disabled")
    assert isinstance(failure, Failed) and "cannot clear" in str(failure)
    assert written(conn) == []


def test_service_account_create_needs_parent(conn):
    failure = run(minio_service_account, conn, key_id="app-key", key_secret="app-secret-1")
    assert isinstance(failure, Failed) and "parent_user is required" in str(failure)
    assert written(conn) == []
