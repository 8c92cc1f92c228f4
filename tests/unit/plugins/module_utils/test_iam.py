"""Table-driven tests for the pure IAM decisions in plugins/module_utils/_iam.py (no server)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from ansible_collections.koprogo.storage.plugins.module_utils import _iam
from ansible_collections.koprogo.storage.plugins.module_utils._policy import PolicyError

GET_A = {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::a/*"]}]}
GET_A_LOOSE = {"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::a/*"}}
PUT_A = {"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::a/*"}]}
NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- policies attached to a user

@pytest.mark.parametrize(
    ("current", "desired", "exclusive", "attach", "detach", "result"),
    [
        pytest.param(["a"], None, False, [], [], ["a"], id="unmanaged"),
        pytest.param(["a"], None, True, [], [], ["a"], id="unmanaged-even-if-exclusive"),
        pytest.param([], ["a", "b"], False, ["a", "b"], [], ["a", "b"], id="attach-all"),
        pytest.param(["a"], ["a"], False, [], [], ["a"], id="already-attached"),
        pytest.param(["a", "x"], ["a", "b"], False, ["b"], [], ["a", "b", "x"], id="keep-others"),
        pytest.param(["a", "x"], ["a", "b"], True, ["b"], ["x"], ["a", "b"], id="exclusive-detaches-others"),
        pytest.param(["a", "x"], [], True, [], ["a", "x"], [], id="exclusive-empty-detaches-all"),
        pytest.param(["a"], [], False, [], [], ["a"], id="empty-not-exclusive-keeps"),
        pytest.param(None, ["b", "a"], True, ["a", "b"], [], ["a", "b"], id="sorted-from-none"),
    ],
)
def test_policy_attachment_changes(current, desired, exclusive, attach, detach, result):
    to_attach, to_detach = _iam.policy_attachment_changes(current, desired, exclusive)
    assert (to_attach, to_detach) == (attach, detach)
    assert _iam.resulting_policies(current, to_attach, to_detach) == result


# --------------------------------------------------------------------------- secrets

@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (None, "match"),
        ("AccessDenied", "match"),  # a user without policies: the signature was accepted
        ("AllAccessDisabled", "match"),
        ("InvalidAccessKeyId", "differs"),
        ("SignatureDoesNotMatch", "differs"),
    ],
)
def test_secret_check_result(code, expected):
    assert _iam.secret_check_result(code) == expected


@pytest.mark.parametrize(
    ("exists", "secret", "mode", "check", "expected"),
    [
        pytest.param(False, "s3cretpass", "on_create", None, True, id="create"),
        pytest.param(False, "s3cretpass", "always", None, True, id="create-always"),
        pytest.param(True, "s3cretpass", "on_create", None, False, id="on-create-existing"),
        pytest.param(True, "s3cretpass", "on_create", "differs", False, id="on-create-ignores-difference"),
        pytest.param(True, None, "always", None, False, id="no-secret-given"),
        pytest.param(True, "s3cretpass", "always", "match", False, id="always-unchanged"),
        pytest.param(True, "s3cretpass", "always", "differs", True, id="always-changed"),
        pytest.param(True, "s3cretpass", "always", "unverifiable", True, id="always-disabled-account"),
    ],
)
def test_secret_needs_update(exists, secret, mode, check, expected):
    assert _iam.secret_needs_update(exists, secret, mode, check) is expected


# --------------------------------------------------------------------------- status

@pytest.mark.parametrize(
    ("current", "desired", "expected"),
    [
        ("enabled", None, None),
        ("enabled", "enabled", None),
        ("enabled", "disabled", "disabled"),
        ("disabled", "enabled", "enabled"),
        ("disabled", "disabled", None),
    ],
)
def test_status_change(current, desired, expected):
    assert _iam.status_change(current, desired) == expected


@pytest.mark.parametrize(("server", "expected"),
                         [("enabled", "enabled"), ("on", "enabled"), ("off", "disabled"), ("disabled", "disabled")])
def test_status_from_server(server, expected):
    assert _iam.status_from_server(server) == expected


# --------------------------------------------------------------------------- service account inline policy

@pytest.mark.parametrize(
    ("given", "mode"),
    [
        (None, "unmanaged"),
        ({}, "inherit"),
        ("", "inherit"),
        ("  {} ", "inherit"),
        (GET_A, "inline"),
        (json.dumps(GET_A_LOOSE), "inline"),
    ],
)
def test_desired_inline_policy_mode(given, mode):
    assert _iam.desired_inline_policy(given)[0] == mode


@pytest.mark.parametrize(
    "bad",
    [
        "{not json",
        "[]",
        {"Statement": []},
        {"Statement": [{"Effect": "Maybe", "Action": "s3:*"}]},
        {"Statement": [{"Effect": "Allow"}]},
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}], "Extra": 1},
        {"Statement": [{"Effect": "Allow", "Action": [f"s3:Action{i:04d}" for i in range(400)]}]},  # > 4096 bytes
    ],
)
def test_desired_inline_policy_rejects(bad):
    with pytest.raises(PolicyError):
        _iam.desired_inline_policy(bad)


CANON_GET_A = _iam.desired_inline_policy(GET_A)[1]


@pytest.mark.parametrize(
    ("current_inline", "given", "differs"),
    [
        # MinIO reports the parent's policy as "implied" for an account without its own: read as None.
        pytest.param(None, None, False, id="implied-unmanaged"),
        pytest.param(CANON_GET_A, None, False, id="inline-unmanaged"),
        pytest.param(None, GET_A, True, id="implied-wants-inline"),
        pytest.param(CANON_GET_A, GET_A, False, id="same"),
        pytest.param(CANON_GET_A, GET_A_LOOSE, False, id="same-string-vs-list-default-version"),
        pytest.param(CANON_GET_A, PUT_A, True, id="other-inline"),
        pytest.param(CANON_GET_A, {}, True, id="inline-to-inherit"),
        pytest.param(None, {}, False, id="already-inherits"),
    ],
)
def test_inline_policy_differs(current_inline, given, differs):
    mode, canon = _iam.desired_inline_policy(given)
    assert _iam.inline_policy_differs(current_inline, mode, canon) is differs


def test_implied_policy_reads_as_no_inline_policy():
    implied = {"parentUser": "app", "accountStatus": "on", "impliedPolicy": True,
               "policy": json.dumps(GET_A)}
    own = dict(implied, impliedPolicy=False)
    assert _iam.service_account_view("k", implied)["policy"] is None
    assert _iam.service_account_view("k", own)["policy"] == CANON_GET_A
    assert _iam.service_account_view("k", own)["expiration"] == "never"
    assert _iam.service_account_view("k", dict(own, accountStatus="off"))["status"] == "disabled"


CURRENT_INLINE = dict(policy=CANON_GET_A, status="enabled")
CURRENT_IMPLIED = dict(policy=None, status="disabled")


@pytest.mark.parametrize(
    ("current", "changes", "given", "expected"),
    [
        pytest.param(CURRENT_INLINE, {}, None, None, id="nothing"),
        pytest.param(CURRENT_INLINE, {}, GET_A, None, id="same-policy"),
        # Any update without the policy would drop it: resend the current one when unmanaged.
        pytest.param(CURRENT_INLINE, {"status": "disabled"}, None,
                     dict(status="disabled", policy=CANON_GET_A), id="status-keeps-inline"),
        pytest.param(CURRENT_INLINE, {"secret": "n3wsecret"}, None,
                     dict(secret_key="n3wsecret", status="enabled", policy=CANON_GET_A), id="secret-keeps-inline"),
        pytest.param(CURRENT_IMPLIED, {"description": "d"}, None,
                     dict(description="d", status="disabled"), id="implied-stays-implied"),
        pytest.param(CURRENT_IMPLIED, {}, GET_A, dict(status="disabled", policy=CANON_GET_A), id="set-inline"),
        pytest.param(CURRENT_INLINE, {}, {}, dict(status="enabled"), id="back-to-inherit"),
        pytest.param(CURRENT_INLINE, {"expiration": "never", "display_name": "app"}, GET_A,
                     dict(expiration=_iam.NO_EXPIRATION, name="app", status="enabled", policy=CANON_GET_A),
                     id="clear-expiration"),
    ],
)
def test_service_account_update_args(current, changes, given, expected):
    mode, canon = _iam.desired_inline_policy(given)
    assert _iam.service_account_update_args(current, changes, mode, canon) == expected


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize(
    ("name", "ok"),
    [("koprogo-rw", True), ("a", True), ("", False), (" rw", False), ("a,b", False), ("a/b", False)],
)
def test_validate_policy_name(name, ok):
    assert (_iam.validate_policy_name(name) is None) is ok


@pytest.mark.parametrize(
    ("name", "root", "ok"),
    [
        ("koprogo-backend", "root", True),
        ("ab", "root", False),
        ("a" * 129, "root", False),
        ("has space", "root", False),
        ("a=b", "root", False),
        ("root", "root", False),
    ],
)
def test_validate_user_name(name, root, ok):
    assert (_iam.validate_user_name(name, root) is None) is ok


@pytest.mark.parametrize(("secret", "ok"), [(None, True), ("12345678", True), ("1234567", False), ("", False)])
def test_validate_secret(secret, ok):
    assert (_iam.validate_secret("password", secret) is None) is ok


@pytest.mark.parametrize(
    ("name", "ok"),
    [(None, True), ("", True), ("backend", True), ("app_2-x", True), ("2app", False), ("a b", False),
     ("a" * 32, True), ("a" * 33, False), ("é", False)],
)
def test_validate_service_account_name(name, ok):
    assert (_iam.validate_service_account_name(name) is None) is ok


@pytest.mark.parametrize(("text", "ok"), [(None, True), ("x" * 256, True), ("x" * 257, False), ("é" * 129, False)])
def test_validate_description(text, ok):
    assert (_iam.validate_description(text) is None) is ok


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ("never", "never"),
        ("None", "never"),
        ("", "never"),
        ("1970-01-01T00:00:00Z", "never"),
        ("2027-06-30", "2027-06-30T00:00:00Z"),
        ("2027-06-30T12:30:00Z", "2027-06-30T12:30:00Z"),
        ("2027-06-30T12:30:00.123456Z", "2027-06-30T12:30:00Z"),
        ("2027-06-30T14:30:00+02:00", "2027-06-30T12:30:00Z"),
        ("2027-06-30T12:30:00", "2027-06-30T12:30:00Z"),
    ],
)
def test_normalize_expiration(given, expected):
    assert _iam.normalize_expiration(given) == expected


@pytest.mark.parametrize("bad", ["tomorrow", "2027-13-01", "30/06/2027"])
def test_normalize_expiration_rejects(bad):
    with pytest.raises(ValueError, match="ISO-8601"):
        _iam.normalize_expiration(bad)


@pytest.mark.parametrize(
    ("expiration", "ok"),
    [
        ("never", True),
        (None, True),
        ("2026-11-29T12:10:00Z", False),  # under 15 minutes
        ("2026-11-29T12:20:00Z", True),
        ("2027-11-29T11:00:00Z", True),
        ("2027-12-01T00:00:00Z", False),  # over 365 days
        ("2025-01-01T00:00:00Z", False),  # past
    ],
)
def test_validate_expiration(expiration, ok):
    assert (_iam.validate_expiration(expiration, now=NOW) is None) is ok


@pytest.mark.parametrize(
    ("current", "desired", "changed", "error"),
    [
        ("", None, False, False),
        ("app", None, False, False),
        (None, "app", True, False),
        ("app", "app", False, False),
        ("app", "other", True, False),
        ("", "", False, False),
        ("app", "", False, True),  # MinIO cannot clear it
    ],
)
def test_text_change(current, desired, changed, error):
    got_changed, got_error = _iam.text_change(current, desired, "display_name")
    assert got_changed is changed
    assert (got_error is not None) is error


@pytest.mark.parametrize(
    ("key_id", "ok"),
    [("app", True), ("k" * 20, True), ("k" * 21, False), ("ab", False), ("a=b", False), ("a b c", False)],
)
def test_validate_service_account_key(key_id, ok):
    assert (_iam.validate_service_account_key(key_id) is None) is ok


@pytest.mark.parametrize(("secret", "ok"), [(None, True), ("x" * 8, True), ("x" * 40, True), ("x" * 7, False),
                                            ("x" * 41, False)])
def test_validate_service_account_secret(secret, ok):
    assert (_iam.validate_service_account_secret(secret) is None) is ok


@pytest.mark.parametrize(("given", "inherit"), [({}, True), ("", True), ("{}", True), ({"Statement": []}, False),
                                                ("null", False), (None, False)])
def test_is_inherit_request(given, inherit):
    assert _iam.is_inherit_request(given) is inherit


@pytest.mark.parametrize(("key", "ok"), [(None, True), ("abc", True), ("ab", False), ("a" * 128, True),
                                         ("a" * 129, False), ("a=b", False), ("a,b", False), ("a b", False)])
def test_validate_access_key(key, ok):
    assert (_iam.validate_access_key("access_key", key) is None) is ok


# --------------------------------------------------------------------------- server answers -> views

@pytest.mark.parametrize(("value", "expected"), [(None, []), ("", []), ("b,a", ["a", "b"]), ("a,,b,", ["a", "b"])])
def test_split_policy_names(value, expected):
    assert _iam.split_policy_names(value) == expected


def test_user_list_view():
    data = {"bob": {"status": "disabled"}, "alice": {"status": "enabled", "policyName": "rw,ro"}}
    assert _iam.user_list_view(data) == {"alice": {"status": "enabled", "policies": ["ro", "rw"]},
                                         "bob": {"status": "disabled", "policies": []}}


ENTITIES = {"policyMappings": [{"policy": "rw", "users": ["b", "a"], "groups": ["g"]}],
            "userMappings": [{"user": "alice", "policies": ["rw", "ro"]}]}


@pytest.mark.parametrize(("data", "kind", "name", "expected"), [
    pytest.param(ENTITIES, "policy", "rw", (["a", "b"], ["g"]), id="policy-attached"),
    pytest.param(ENTITIES, "policy", "other", ([], []), id="policy-unattached"),
    pytest.param({}, "policy", "rw", ([], []), id="policy-empty-answer"),
    pytest.param(ENTITIES, "user", "alice", ["ro", "rw"], id="user-policies"),
    pytest.param(ENTITIES, "user", "bob", [], id="user-none"),
    pytest.param({"userMappings": None}, "user", "alice", [], id="user-null-answer"),
])
def test_policy_entities_of(data, kind, name, expected):
    assert _iam.policy_entities_of(data, kind, name) == expected


@pytest.mark.parametrize(("kwargs", "expected"), [
    pytest.param({}, {"accessKey": "k", "secretKey": "s", "targetUser": "u"}, id="minimal"),
    pytest.param({"name": "", "description": None, "policy": None, "expiration": "never"},
                 {"accessKey": "k", "secretKey": "s", "targetUser": "u"}, id="empty-values-left-out"),
    pytest.param({"name": "n", "description": "d", "policy": GET_A, "expiration": "2027-01-01T00:00:00Z"},
                 {"accessKey": "k", "secretKey": "s", "targetUser": "u", "name": "n", "description": "d",
                  "policy": GET_A, "expiration": "2027-01-01T00:00:00Z"}, id="all"),
])
def test_service_account_add_body(kwargs, expected):
    assert _iam.service_account_add_body("u", "k", "s", **kwargs) == expected
