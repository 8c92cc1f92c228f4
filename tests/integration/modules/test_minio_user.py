"""koprogo.storage.minio_user against a real MinIO: every facet checked, applied, idempotent; drift; absent."""

from __future__ import annotations

import json
import secrets

from helpers.iam_checks import can_sign_in, mc_out, mc_task, results, s3_code, user_info
from helpers.minio_server import free_port

MISMATCH = ("SignatureDoesNotMatch", "InvalidAccessKeyId")


def task(label, check=False, /, **args):
    t = {"name": label, "koprogo.storage.minio_user": args}
    if check:
        t["check_mode"] = True
    return t


def mc_code(play_result, label):
    """success, or the S3/admin error code mc reported."""
    if play_result[label]["rc"] == 0:
        return "success"
    return mc_out(play_result, label)["error"]["cause"]["error"]["Code"]


def bucket_policy(bucket, actions):
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}


def test_user_lifecycle(minio, play, unique_name):
    name, bucket = unique_name, unique_name
    pa, pb = f"{name}-rw", f"{name}-ro"
    s1, s2, s3 = secrets.token_urlsafe(18), secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    s3_root, admin = minio.sdk()
    s3_root.make_bucket(bucket_name=bucket)
    admin.policy_add(policy_name=pa, policy=bucket_policy(bucket, ["s3:*"]))
    admin.policy_add(policy_name=pb, policy=bucket_policy(bucket, ["s3:GetObject", "s3:ListBucket"]))
    user_creds = {s: (name, s) for s in (s1, s2)}

    r = play([
        task("check create", True, name=name, password=s1, policies=[pa]),
        mc_task(minio, "mc after check create", "admin", "user", "info", "t", name),
        task("create", name=name, password=s1, policies=[pa]),
        task("create again", name=name, password=s1, update_password="always", policies=[pa]),
        task("check create again", True, name=name, password=s1, update_password="always", policies=[pa]),
        mc_task(minio, "mc ls as user", "ls", f"u/{bucket}", creds=user_creds[s1]),
        # status
        task("check disable", True, name=name, status="disabled"),
        mc_task(minio, "mc after check disable", "admin", "user", "info", "t", name),
        task("disable", name=name, status="disabled"),
        task("disable again", name=name, status="disabled"),
        task("check disable again", True, name=name, status="disabled"),
        mc_task(minio, "mc after disable", "admin", "user", "info", "t", name),
        task("enable", name=name, status="enabled"),
        # attached policies, added, then exclusive
        task("check add", True, name=name, policies=[pb]),
        mc_task(minio, "mc after check add", "admin", "user", "info", "t", name),
        task("add", name=name, policies=[pb]),
        task("add again", name=name, policies=[pa, pb]),
        task("check add again", True, name=name, policies=[pb]),
        task("check exclusive", True, name=name, policies=[pb], exclusive=True),
        mc_task(minio, "mc after check exclusive", "admin", "user", "info", "t", name),
        task("exclusive", name=name, policies=[pb], exclusive=True),
        task("exclusive again", name=name, policies=[pb], exclusive=True),
        task("check exclusive again", True, name=name, policies=[pb], exclusive=True),
        # the secret
        task("check rotate", True, name=name, password=s2, update_password="always"),
        mc_task(minio, "mc old secret after check rotate", "ls", f"u/{bucket}", creds=user_creds[s1]),
        task("rotate", name=name, password=s2, update_password="always"),
        task("rotate again", name=name, password=s2, update_password="always"),
        task("check rotate again", True, name=name, password=s2, update_password="always"),
        task("on_create ignores secret", name=name, password=s3),
        mc_task(minio, "mc old secret", "ls", f"u/{bucket}", creds=user_creds[s1]),
        mc_task(minio, "mc new secret", "ls", f"u/{bucket}", creds=user_creds[s2]),
        # drift made with mc
        mc_task(minio, "mc drift detach", "admin", "policy", "detach", "t", pb, "--user", name),
        mc_task(minio, "mc drift attach", "admin", "policy", "attach", "t", pa, "--user", name),
        mc_task(minio, "mc drift disable", "admin", "user", "disable", "t", name),
        task("drift check", True, name=name, status="enabled", policies=[pb], exclusive=True),
        task("restore", name=name, status="enabled", policies=[pb], exclusive=True),
        task("restore again", name=name, status="enabled", policies=[pb], exclusive=True),
    ], diff=True)
    assert r.rc == 0, r.stdout
    assert all(r[f"mc drift {step}"]["rc"] == 0 for step in ("detach", "attach", "disable"))

    assert results(r, "check create", "create", "create again", "check create again") == [
        (True, ["state"]), (True, ["state"]), (False, []), (False, [])]
    assert mc_code(r, "mc after check create") == "XMinioAdminNoSuchUser"
    assert r["create"]["user"] == {"name": name, "status": "enabled", "policies": [pa]}
    assert mc_code(r, "mc ls as user") == "success"

    assert results(r, "check disable", "disable", "disable again", "check disable again", "enable") == [
        (True, ["status"]), (True, ["status"]), (False, []), (False, []), (True, ["status"])]
    assert mc_out(r, "mc after check disable")["userStatus"] == "enabled"
    assert mc_out(r, "mc after disable")["userStatus"] == "disabled"
    assert r["check disable"]["diff"] == {"before": {"name": name, "status": "enabled", "policies": [pa]},
                                          "after": {"name": name, "status": "disabled", "policies": [pa]}}

    assert results(r, "check add", "add", "add again", "check add again") == [
        (True, ["policies"]), (True, ["policies"]), (False, []), (False, [])]
    assert mc_out(r, "mc after check add")["policyName"] == pa
    assert r["add"]["user"]["policies"] == sorted([pa, pb])
    assert results(r, "check exclusive", "exclusive", "exclusive again", "check exclusive again") == [
        (True, ["policies"]), (True, ["policies"]), (False, []), (False, [])]
    assert sorted(mc_out(r, "mc after check exclusive")["policyName"].split(",")) == sorted([pa, pb])
    assert r["exclusive"]["user"]["policies"] == [pb]

    assert results(r, "check rotate", "rotate", "rotate again", "check rotate again", "on_create ignores secret") == [
        (True, ["password"]), (True, ["password"]), (False, []), (False, []), (False, [])]
    assert r["check rotate"]["diff"]["before"]["password"] == "<redacted>"
    assert r["check rotate"]["diff"]["after"]["password"] == "<redacted>"
    assert mc_code(r, "mc old secret after check rotate") == "success"
    assert mc_code(r, "mc old secret") == "SignatureDoesNotMatch"
    assert mc_code(r, "mc new secret") == "success"  # pb still allows listing the bucket

    assert results(r, "drift check", "restore", "restore again") == [
        (True, ["status", "policies"]), (True, ["status", "policies"]), (False, [])]
    assert r["drift check"]["diff"]["before"]["status"] == "disabled"
    assert r["drift check"]["diff"]["before"]["policies"] == [pa]

    # independent clients: the server state, and the user's own keys through boto3
    assert user_info(minio, name) == {"status": "enabled", "policies": [pb]}
    user_s3 = minio.boto3(name, s2)
    assert s3_code(user_s3, "list_objects_v2", Bucket=bucket) is None
    assert s3_code(user_s3, "put_object", Bucket=bucket, Key="x", Body=b"x") == "AccessDenied"  # pb is read-only
    assert s3_code(minio.boto3(name, s1), "list_objects_v2", Bucket=bucket) == "SignatureDoesNotMatch"
    assert not can_sign_in(minio, name, s3)

    # secret drift (set by someone else) is found by update_password: always; a disabled user's
    # secret cannot be checked, so it is set again (with a warning) and the user stays disabled.
    admin.user_add(access_key=name, secret_key=s3)
    r = play([
        task("secret drift", name=name, password=s2, update_password="always"),
        task("secret drift again", name=name, password=s2, update_password="always"),
        task("disable", name=name, status="disabled"),
        task("always while disabled", name=name, password=s2, update_password="always"),
        mc_task(minio, "mc after always while disabled", "admin", "user", "info", "t", name),
        task("check absent", True, name=name, state="absent"),
        mc_task(minio, "mc after check absent", "admin", "user", "info", "t", name),
        task("absent", name=name, state="absent"),
        task("absent again", name=name, state="absent"),
        task("check absent again", True, name=name, state="absent"),
    ])
    assert r.rc == 0, r.stdout
    assert results(r, "secret drift", "secret drift again", "disable", "always while disabled") == [
        (True, ["password"]), (False, []), (True, ["status"]), (True, ["password"])]
    assert "cannot be checked" in " ".join(r["always while disabled"].get("warnings", []))
    after = mc_out(r, "mc after always while disabled")
    assert after["userStatus"] == "disabled" and after["policyName"] == pb
    assert results(r, "check absent", "absent", "absent again", "check absent again") == [
        (True, ["state"]), (True, ["state"]), (False, []), (False, [])]
    assert mc_out(r, "mc after check absent")["userStatus"] == "disabled"
    assert r["absent"]["user"] is None
    assert user_info(minio, name) is None


