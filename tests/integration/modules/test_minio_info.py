"""minio_info against a real MinIO: state set up with mc (an independent client) is reported, no secret leaks,
and two runs compare as a drift report."""

import json
import re
import subprocess

import pytest
from helpers.minio_server import MINIO_BIN


@pytest.fixture
def populated(minio, unique_name, tmp_path):
    bucket, user, key_id = unique_name, f"{unique_name}-user", f"{unique_name[:12]}-sa"
    user_secret, sa_secret = "usr-" + unique_name[-20:], "sa-" + unique_name[-20:]
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{bucket}/*"]}]}
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(policy))
    minio.mc("mb", "--with-versioning", f"t/{bucket}")
    minio.mc("tag", "set", f"t/{bucket}", "team=syndic")
    minio.mc("admin", "policy", "create", "t", f"{bucket}-read", str(policy_file))
    minio.mc("admin", "user", "add", "t", user, user_secret)
    minio.mc("admin", "policy", "attach", "t", f"{bucket}-read", "--user", user)
    minio.mc("admin", "accesskey", "create", "t", user, "--access-key", key_id, "--secret-key", sa_secret)
    yield dict(bucket=bucket, user=user, key_id=key_id, secrets=[user_secret, sa_secret, minio.secret_key])
    minio.mc("admin", "user", "remove", "t", user, check=False)
    minio.mc("admin", "policy", "remove", "t", f"{bucket}-read", check=False)
    minio.mc("rb", "--force", f"t/{bucket}", check=False)


def info_task(name="info", **args):
    return {"name": name, "koprogo.storage.minio_info": args, "register": name}


def test_reports_what_mc_set_up_without_secrets(play, populated):
    result = play([info_task()], check=True, verbosity=3, json_output=True)
    assert result.rc == 0, result.stdout[-3000:]
    info = result["info"]
    assert info["changed"] is False
    assert info["server"]["mode"] == "online"
    assert info["server"]["drives_offline"] == 0
    # The version and commit the server reports: the ones its binary prints ("minio version V (commit-id=C)").
    banner = subprocess.run([str(MINIO_BIN), "--version"], capture_output=True, text=True, check=True,
                            timeout=120).stdout
    version, commit = re.search(r"version (\S+) \(commit-id=([^)\s]+)\)", banner).groups()
    assert info["server"]["versions"] == [version]
    assert info["server"]["commit_ids"] == [commit]
    bucket = info["buckets"][populated["bucket"]]
    assert bucket["versioning"] == "enabled"
    assert bucket["tags"] == {"team": "syndic"}
    assert bucket["anonymous_access"] == "private"
    policy = info["policies"][f"{populated['bucket']}-read"]
    assert policy["attached_users"] == [populated["user"]]
    assert policy["document"]["Statement"][0]["Action"] == ["s3:GetObject"]
    assert info["users"][populated["user"]] == {"status": "enabled", "policies": [f"{populated['bucket']}-read"]}
    account = info["service_accounts"][populated["key_id"]]
    assert account["parent_user"] == populated["user"]
    assert account["policy"] is None  # inherits the parent's
    for secret in populated["secrets"]:
        assert secret not in result.stdout + result.stderr


def test_two_runs_compare_as_a_drift_report(play, minio, populated):
    tasks = [info_task("before", buckets=[populated["bucket"]], gather=["buckets", "users"])]
    before = play(tasks)["before"]
    minio.mc("version", "suspend", f"t/{populated['bucket']}")
    minio.mc("admin", "user", "disable", "t", populated["user"])
    after = play([info_task("after", buckets=[populated["bucket"]], gather=["buckets", "users"])])["after"]
    b_before, b_after = before["buckets"][populated["bucket"]], after["buckets"][populated["bucket"]]
    assert {k for k in b_before if b_before[k] != b_after[k]} == {"versioning"}
    assert b_after["versioning"] == "suspended"
    assert after["users"][populated["user"]]["status"] == "disabled"
    assert before["server"] == after["server"] == {}


def test_unreachable_endpoint_fails_clearly(play, minio):
    from helpers.minio_server import free_port

    conn = dict(minio.connection, endpoint=f"http://127.0.0.1:{free_port()}", timeout=2)
    result = play([info_task(**conn)], server=None)
    assert result.rc != 0
    msg = result["info"]["msg"]
    assert "127.0.0.1" in msg and "cannot reach" in msg
    assert minio.secret_key not in result.stdout
