# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to koprogo.storage: may change without notice.
"""MinIO IAM I/O: readers, the secret test and the service account write (the I/O half of _iam.py).

Every function takes a MinioConnection, so every SDK call goes through conn.call / conn.try_call
and its errors are scrubbed of secrets. The readers (read_* and list_*) never return a secret.
"""

from __future__ import annotations

import inspect
import json

from ansible_collections.koprogo.storage.plugins.module_utils._iam import (
    MISSING_POLICY,
    MISSING_SERVICE_ACCOUNT,
    MISSING_USER,
    policy_entities_of,
    secret_check_result,
    service_account_add_body,
    service_account_view,
    status_from_server,
    user_list_view,
)
from ansible_collections.koprogo.storage.plugins.module_utils._minio import MinioError, error_code

try:
    from minio.crypto import decrypt, encrypt
    from minio.error import MinioAdminException, S3Error
    from minio.minioadmin import _COMMAND
except ImportError:  # pragma: no cover - reported by require_minio()

    class MinioAdminException(Exception):
        """Stand-in so this file imports without the SDK."""

    class S3Error(Exception):
        """Stand-in so this file imports without the SDK."""


# --------------------------------------------------------------------------- readers


def _admin_call(conn, operation, fn, codes, **kwargs):
    """Run an admin call; return (result, None), or (None, code) when it fails with one of codes."""
    failure = {}

    def attempt():
        try:
            return fn(**kwargs)
        except MinioAdminException as exc:
            if error_code(exc) not in codes:
                raise
            failure["code"] = error_code(exc)
            return None

    result = conn.call(operation, attempt)
    return result, failure.get("code")


def _policy_entities(conn, policy=None, user=None):
    kwargs = dict(users=[user] if user else [], groups=[], policies=[policy] if policy else [])
    return conn.admin_json("read policy attachments", conn.admin.get_policy_entities, **kwargs)


def policy_attachments(conn, name):
    """(users, groups) the policy name is attached to, both sorted."""
    return policy_entities_of(_policy_entities(conn, policy=name), "policy", name)


def policy_exists(conn, name):
    return conn.try_call(f"read policy {name}", conn.admin.policy_info, policy_name=name,
                         missing=MISSING_POLICY, default=None) is not None


def read_policy(conn, name):
    """{name, document, attached_users, attached_groups} of an IAM policy, or None when missing."""
    text = conn.try_call(f"read policy {name}", conn.admin.policy_info, policy_name=name,
                         missing=MISSING_POLICY, default=None)
    if text is None:
        return None
    try:
        document = json.loads(text) if text else {}
    except ValueError:
        raise MinioError(f"read policy {name} on {conn.endpoint}: the server answered invalid JSON") from None
    users, groups = policy_attachments(conn, name)
    return dict(name=name, document=document, attached_users=users, attached_groups=groups)


def list_policies(conn):
    """name -> policy document, for every IAM policy (built-in ones included)."""
    return conn.admin_json("list policies", conn.admin.policy_list)


def user_policies(conn, name):
    """Sorted names of the policies attached directly to user name (not through groups)."""
    return policy_entities_of(_policy_entities(conn, user=name), "user", name)


def read_user(conn, name):
    """{name, status, policies} of a MinIO user, or None when missing. Never a secret.

    Raises MinioError when name is a service account or an STS account, not a user.
    """
    text, code = _admin_call(conn, f"read user {name}", conn.admin.user_info,
                             MISSING_USER + ("XMinioIAMActionNotAllowed",), access_key=name)
    if code in MISSING_USER:
        return None
    if code:
        raise MinioError(f"'{name}' on {conn.endpoint} is a service account (access key), not a user; "
                         "manage it with koprogo.storage.minio_service_account")
    info = json.loads(text) if text else {}
    return dict(name=name, status=status_from_server(info.get("status")), policies=user_policies(conn, name))


def list_users(conn):
    """name -> {status, policies} for every user (one admin call)."""
    return user_list_view(conn.admin_json("list users", conn.admin.user_list))


