"""koprogo.storage.minio_service_account against a real MinIO: facets, inline vs implied policy, secrets."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone

from helpers.iam_checks import can_sign_in, mc_out, mc_task, results, s3_code, service_account
from helpers.minio_server import free_port


def task(label, check=False, /, **args):
    t = {"name": label, "koprogo.storage.minio_service_account": args}
    if check:
        t["check_mode"] = True
    return t


def mc_code(play_result, label):
    if play_result[label]["rc"] == 0:
        return "success"
    return mc_out(play_result, label)["error"]["cause"]["error"]["Code"]


def bucket_policy(bucket, json_text=False):
    """Read, write and list one bucket. json_text: the same policy written differently, as JSON."""
    if json_text:
        return json.dumps({"Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": f"arn:aws:s3:::{bucket}/*"},
        ]})
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": [f"arn:aws:s3:::{bucket}/*"]},
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{bucket}"]},
    ]}


def in_days(days, fmt="%Y-%m-%dT%H:%M:%SZ"):
    moment = (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0, second=0)
    return moment.strftime(fmt)


def make_parent(minio, name, bucket_a, bucket_b):
    s3_root, admin = minio.sdk()
    for bucket in (bucket_a, bucket_b):
        s3_root.make_bucket(bucket_name=bucket)
    admin.user_add(access_key=name, secret_key="parent-secret-1")
    admin.attach_policy(policies=["readwrite"], user=name)
    return admin


def test_service_account_lifecycle(minio, play, unique_name):
    tag = secrets.token_hex(4)  # service account keys are at most 20 characters
    parent, key = f"{unique_name}-app", f"key-{tag}"
    bucket_a, bucket_b = f"{unique_name}-a", f"{unique_name}-b"
    make_parent(minio, parent, bucket_a, bucket_b)
    s1, s2, s3 = secrets.token_urlsafe(18), secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    e1, e2 = in_days(30), in_days(60)
    e2_other_form = in_days(60, "%Y-%m-%dT%H:%M:%S+00:00")
    base = dict(parent_user=parent, key_id=key)
    first = dict(base, key_secret=s1, policy=bucket_policy(bucket_a), display_name="backend",
                 description="KoproGo backend", expiration=e1)
    again = {**first, "update_secret": "always", "policy": bucket_policy(bucket_a, json_text=True)}

    r = play([
        task("check create", True, **first),
        mc_task(minio, "mc after check create", "admin", "user", "svcacct", "info", "t", key),
        task("create", **first),
        task("create again", **again),
        task("check create again", True, **{**first, "update_secret": "always"}),
        mc_task(minio, "mc ls a", "ls", f"u/{bucket_a}", creds=(key, s1)),
        mc_task(minio, "mc ls b", "ls", f"u/{bucket_b}", creds=(key, s1)),
        # status: an update must keep the inline policy (MinIO drops it unless resent)
        task("check disable", True, key_id=key, status="disabled"),
        mc_task(minio, "mc after check disable", "admin", "user", "svcacct", "info", "t", key),
        task("disable", key_id=key, status="disabled"),
        task("disable again", key_id=key, status="disabled"),
        task("check disable again", True, key_id=key, status="disabled"),
        mc_task(minio, "mc after disable", "admin", "user", "svcacct", "info", "t", key),
        mc_task(minio, "mc ls a while disabled", "ls", f"u/{bucket_a}", creds=(key, s1)),
        task("enable", key_id=key, status="enabled"),
        # display name and description
        task("check describe", True, key_id=key, display_name="backend2", description="Documents"),
        task("describe", key_id=key, display_name="backend2", description="Documents"),
        task("describe again", key_id=key, display_name="backend2", description="Documents"),
        task("check describe again", True, key_id=key, display_name="backend2", description="Documents"),
        # expiration
        task("check expiry", True, key_id=key, expiration=e2),
        task("expiry", key_id=key, expiration=e2),
        task("expiry again", key_id=key, expiration=e2_other_form),
        task("check expiry again", True, key_id=key, expiration=e2),
        task("never", key_id=key, expiration="never"),
        task("never again", key_id=key, expiration="never"),
        # inline policy
        task("check policy b", True, key_id=key, policy=bucket_policy(bucket_b)),
        mc_task(minio, "mc after check policy b", "admin", "user", "svcacct", "info", "t", key),
        task("policy b", key_id=key, policy=bucket_policy(bucket_b)),
        task("policy b again", key_id=key, policy=bucket_policy(bucket_b, json_text=True)),
        task("check policy b again", True, key_id=key, policy=bucket_policy(bucket_b)),
        # secret
        task("check rotate", True, key_id=key, key_secret=s2, update_secret="always"),
        mc_task(minio, "mc old secret after check", "ls", f"u/{bucket_b}", creds=(key, s1)),
        task("rotate", key_id=key, key_secret=s2, update_secret="always"),
        task("rotate again", key_id=key, key_secret=s2, update_secret="always"),
        task("check rotate again", True, key_id=key, key_secret=s2, update_secret="always"),
        task("on_create ignores secret", key_id=key, key_secret=s3),
    ], diff=True)
    assert r.rc == 0, r.stdout

    assert results(r, "check create", "create", "create again", "check create again") == [
        (True, ["state"]), (True, ["state"]), (False, []), (False, [])]
    assert mc_code(r, "mc after check create") in ("XMinioAdminNoSuchAccessKey", "XMinioInvalidIAMCredentials")
    created = r["create"]["service_account"]
    assert created == {"key_id": key, "parent_user": parent, "display_name": "backend",
                       "description": "KoproGo backend", "expiration": e1, "status": "enabled",
                       "policy": r["check create"]["service_account"]["policy"]}
    assert mc_code(r, "mc ls a") == "success"
    assert mc_code(r, "mc ls b") == "AccessDenied"  # the inline policy limits the key to bucket A

    assert results(r, "check disable", "disable", "disable again", "check disable again", "enable") == [
        (True, ["status"]), (True, ["status"]), (False, []), (False, []), (True, ["status"])]
    assert mc_out(r, "mc after check disable")["accountStatus"] == "on"
    disabled = mc_out(r, "mc after disable")
    assert disabled["accountStatus"] == "off"
    assert disabled.get("impliedPolicy", False) is False  # still its own policy
    assert mc_code(r, "mc ls a while disabled") == "InvalidAccessKeyId"

    assert results(r, "check describe", "describe", "describe again", "check describe again") == [
        (True, ["display_name", "description"]), (True, ["display_name", "description"]), (False, []), (False, [])]
    assert results(r, "check expiry", "expiry", "expiry again", "check expiry again", "never", "never again") == [
        (True, ["expiration"]), (True, ["expiration"]), (False, []), (False, []), (True, ["expiration"]),
        (False, [])]
    assert r["expiry"]["service_account"]["expiration"] == e2
    assert r["never"]["service_account"]["expiration"] == "never"

    assert results(r, "check policy b", "policy b", "policy b again", "check policy b again") == [
        (True, ["policy"]), (True, ["policy"]), (False, []), (False, [])]
    assert bucket_a in json.dumps(mc_out(r, "mc after check policy b")["policy"])

    assert results(r, "check rotate", "rotate", "rotate again", "check rotate again",
                   "on_create ignores secret") == [
        (True, ["key_secret"]), (True, ["key_secret"]), (False, []), (False, []), (False, [])]
    assert r["check rotate"]["diff"]["after"]["key_secret"] == "<redacted>"
    assert mc_code(r, "mc old secret after check") == "success"

    # independent clients: the key set by the module works, limited to bucket B by its inline policy
    info = service_account(minio, key)
    assert info["parentUser"] == parent and info["impliedPolicy"] is False
    assert info["name"] == "backend2" and info["description"] == "Documents"
    assert "expiration" not in info and info["accountStatus"] == "on"
    app = minio.boto3(key, s2)
    assert s3_code(app, "put_object", Bucket=bucket_b, Key="doc.txt", Body=b"hello") is None
    assert s3_code(app, "put_object", Bucket=bucket_a, Key="doc.txt", Body=b"hello") == "AccessDenied"
    assert minio.boto3().get_object(Bucket=bucket_b, Key="doc.txt")["Body"].read() == b"hello"
    assert s3_code(minio.boto3(key, s1), "list_objects_v2", Bucket=bucket_b) == "SignatureDoesNotMatch"
    assert not can_sign_in(minio, key, s3)

    # implied policy, back to inheriting, drift made with mc, absent
    implied_key = f"imp-{tag}"
    implied = dict(parent_user=parent, key_id=implied_key, key_secret=s3, update_secret="always")
    r = play([
        task("implied", **implied),
        task("implied again", **implied),
        task("implied disable", key_id=implied_key, status="disabled"),
        task("implied disable again", key_id=implied_key, status="disabled"),
        mc_task(minio, "mc implied", "admin", "user", "svcacct", "info", "t", implied_key),
        task("inherit", key_id=key, policy={}),
        task("inherit again", key_id=key, policy=""),
        mc_task(minio, "mc inherit", "admin", "user", "svcacct", "info", "t", key),
        task("policy a", key_id=key, policy=bucket_policy(bucket_a)),
        # drift: mc edits the description (which also drops the inline policy) and disables the key
        mc_task(minio, "mc drift edit", "admin", "accesskey", "edit", "t", key, "--description", "drifted"),
        mc_task(minio, "mc drift disable", "admin", "accesskey", "disable", "t", key),
        task("drift check", True, key_id=key, policy=bucket_policy(bucket_a), description="Documents",
             status="enabled"),
        task("restore", key_id=key, policy=bucket_policy(bucket_a), description="Documents", status="enabled"),
        task("restore again", key_id=key, policy=bucket_policy(bucket_a), description="Documents",
             status="enabled"),
        mc_task(minio, "mc ls a after restore", "ls", f"u/{bucket_a}", creds=(key, s2)),
        mc_task(minio, "mc ls b after restore", "ls", f"u/{bucket_b}", creds=(key, s2)),
        task("check absent", True, key_id=key, state="absent"),
        mc_task(minio, "mc after check absent", "admin", "user", "svcacct", "info", "t", key),
        task("absent", key_id=key, state="absent"),
        task("absent again", key_id=key, state="absent"),
        task("check absent again", True, key_id=key, state="absent"),
        task("implied absent", key_id=implied_key, state="absent"),
    ], diff=True)
    assert r.rc == 0, r.stdout
    assert all(r[f"mc drift {step}"]["rc"] == 0 for step in ("edit", "disable"))
    assert results(r, "implied", "implied again", "implied disable", "implied disable again") == [
        (True, ["state"]), (False, []), (True, ["status"]), (False, [])]
    assert r["implied again"]["service_account"]["policy"] is None
    assert mc_out(r, "mc implied").get("impliedPolicy") is True  # an update did not invent a policy

    assert results(r, "inherit", "inherit again", "policy a") == [
        (True, ["policy"]), (False, []), (True, ["policy"])]
    assert r["inherit"]["service_account"]["policy"] is None
    assert mc_out(r, "mc inherit").get("impliedPolicy") is True

    assert results(r, "drift check", "restore", "restore again") == [
        (True, ["policy", "description", "status"]), (True, ["policy", "description", "status"]), (False, [])]
    assert r["drift check"]["diff"]["before"]["description"] == "drifted"
    assert r["drift check"]["diff"]["before"]["policy"] is None
    assert mc_code(r, "mc ls a after restore") == "success"
    assert mc_code(r, "mc ls b after restore") == "AccessDenied"

    assert results(r, "check absent", "absent", "absent again", "check absent again", "implied absent") == [
        (True, ["state"]), (True, ["state"]), (False, []), (False, []), (True, ["state"])]
    assert mc_out(r, "mc after check absent")["accessKey"] == key
    assert service_account(minio, key) is None and service_account(minio, implied_key) is None


def test_bad_input_fails_clearly_and_changes_nothing(minio, play, unique_name):
    admin = minio.sdk()[1]
    tag = secrets.token_hex(4)
    key, user, new = f"k-{tag}", f"u-{tag}", f"new-{tag}"
    admin.user_add(access_key=user, secret_key="user-secret-1")
    admin.add_service_account(access_key=key, secret_key="key-secret-1", name="named")
    before = json.loads(admin.list_service_account(user=minio.access_key))
    good = "a-good-secret-123"
    closed_port = free_port()
    create = dict(parent_user=user, key_id=new, key_secret=good)
    missing_parent = {**create, "parent_user": f"{unique_name}-none"}
    cases = {
        "short secret": (dict(create, key_secret="1234567"), "at least 8 characters"),
        "long secret": (dict(create, key_secret="x" * 41), "at most 40 characters"),
        "long key": (dict(create, key_id="k" * 21), "3 to 20 characters"),
        "bad display name": (dict(create, display_name="2fast"), "starting with a letter"),
        "long description": (dict(create, description="x" * 257), "at most 256 bytes"),
        "bad expiration": (dict(create, expiration="next tuesday"), "ISO-8601"),
        "past expiration": (dict(create, expiration="2020-01-01"), "between 15 minutes and 365 days"),
        "malformed policy": (dict(create, policy='{"Statement": '), "malformed policy JSON"),
        "no such parent": (missing_parent, "does not exist"),
        "no parent": (dict(key_id=new, key_secret=good), "parent_user is required"),
        "no secret": (dict(parent_user=user, key_id=new), "key_secret is required"),
        "other parent": (dict(key_id=key, parent_user=user, description="moved"), "cannot move"),
        "key is a user": (dict(key_id=user, status="disabled"), "is a user"),
        "clear name": (dict(key_id=key, display_name=""), "cannot clear"),
        "unreachable": (dict(create, endpoint=f"http://127.0.0.1:{closed_port}"), "cannot reach the server"),
    }
    r = play([dict(task(label, **args), ignore_errors=True) for label, (args, _expected) in cases.items()]
             + [task("check missing parent", True, **missing_parent)])
    for label, (_args, expected) in cases.items():
        res = r[label]
        assert res.get("failed") is True, label
        assert expected in res["msg"], (label, res["msg"])
        assert minio.secret_key not in json.dumps(res) and good not in json.dumps(res)
    # in check mode an earlier task may only have predicted the parent: warn, do not fail
    assert results(r, "check missing parent") == [(True, ["state"])]
    assert "does not exist" in " ".join(r["check missing parent"]["warnings"])
    assert json.loads(admin.list_service_account(user=minio.access_key)) == before
    assert json.loads(admin.list_service_account(user=user)).get("accounts") in (None, [])
    assert service_account(minio, new) is None
    admin.delete_service_account(access_key=key)
    admin.user_remove(access_key=user)


def test_no_secret_in_verbose_output(minio, play, unique_name):
    """-vvv output of policy, user and service account tasks (created, rotated, failing) holds no secret.

    The secrets come from variables, as they would from a vault: ansible-core prints the playbook
    lines around a failed task, so a secret written literally in a playbook would show there.
    """
    user, key, policy = f"{unique_name}-u", f"lk-{secrets.token_hex(4)}", f"{unique_name}-p"
    values = {f"secret_{i}": secrets.token_urlsafe(18) for i in range(4)}
    tasks = [
        {"name": "policy", "koprogo.storage.minio_policy": {"name": policy, "policy": bucket_policy("docs")}},
        {"name": "user", "koprogo.storage.minio_user": {"name": user, "password": "{{ secret_0 }}",
                                                        "policies": [policy]}},
        {"name": "key", "koprogo.storage.minio_service_account": {"parent_user": user, "key_id": key,
                                                                  "key_secret": "{{ secret_1 }}"}},
        {"name": "rotate user", "koprogo.storage.minio_user": {"name": user, "password": "{{ secret_2 }}",
                                                               "update_password": "always"}},
        {"name": "rotate key", "koprogo.storage.minio_service_account": {"key_id": key,
                                                                         "key_secret": "{{ secret_3 }}",
                                                                         "update_secret": "always"}},
        {"name": "too short", "koprogo.storage.minio_user": {"name": user, "password": "{{ secret_0[:7] }}",
                                                             "update_password": "always"},
         "ignore_errors": True},
        {"name": "unreachable", "koprogo.storage.minio_service_account": {
            "key_id": key, "key_secret": "{{ secret_3 }}", "endpoint": f"http://127.0.0.1:{free_port()}"},
         "ignore_errors": True},
        {"name": "cleanup key", "koprogo.storage.minio_service_account": {"key_id": key, "state": "absent"}},
        {"name": "cleanup user", "koprogo.storage.minio_user": {"name": user, "state": "absent"}},
        {"name": "cleanup policy", "koprogo.storage.minio_policy": {"name": policy, "state": "absent"}},
    ]
    r = play(tasks, diff=True, verbosity=3, json_output=False, extra_vars=values)
    assert r.rc == 0, r.stdout[-3000:]
    output = r.stdout + r.stderr
    assert "<redacted>" in output  # the rotations show in the diff, without their values
    assert "changed=8" in output.replace(" ", "") and "ignored=2" in output.replace(" ", "")
    assert "at least 8 characters" in output and "cannot reach the server" in output
    for secret in [minio.secret_key, *values.values(), values["secret_0"][:7]]:
        assert secret not in output
