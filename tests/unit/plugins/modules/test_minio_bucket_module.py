"""minio_bucket decisions with a mocked SDK: what is written, and that nothing is written before a failure."""

from __future__ import annotations

from unittest import mock

import pytest
import urllib3
from ansible_collections.koprogo.storage.plugins.module_utils import _bucket_state
from ansible_collections.koprogo.storage.plugins.module_utils._minio import MinioConnection, MinioError
from ansible_collections.koprogo.storage.plugins.modules import minio_bucket as mod
from minio.commonconfig import Tags
from minio.error import MinioAdminException, S3Error
from minio.versioningconfig import VersioningConfig

WRITES = ("make_bucket", "set_bucket_versioning", "set_object_lock_config", "set_bucket_policy",
          "delete_bucket_policy", "set_bucket_tags", "delete_bucket_tags", "set_bucket_lifecycle",
          "delete_bucket_lifecycle", "set_bucket_encryption", "delete_bucket_encryption", "remove_bucket",
          "remove_objects")


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self, check_mode=False, diff=False):
        self.check_mode = check_mode
        self._diff = diff

    def fail_json(self, msg, **kwargs):
        raise Failed(msg)


def s3_error(code):
    return S3Error(response=None, code=code, message=code, resource=None, request_id=None, host_id=None)


def params(**overrides):
    base = {name: None for name in mod.argument_spec()}
    base.update(name="docs", state="present", force=False, purge_tags=True)
    base.update(overrides)
    return base


@pytest.fixture
def conn():
    """A connection whose S3 and admin clients are mocks of an existing, plain bucket."""
    connection = MinioConnection("http://127.0.0.1:9", "root", "secret-key-123")
    s3 = mock.MagicMock()
    s3.bucket_exists.return_value = True
    s3.get_bucket_versioning.return_value = VersioningConfig()
    s3.get_object_lock_config.side_effect = s3_error("ObjectLockConfigurationNotFoundError")
    s3.get_bucket_policy.side_effect = s3_error("NoSuchBucketPolicy")
    s3.get_bucket_tags.return_value = None
    s3.get_bucket_lifecycle.return_value = None
    s3.get_bucket_encryption.return_value = None
    s3.list_objects.return_value = iter([])
    admin = mock.MagicMock()
    admin.bucket_quota_get.return_value = '{"quota":0}'
    admin.kms_key_status.side_effect = MinioAdminException(
        code="501", body='{"Code":"NotImplemented","Message":"KMS is not configured"}')
    connection.s3, connection.admin = s3, admin
    return connection


def run(conn, check_mode=False, **options):
    p = mod.BucketParameters(params(**options))
    assert not p.errors, p.errors
    manager = mod.BucketManager(FakeModule(check_mode=check_mode), conn, p)
    manager.run()
    return manager.results


def writes(conn):
    return [name for name in WRITES if getattr(conn.s3, name).called] + \
        [name for name in ("bucket_quota_set", "bucket_quota_clear", "config_set") if getattr(conn.admin, name).called]


def test_check_mode_reports_and_writes_nothing(conn):
    result = run(conn, check_mode=True, versioning="enabled", tags={"a": "1"}, quota="1GiB")
    assert result["changed"] is True
    assert result["changed_facets"] == ["versioning", "quota", "tags"]
    assert result["bucket"]["versioning"] == "enabled" and result["bucket"]["quota"] == 2**30
    assert writes(conn) == []


def test_apply_writes_only_differing_facets(conn):
    conn.s3.get_bucket_tags.return_value = Tags.new_bucket_tags()
    conn.s3.get_bucket_tags.return_value["a"] = "1"
    result = run(conn, versioning="suspended", tags={"a": "1"}, quota=0, encryption="none")
    assert result["changed"] is False and result["changed_facets"] == []
    assert writes(conn) == []


def test_apply_calls_sdk_with_keywords(conn):
    run(conn, versioning="enabled")
    call = conn.s3.set_bucket_versioning.call_args
    assert call.args == () and call.kwargs["bucket_name"] == "docs"
    assert call.kwargs["config"].status == "Enabled"


def test_no_kms_fails_before_any_write(conn):
    with pytest.raises(Failed, match="no KMS configured.*nothing was changed"):
        run(conn, versioning="enabled", tags={"a": "b"}, encryption="sse-s3")
    assert writes(conn) == []


def test_lock_on_existing_bucket_fails_before_any_write(conn):
    with pytest.raises(Failed, match="can only be enabled when a bucket is created"):
        run(conn, object_lock=True, versioning="enabled")
    assert writes(conn) == []


def test_absent_on_non_empty_bucket_needs_force(conn):
    conn.s3.list_objects.return_value = iter([mock.Mock(object_name="a.txt", version_id="v1")])
    with pytest.raises(Failed, match="is not empty.*force: true"):
        run(conn, state="absent")
    assert writes(conn) == []


def test_absent_in_check_mode_deletes_nothing(conn):
    conn.s3.list_objects.return_value = iter([mock.Mock(object_name="a.txt", version_id="v1")])
    result = run(conn, check_mode=True, state="absent", force=True)
    assert result["changed"] is True and result["changed_facets"] == ["state"]
    assert writes(conn) == []