def read_service_account(conn, key_id):
    """{key_id, parent_user, policy, display_name, description, expiration, status}, or None.

    policy is the account's own inline policy (canonical), or None when it inherits its parent's.
    Raises MinioError when key_id is a user, not a service account.
    """
    text, code = _admin_call(conn, f"read service account {key_id}", conn.admin.get_service_account,
                             MISSING_SERVICE_ACCOUNT + ("AccessDenied",), access_key=key_id)
    if code in MISSING_SERVICE_ACCOUNT:
        return None
    if code:
        # The connecting account may lack the right, or key_id may be a plain user.
        user = _admin_call(conn, f"read user {key_id}", conn.admin.user_info,
                           MISSING_USER + ("XMinioIAMActionNotAllowed", "AccessDenied"), access_key=key_id)[0]
        if user is not None:
            raise MinioError(f"'{key_id}' on {conn.endpoint} is a user, not a service account; "
                             "manage it with koprogo.storage.minio_user")
        raise MinioError(f"read service account {key_id} on {conn.endpoint} failed: access denied")
    info = json.loads(text) if text else {}
    return service_account_view(key_id, info)


def list_service_accounts(conn, user):
    """Service accounts of user (sorted by key_id), each as read_service_account returns it."""
    data = conn.admin_json(f"list service accounts of {user}", conn.admin.list_service_account, user=user)
    out = []
    for account in sorted(data.get("accounts") or [], key=lambda a: a.get("accessKey", "")):
        key_id = account.get("accessKey")
        full = read_service_account(conn, key_id)
        if full is not None:
            out.append(full)
    return out


# --------------------------------------------------------------------------- secret test


def probe_secret(conn, kind, access_key, secret_key, status, warn):
    """check_secret for an enabled account; "unverifiable" (with a warning through warn) for a disabled one."""
    if status == "disabled":
        warn(f"the secret of disabled {kind} '{access_key}' cannot be checked (MinIO refuses a disabled "
             "account before checking the signature), so it is set again")
        return "unverifiable"
    return check_secret(conn, access_key, secret_key)


def check_secret(conn, access_key, secret_key):
    """Authenticate as access_key with secret_key. Returns "match" or "differs".

    A signed S3 ListBuckets proves the secret: AccessDenied (a user without policies) still means
    the signature matched; only InvalidAccessKeyId / SignatureDoesNotMatch mean it differs.
    Callers must not use it for a disabled account: MinIO refuses those before checking the signature.
    """
    client = conn.s3_for(access_key, secret_key)

    def attempt():
        try:
            client.list_buckets()
        except S3Error as exc:
            return secret_check_result(exc.code)
        return "match"

    return conn.call(f"authenticate as {access_key}", attempt)


# --------------------------------------------------------------------------- service account writes


def _send_service_account_add(admin, body):
    """PUT MinIO's add-service-account admin call with body (a dict), as MinioAdmin.add_service_account does.

    The one place that uses private SDK internals (admin._provider, admin._url_open, _COMMAND):
    minio-py (7.2.20, the newest release, pinned in requirements.txt) has no public way to create a
    service account for another user than the connecting one (no "targetUser"), and its admin API
    encrypts the body with the connecting secret, so the request is sent the way the SDK sends its own.
    Drop this when add_service_account accepts target_user (add_service_account below checks for it).
    """
    secret = admin._provider.retrieve().secret_key
    response = admin._url_open(method="PUT", command=_COMMAND.SERVICE_ACCOUNT_ADD,
                               body=encrypt(json.dumps(body).encode(), secret), preload_content=False)
    return decrypt(response, secret).decode()


def add_service_account(conn, parent_user, key_id, key_secret, policy=None, name=None, description=None,
                        expiration=None):
    """Create a service account for parent_user (any user, not only the connecting one)."""
    kwargs = dict(access_key=key_id, secret_key=key_secret, name=name or None,
                  description=description or None, policy=policy,
                  expiration=expiration if expiration not in (None, "never") else None)
    sdk = conn.admin.add_service_account
    if "target_user" in inspect.signature(sdk).parameters:
        return conn.call(f"create service account {key_id}", sdk, target_user=parent_user, **kwargs)
    body = service_account_add_body(parent_user, key_id, key_secret, policy=policy, name=name,
                                    description=description, expiration=expiration)
    conn.call(f"create service account {key_id}", _send_service_account_add, conn.admin, body)
    return ""
