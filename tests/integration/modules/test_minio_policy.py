"""koprogo.storage.minio_policy against a real MinIO: check, apply, idempotence, drift, absent, bad input."""

from __future__ import annotations

import json

from helpers.iam_checks import mc_out, mc_task, policy_doc, results, user_info
from helpers.minio_server import free_port


def canonical_statements(doc):
    return sorted(json.dumps(s, sort_keys=True) for s in doc["Statement"])


def canonical_listing(admin):
    """name -> sorted statements with sorted lists (MinIO lists built-in actions in varying order)."""
    def statement(stmt):
        return json.dumps({k: sorted(v) if isinstance(v, list) else v for k, v in stmt.items()}, sort_keys=True)
    return {name: sorted(statement(st) for st in doc["Statement"])
            for name, doc in json.loads(admin.policy_list()).items()}


def task(label, check=False, /, **args):
    t = {"name": label, "koprogo.storage.minio_policy": args}
    if check:
        t["check_mode"] = True
    return t


READ_A = {"Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket-a/*"},
    {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::bucket-a"]},
]}
# The same policy as the server will see it: other statement order, lists, explicit Version, as JSON text.
READ_A_OTHER_FORM = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::bucket-a"},
    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::bucket-a/*"]},
]})
WRITE_A = {"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                          "Resource": "arn:aws:s3:::bucket-a/*",
                          "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}]}


def test_policy_lifecycle(minio, play, unique_name):
    """One play: create, the document facet, drift by mc, absent; mc checks in between."""
    name = unique_name
    drift = minio.workdir / f"{name}.json"
    drift.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]}]}))
    r = play([
        task("check", True, name=name, policy=READ_A),
        mc_task(minio, "mc after check", "admin", "policy", "info", "t", name),
        task("apply", name=name, policy=READ_A),
        task("again", name=name, policy=READ_A_OTHER_FORM),
        task("check again", True, name=name, policy=READ_A),
        task("check update", True, name=name, policy=WRITE_A),
        mc_task(minio, "mc after check update", "admin", "policy", "info", "t", name),
        task("update", name=name, policy=WRITE_A),
        task("update again", name=name, policy=json.dumps(WRITE_A)),
        task("check update again", True, name=name, policy=WRITE_A),
        mc_task(minio, "mc after update", "admin", "policy", "info", "t", name),
        # drift: someone replaces the document with mc; the module reports and restores it
        mc_task(minio, "mc drift", "admin", "policy", "create", "t", name, str(drift)),
        task("drift check", True, name=name, policy=WRITE_A),
        task("restore", name=name, policy=WRITE_A),
        task("restore again", name=name, policy=WRITE_A),
        task("check absent", True, name=name, state="absent"),
        mc_task(minio, "mc after check absent", "admin", "policy", "info", "t", name),
        task("absent", name=name, state="absent"),
        task("absent again", name=name, state="absent"),
        task("check absent again", True, name=name, state="absent"),
    ], diff=True)
    assert r.rc == 0, r.stdout
    assert results(r, "check", "apply", "again", "check again") == [
        (True, ["state"]), (True, ["state"]), (False, []), (False, [])]
    assert results(r, "check update", "update", "update again", "check update again") == [
        (True, ["document"]), (True, ["document"]), (False, []), (False, [])]
    assert results(r, "drift check", "restore", "restore again") == [
        (True, ["document"]), (True, ["document"]), (False, [])]
    assert results(r, "check absent", "absent", "absent again", "check absent again") == [
        (True, ["state"]), (True, ["state"]), (False, []), (False, [])]

    # check mode wrote nothing (mc is the independent client)
    assert mc_out(r, "mc after check")["error"]["cause"]["error"]["Code"] == "XMinioAdminNoSuchPolicy"
    assert len(mc_out(r, "mc after check update")["policyInfo"]["Policy"]["Statement"]) == 2
    assert mc_out(r, "mc after check absent")["status"] == "success"

    # diff and returned resource
    assert r["check"]["diff"]["before"] == {"state": "absent"}
    assert r["check update"]["diff"]["after"]["document"]["Statement"][0]["Action"] == [
        "s3:GetObject", "s3:PutObject"]
    assert r["apply"]["policy"]["name"] == name
    assert r["apply"]["policy"]["attached_users"] == []
    assert canonical_statements(r["again"]["policy"]["document"]) == canonical_statements(
        r["apply"]["policy"]["document"])
    updated = mc_out(r, "mc after update")["policyInfo"]["Policy"]["Statement"]
    assert sorted(updated[0]["Action"]) == ["s3:GetObject", "s3:PutObject"]
    assert updated[0]["Condition"] == {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8"]}}
    assert r["drift check"]["diff"]["before"]["document"]["Statement"][0]["Action"] == ["s3:*"]
    assert r["absent"]["policy"] is None
    assert policy_doc(minio, name) is None


def test_absent_while_attached_fails_unless_detach(minio, play, unique_name):
    name, user = unique_name, f"u-{unique_name}"
    admin = minio.sdk()[1]
    admin.policy_add(policy_name=name, policy={"Version": "2012-10-17", "Statement": READ_A["Statement"]})
    admin.user_add(access_key=user, secret_key="user-secret-1")
    admin.attach_policy(policies=[name], user=user)

    r = play([
        dict(task("absent", name=name, state="absent"), ignore_errors=True),
        mc_task(minio, "mc after failure", "admin", "user", "info", "t", user),
        task("check detach", True, name=name, state="absent", detach=True),
        mc_task(minio, "mc after check", "admin", "user", "info", "t", user),
        task("detach", name=name, state="absent", detach=True),
        task("detach again", name=name, state="absent", detach=True),
    ], diff=True)
    assert r.rc == 0, r.stdout
    assert r["absent"]["failed"] is True
    msg = r["absent"]["msg"]
    assert "still attached" in msg and user in msg and "detach: true" in msg
    assert mc_out(r, "mc after failure")["policyName"] == name
    assert results(r, "check detach", "detach", "detach again") == [
        (True, ["attachments", "state"]), (True, ["attachments", "state"]), (False, [])]
    assert r["check detach"]["diff"]["before"]["attachments"] == {"users": [user], "groups": []}
    assert mc_out(r, "mc after check")["policyName"] == name
    assert policy_doc(minio, name) is None
    assert user_info(minio, user)["policies"] == []
    admin.user_remove(access_key=user)


def test_bad_input_fails_clearly_and_changes_nothing(minio, play, unique_name):
    admin = minio.sdk()[1]
    before = canonical_listing(admin)
    closed_port = free_port()
    cases = {
        "malformed json": (dict(name=unique_name, policy='{"Statement": [}'), "malformed policy JSON"),
        "not a policy": (dict(name=unique_name, policy={"Statement": []}), "non-empty Statement"),
        "bad effect": (dict(name=unique_name, policy={"Statement": [{"Effect": "Perhaps", "Action": "s3:*"}]}),
                       "Effect must be Allow or Deny"),
        "comma in name": (dict(name="a,b", policy=READ_A), "must not contain ','"),
        "builtin": (dict(name="readwrite", policy=READ_A), "MinIO creates itself"),
        "builtin absent": (dict(name="readonly", state="absent"), "MinIO creates itself"),
        "no policy": (dict(name=unique_name), "policy"),
        "unreachable": (dict(name=unique_name, policy=READ_A, endpoint=f"http://127.0.0.1:{closed_port}"),
                        f"127.0.0.1:{closed_port}"),
        "no scheme": (dict(name=unique_name, policy=READ_A, endpoint="127.0.0.1:9000"), "must be a URL"),
    }
    r = play([dict(task(label, **args), ignore_errors=True) for label, (args, _expected) in cases.items()])
    for label, (_args, expected) in cases.items():
        res = r[label]
        assert res.get("failed") is True, label
        assert expected in res["msg"], (label, res["msg"])
        assert minio.secret_key not in json.dumps(res)
    assert "cannot reach the server" in r["unreachable"]["msg"]
    assert canonical_listing(admin) == before