def test_bad_input_fails_clearly_and_changes_nothing(minio, play, unique_name):
    admin = minio.sdk()[1]
    existing, new, disabled = f"{unique_name}-x", f"{unique_name}-new", f"{unique_name}-off"
    admin.user_add(access_key=existing, secret_key="existing-secret")
    admin.user_add(access_key=disabled, secret_key="existing-secret")
    admin.user_disable(access_key=disabled)
    before = json.loads(admin.user_list())
    closed_port = free_port()
    good = "a-good-secret-123"
    cases = {
        "short password": (dict(name=new, password="1234567"), "at least 8 characters"),
        "short password on existing": (dict(name=existing, password="1234567", update_password="always",
                                            status="disabled"), "at least 8 characters"),
        "short name": (dict(name="ab", password=good), "3 to 128"),
        "comma in name": (dict(name="a,bc", password=good), "must not contain"),
        "root name": (dict(name=minio.access_key, password=good), "connects with"),
        "missing policy": (dict(name=new, password=good, policies=["no-such-policy"]), "no-such-policy"),
        "no password": (dict(name=new), "password is required"),
        "bad choice": (dict(name=new, password=good, status="paused"), "status"),
        "policies of disabled user": (dict(name=disabled, policies=["readonly"]), "disabled user"),
        "unreachable": (dict(name=new, password=good, endpoint=f"http://127.0.0.1:{closed_port}"),
                        "cannot reach the server"),
    }
    r = play([dict(task(label, **args), ignore_errors=True) for label, (args, _expected) in cases.items()]
             + [task("check missing policy", True, name=new, password=good, policies=["no-such-policy"])])
    for label, (_args, expected) in cases.items():
        res = r[label]
        assert res.get("failed") is True, label
        assert expected in res["msg"], (label, res["msg"])
        assert minio.secret_key not in json.dumps(res) and good not in json.dumps(res)
    assert f"127.0.0.1:{closed_port}" in r["unreachable"]["msg"]
    # in check mode an earlier task may only have predicted the policy: warn, do not fail
    assert results(r, "check missing policy") == [(True, ["state"])]
    assert "no-such-policy" in " ".join(r["check missing policy"]["warnings"])
    assert json.loads(admin.user_list()) == before
    assert can_sign_in(minio, existing, "existing-secret")
    admin.user_remove(access_key=existing)
    admin.user_remove(access_key=disabled)