def test_create_predicts_state_in_check_mode(conn):
    conn.s3.bucket_exists.return_value = False
    result = run(conn, check_mode=True, object_lock=True, object_lock_retention={"mode": "governance", "days": 3})
    assert result["changed_facets"] == ["state", "object_lock_retention"]
    assert result["bucket"]["versioning"] == "enabled"
    assert result["bucket"]["object_lock_retention"] == {"mode": "GOVERNANCE", "days": 3}
    assert writes(conn) == []


@pytest.mark.parametrize("options, message", [
    ({"name": "Bad_Name"}, "S3 naming rules"),
    ({"quota": "lots"}, "not a size"),
    ({"policy": "{oops"}, "malformed policy JSON"),
    ({"anonymous_access": "everyone"}, "must be one of"),
    ({"tags": {"a&b": "1"}}, "without '&'"),
    ({"object_lock": False, "object_lock_retention": {"mode": "GOVERNANCE", "days": 1}}, "object_lock is false"),
    ({"object_lock": True, "versioning": "suspended"}, "cannot be suspended"),
    ({"lifecycle": {"noncurrent_version_expiration_days": -3}}, "at least 0"),
])
def test_parameters_are_validated_without_a_server(options, message):
    p = mod.BucketParameters(params(**options))
    assert any(message in error for error in p.errors), p.errors


def test_diff_has_before_and_after(conn):
    p = mod.BucketParameters(params(versioning="enabled"))
    manager = mod.BucketManager(FakeModule(check_mode=True, diff=True), conn, p)
    manager.run()
    diff = manager.results["diff"]
    assert diff["before"]["versioning"] == "off" and diff["after"]["versioning"] == "enabled"


# --- errors go through MinioConnection.call: named, scrubbed ------------------------

SECRET = "secret-key-123"


def transport_error():
    return urllib3.exceptions.ProtocolError(f"connection reset while sending {SECRET}")


def test_kms_transport_error_is_scrubbed(conn):
    conn.admin.kms_key_status.side_effect = transport_error()
    with pytest.raises(MinioError) as err:
        _bucket_state.kms_available(conn)
    assert "read KMS status" in str(err.value) and SECRET not in str(err.value)


@pytest.mark.parametrize("side_effect, expected", [
    pytest.param(None, True, id="kms"),
    pytest.param(MinioAdminException(code="501", body='{"Code":"NotImplemented"}'), False, id="no-kms"),
    pytest.param(MinioAdminException(code="403", body='{"Code":"AccessDenied"}'), None, id="cannot-tell"),
])
def test_kms_available(conn, side_effect, expected):
    conn.admin.kms_key_status.side_effect = side_effect
    assert _bucket_state.kms_available(conn) is expected


def test_set_encryption_errors(conn):
    conn.s3.set_bucket_encryption.side_effect = s3_error("NotImplemented")
    with pytest.raises(MinioError, match="no KMS configured"):
        _bucket_state.set_encryption(conn, "docs", "sse-s3")
    conn.s3.set_bucket_encryption.side_effect = transport_error()
    with pytest.raises(MinioError) as err:
        _bucket_state.set_encryption(conn, "docs", "sse-s3")
    assert "set encryption of bucket docs" in str(err.value) and SECRET not in str(err.value)


def sdk_config_get_failing(exc):
    """What minio-py 7.2's config_get does when the request fails: UnboundLocalError from its finally block."""
    def request():
        raise exc

    def config_get(key=None):
        try:
            response = request()
        finally:
            # The SDK's bug, reproduced: response is unbound when request() raised.
            if response:  # pylint: disable=used-before-assignment
                pass
    return config_get


@pytest.mark.parametrize("exc, expected", [
    pytest.param(MinioAdminException(code="403", body='{"Code":"AccessDenied"}'), None, id="denied"),
    pytest.param(MinioAdminException(code="501", body='{"Code":"NotImplemented"}'), None, id="not-implemented"),
])
def test_stale_upload_days_not_readable(conn, exc, expected):
    conn.admin.config_get.side_effect = sdk_config_get_failing(exc)
    assert _bucket_state.read_stale_upload_days(conn) is expected


@pytest.mark.parametrize("exc", [
    pytest.param(MinioAdminException(code="500", body=f'{{"Code":"InternalError","Message":"{SECRET}"}}'),
                 id="server-error"),
    pytest.param(transport_error(), id="transport"),
])
def test_stale_upload_days_errors_are_scrubbed(conn, exc):
    conn.admin.config_get.side_effect = sdk_config_get_failing(exc)
    with pytest.raises(MinioError) as err:
        _bucket_state.read_stale_upload_days(conn)
    assert "stale_uploads_expiry" in str(err.value) and SECRET not in str(err.value)


def test_stale_upload_days_read(conn):
    conn.admin.config_get.side_effect = None
    conn.admin.config_get.return_value = "api stale_uploads_expiry=48h"
    assert _bucket_state.read_stale_upload_days(conn) == 2
