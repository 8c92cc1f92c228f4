"""koprogo.storage.minio_bucket against a real MinIO, checked with independent clients (mc, boto3, HTTP).

Every facet goes through: check (changed, server untouched), apply (changed, server shows it),
apply again (unchanged), check again (unchanged); then drift made with mc/boto3 is reported by
a check run (changed_facets names the facet) and put back by an apply run.
To keep the suite quick, the facets run side by side (one bucket each) in three plays.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request

import pytest
from ansible_collections.koprogo.storage.plugins.module_utils._policy import policies_equal
from helpers.ansible_run import run_tasks
from helpers.minio_server import free_port

STEPS = ("check", "apply", "again", "check_again")


def _code(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - botocore ClientError: return its code
        return getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    return None


def http_status(url, method="GET", data=None):
    """Status of an anonymous (unsigned) request."""
    req = urllib.request.Request(url, method=method, data=data)  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


# --- what the server shows, read with mc / boto3 -------------------------------------


def obs_versioning(srv, bucket):
    return srv.boto3().get_bucket_versioning(Bucket=bucket).get("Status", "off")


def obs_bucket(srv, bucket):
    s3 = srv.boto3()
    if _code(lambda: s3.head_bucket(Bucket=bucket)):
        return "missing"
    if _code(lambda: s3.get_object_lock_configuration(Bucket=bucket)):
        return "exists"
    return s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"].get("ObjectLockEnabled")


def obs_retention(srv, bucket):
    conf = srv.boto3().get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    return conf.get("Rule", {}).get("DefaultRetention", {})


def obs_quota(srv, bucket):
    return json.loads(srv.mc("quota", "info", f"t/{bucket}", "--json").stdout).get("quota", 0)


def obs_anonymous(srv, bucket):
    """What anonymous clients get, plus how mc names it."""
    listing = srv.mc("anonymous", "list", f"t/{bucket}", "--json").stdout.split("\n")
    rules = sorted(tuple(json.loads(line).values()) for line in listing if line.strip())
    base = f"{srv.endpoint}/{bucket}"
    return {"mc": rules, "read pub": http_status(f"{base}/pub/hello.txt"),
            "read secret": http_status(f"{base}/secret/x.txt"),
            "write pub": http_status(f"{base}/pub/new.txt", method="PUT", data=b"x")}


def obs_policy(srv, bucket):
    code = _code(lambda: srv.boto3().get_bucket_policy(Bucket=bucket))
    if code:
        return code
    return json.loads(srv.boto3().get_bucket_policy(Bucket=bucket)["Policy"])


def obs_tags(srv, bucket):
    s3 = srv.boto3()
    if _code(lambda: s3.get_bucket_tagging(Bucket=bucket)):
        return {}
    return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}


def obs_lifecycle(srv, bucket):
    s3 = srv.boto3()
    if _code(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)):
        return []
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    return sorted((r.get("ID"), json.dumps({k: v for k, v in r.items() if k != "ID"}, sort_keys=True))
                  for r in rules)


def obs_stale_uploads(srv, _bucket):
    out = srv.mc("admin", "config", "get", "t", "api").stdout
    return next(kv.split("=", 1)[1] for kv in out.split() if kv.startswith("stale_uploads_expiry="))


def obs_encryption(srv, bucket):
    s3 = srv.boto3()
    code = _code(lambda: s3.get_bucket_encryption(Bucket=bucket))
    if code:
        return code
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    return rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]


# --- facets ---------------------------------------------------------------------

FOREIGN_RULE = {"ID": "tmp-cleanup", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}
CUSTOM_POLICY = {"Statement": [{"Sid": "PublicLogos", "Effect": "Allow", "Principal": "*",
                                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{bucket}/pub/*"}]}


def _setup_plain(srv, bucket):
    srv.boto3().create_bucket(Bucket=bucket)


def _setup_objects(srv, bucket):
    s3 = srv.boto3()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="pub/hello.txt", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="secret/x.txt", Body=b"secret")


def _setup_lock(srv, bucket):
    srv.boto3().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)


def _setup_lifecycle(srv, bucket):
    s3 = srv.boto3()
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [FOREIGN_RULE]})


def _setup_stale(srv, bucket):
    srv.boto3().create_bucket(Bucket=bucket)
    srv.mc("admin", "config", "set", "t", "api", "stale_uploads_expiry=72h")


def _policy_for(bucket):
    return json.loads(json.dumps(CUSTOM_POLICY).replace("{bucket}", bucket))


FACETS = {
    "versioning": dict(
        setup=_setup_plain, args={"versioning": "enabled"}, observe=obs_versioning,
        before="off", after="Enabled",
        drift=lambda srv, b: srv.boto3().put_bucket_versioning(
            Bucket=b, VersioningConfiguration={"Status": "Suspended"}),
    ),
    "object_lock": dict(
        setup=None, args={"object_lock": True}, observe=obs_bucket, facets=["state"],
        before="missing", after="Enabled", drift=None,
    ),
    "object_lock_retention": dict(
        setup=_setup_lock, args={"object_lock": True, "object_lock_retention": {"mode": "GOVERNANCE", "days": 7}},
        observe=obs_retention, before={}, after={"Mode": "GOVERNANCE", "Days": 7},
        drift=lambda srv, b: srv.boto3().put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}}),
    ),
    "quota": dict(
        setup=_setup_plain, args={"quota": "10MiB"}, observe=obs_quota, before=0, after=10 * 2**20,
        drift=lambda srv, b: srv.mc("quota", "set", f"t/{b}", "--size", "1MiB"),
    ),
    "anonymous_access": dict(
        setup=_setup_objects, args={"anonymous_access": "download"}, observe=obs_anonymous,
        before={"mc": [], "read pub": 403, "read secret": 403, "write pub": 403},
        after={"mc": [("{b}/*", "readonly")], "read pub": 200, "read secret": 200, "write pub": 403},
        drift=lambda srv, b: srv.mc("anonymous", "set", "upload", f"t/{b}"),
    ),
    "anonymous_prefix": dict(
        facet="anonymous_access", setup=_setup_objects,
        args={"anonymous_access": [{"prefix": "pub/", "access": "download"}]}, observe=obs_anonymous,
        before={"mc": [], "read pub": 403, "read secret": 403, "write pub": 403},
        after={"mc": [("{b}/pub/*", "readonly")], "read pub": 200, "read secret": 403, "write pub": 403},
        drift=lambda srv, b: srv.mc("anonymous", "set", "public", f"t/{b}/secret/"),
    ),
    "policy": dict(
        setup=_setup_objects, args={"policy": "__policy__"}, observe=obs_policy,
        before="NoSuchBucketPolicy", after="__policy__",
        drift=lambda srv, b: srv.boto3().put_bucket_policy(Bucket=b, Policy=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                     "Resource": f"arn:aws:s3:::{b}/*"}]})),
    ),
    "tags": dict(
        setup=_setup_plain, args={"tags": {"app": "koprogo", "env": "test"}}, observe=obs_tags,
        before={}, after={"app": "koprogo", "env": "test"},
        drift=lambda srv, b: srv.boto3().put_bucket_tagging(
            Bucket=b, Tagging={"TagSet": [{"Key": "app", "Value": "other"}, {"Key": "extra", "Value": "x"}]}),
    ),
    "lifecycle": dict(
        setup=_setup_lifecycle, args={"lifecycle": {"noncurrent_version_expiration_days": 30}},
        observe=obs_lifecycle, before="__foreign__", after="__foreign+30__",
        drift=lambda srv, b: srv.boto3().put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={
            "Rules": [FOREIGN_RULE, {"ID": "noncurrent-version-expiration", "Status": "Enabled",
                                     "Filter": {"Prefix": ""}, "NoncurrentVersionExpiration": {"NoncurrentDays": 5}}]}),
    ),
    "lifecycle_abort": dict(
        facet="lifecycle", setup=_setup_stale, args={"lifecycle": {"abort_incomplete_multipart_upload_days": 2}},
        observe=obs_stale_uploads, before="72h", after="48h",
        drift=lambda srv, b: srv.mc("admin", "config", "set", "t", "api", "stale_uploads_expiry=240h"),
    ),
    "encryption": dict(
        kms=True, setup=_setup_plain, args={"encryption": "sse-s3"}, observe=obs_encryption,
        before="ServerSideEncryptionConfigurationNotFoundError", after="AES256",
        drift=lambda srv, b: srv.boto3().delete_bucket_encryption(Bucket=b),
    ),
}


def _expected(value, bucket):
    if value == "__policy__":
        return _policy_for(bucket)
    if value == "__foreign__":
        return [("tmp-cleanup", _lifecycle_json(FOREIGN_RULE))]
    if value == "__foreign+30__":
        return sorted([("tmp-cleanup", _lifecycle_json(FOREIGN_RULE)),
                       ("noncurrent-version-expiration", _lifecycle_json(
                           {"Status": "Enabled", "Filter": {"Prefix": ""},
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}))])
    if isinstance(value, dict) and "mc" in value:
        return {**value, "mc": [tuple(x.replace("{b}", bucket) for x in r) for r in value["mc"]]}
    return value


def _lifecycle_json(rule):
    return json.dumps({k: v for k, v in rule.items() if k != "ID"}, sort_keys=True)


def _same(observed, expected):
    if isinstance(expected, dict) and "Statement" in expected:
        return isinstance(observed, dict) and policies_equal(observed, expected)
    return observed == expected


@pytest.fixture(scope="module")
def facet_runs(minio, minio_kms, tmp_path_factory):
    """Run the facet scenario for every facet side by side; return what each step showed."""
    tmp = tmp_path_factory.mktemp("bucket-facets")
    cases = {}
    for key, spec in FACETS.items():
        srv = minio_kms if spec.get("kms") else minio
        bucket = f"f-{key.replace('_', '-')}-{secrets.token_hex(3)}"
        args = dict(spec["args"])
        if args.get("policy") == "__policy__":
            args["policy"] = json.dumps(_policy_for(bucket))
        if spec["setup"]:
            spec["setup"](srv, bucket)
        cases[key] = {"srv": srv, "bucket": bucket, "args": {"name": bucket, **args}, "seen": {}}
        cases[key]["seen"]["initial"] = spec["observe"](srv, bucket)

    def task(key, step, check):
        case = cases[key]
        args = dict(case["args"])
        if case["srv"] is minio_kms:
            args.update(minio_kms.connection)
        return {"name": f"{key} {step}", "koprogo.storage.minio_bucket": args, "check_mode": check}

    def observe_all(label):
        for key, case in cases.items():
            case["seen"][label] = FACETS[key]["observe"](case["srv"], case["bucket"])

    def run(steps, label):
        tasks = [task(key, step, check) for step, check in steps for key in cases]
        result = run_tasks(tasks, tmp_path=tmp, connection=minio.connection)
        assert result.rc == 0, result.stdout[-3000:] + result.stderr[-3000:]
        for key, case in cases.items():
            for step, _label in steps:
                case[step] = result.tasks[f"{key} {step}"]
        observe_all(label)

    run([("check", True)], "after check")
    run([("apply", False), ("again", False), ("check_again", True)], "after apply")
    for key, case in cases.items():
        if FACETS[key]["drift"]:
            FACETS[key]["drift"](case["srv"], case["bucket"])
    observe_all("drifted")
    drifting = {k: c for k, c in cases.items() if FACETS[k]["drift"]}
    tasks = [task(key, "drift_check", True) for key in drifting] + [task(key, "restore", False) for key in drifting]
    result = run_tasks(tasks, tmp_path=tmp, connection=minio.connection)
    assert result.rc == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for key, case in drifting.items():
        case["drift_check"] = result.tasks[f"{key} drift_check"]
        case["restore"] = result.tasks[f"{key} restore"]
    observe_all("restored")
    return cases


@pytest.mark.parametrize("key", list(FACETS))
def test_facet_check_apply_idempotent(facet_runs, key):
    spec, case = FACETS[key], facet_runs[key]
    facet = spec.get("facet", key)
    facets = spec.get("facets", []) + [facet] if facet != "object_lock" else ["state"]
    before, after = _expected(spec["before"], case["bucket"]), _expected(spec["after"], case["bucket"])
    seen = case["seen"]
    # Everything each step returned and every observation, so a failure in CI explains itself.
    why = {step: case[step] for step in ("check", "apply", "again", "check_again")} | {"seen": seen}
    assert _same(seen["initial"], before), seen["initial"]
    # check: changed, server untouched
    assert case["check"]["changed"] is True, why
    assert case["check"]["changed_facets"] == facets, why
    assert _same(seen["after check"], before), seen["after check"]
    # apply: changed, server shows it
    assert case["apply"]["changed"] is True, why
    assert case["apply"]["changed_facets"] == facets, why
    assert _same(seen["after apply"], after), seen["after apply"]
    # apply again and check again: unchanged
    for step in ("again", "check_again"):
        assert case[step]["changed"] is False, (step, why)
        assert case[step]["changed_facets"] == [], (step, why)
    # check mode predicted what apply read back
    if facet not in ("policy", "anonymous_access", "object_lock"):
        assert case["check"]["bucket"][facet] == case["apply"]["bucket"][facet], why
    assert case["apply"]["bucket"] == case["again"]["bucket"], why


@pytest.mark.parametrize("key", [k for k in FACETS if FACETS[k]["drift"]])
def test_facet_drift_reported_and_restored(facet_runs, key):
    spec, case = FACETS[key], facet_runs[key]
    facet = spec.get("facet", key)
    after = _expected(spec["after"], case["bucket"])
    seen = case["seen"]
    assert not _same(seen["drifted"], after), "the drift did not change the server"
    assert case["drift_check"]["changed"] is True
    assert case["drift_check"]["changed_facets"] == [facet]
    assert case["restore"]["changed"] is True
    assert case["restore"]["changed_facets"] == [facet]
    assert _same(seen["restored"], after), seen["restored"]


def test_returned_bucket_lists_every_facet(facet_runs):
    bucket = facet_runs["tags"]["apply"]["bucket"]
    assert set(bucket) == {"name", "exists", "versioning", "object_lock", "object_lock_retention", "quota",
                           "anonymous_access", "policy", "tags", "lifecycle", "encryption"}
    assert bucket["tags"] == {"app": "koprogo", "env": "test"}
    assert bucket["encryption"] == "none" and bucket["anonymous_access"] == "private"
    lifecycle = facet_runs["lifecycle"]["apply"]["bucket"]["lifecycle"]
    assert lifecycle["noncurrent_version_expiration_days"] == 30
    assert lifecycle["other_rules"] == ["tmp-cleanup"]


def test_tags_without_purge_keep_other_tags(play, minio, unique_name):
    s3 = minio.boto3()
    s3.create_bucket(Bucket=unique_name)
    s3.put_bucket_tagging(Bucket=unique_name, Tagging={"TagSet": [{"Key": "owner", "Value": "ops"}]})
    args = {"name": unique_name, "tags": {"app": "koprogo"}, "purge_tags": False}
    result = play([{"name": "merge", "koprogo.storage.minio_bucket": args, "register": "r"},
                   {"name": "again", "koprogo.storage.minio_bucket": args}])
    assert result.rc == 0, result.stdout
    assert result.tasks["merge"]["changed"] and not result.tasks["again"]["changed"]
    assert obs_tags(minio, unique_name) == {"owner": "ops", "app": "koprogo"}


def test_absent_twice(play, minio, unique_name):
    minio.boto3().create_bucket(Bucket=unique_name)
    absent = {"name": unique_name, "state": "absent"}
    check = play([{"name": "check", "koprogo.storage.minio_bucket": absent}], check=True)
    assert check.tasks["check"]["changed"] is True
    assert obs_bucket(minio, unique_name) != "missing"
    result = play([{"name": "absent", "koprogo.storage.minio_bucket": absent},
                   {"name": "absent again", "koprogo.storage.minio_bucket": absent},
                   {"name": "check again", "koprogo.storage.minio_bucket": absent, "check_mode": True}])
    assert result.rc == 0, result.stdout
    assert result.tasks["absent"]["changed"] is True
    assert result.tasks["absent"]["changed_facets"] == ["state"]
    assert result.tasks["absent again"]["changed"] is False
    assert result.tasks["check again"]["changed"] is False
    assert obs_bucket(minio, unique_name) == "missing"


def _objects(srv, bucket):
    out = srv.boto3().list_object_versions(Bucket=bucket)
    return sorted(v["Key"] for v in out.get("Versions", []) + out.get("DeleteMarkers", []))


def test_bad_input_fails_clearly_and_changes_nothing(play, minio, unique_name):
    s3 = minio.boto3()
    full = f"{unique_name}-full"
    plain = f"{unique_name}-plain"
    s3.create_bucket(Bucket=full)
    s3.put_bucket_versioning(Bucket=full, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=full, Key="a.txt", Body=b"1")
    s3.put_object(Bucket=full, Key="a.txt", Body=b"2")
    s3.delete_object(Bucket=full, Key="a.txt")
    s3.put_object(Bucket=full, Key="dir/b.txt", Body=b"3")
    s3.create_bucket(Bucket=plain)
    buckets_before = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    objects_before = _objects(minio, full)
    dead = f"http://127.0.0.1:{free_port()}"
    cases = {
        "bad name": ({"name": "Bad_Bucket"}, "breaks the S3 naming rules"),
        "ip name": ({"name": "192.168.1.10"}, "IP address"),
        "bad quota": ({"name": plain, "quota": "ten GiB", "versioning": "enabled"}, "is not a size"),
        "malformed policy": ({"name": plain, "policy": "{\"Statement\": [", "tags": {"a": "b"}},
                             "malformed policy JSON"),
        "foreign resource": ({"name": plain, "policy": {"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}]}},
            "is not in bucket"),
        "policy and anonymous": ({"name": plain, "policy": "{}", "anonymous_access": "download"},
                                 "mutually exclusive"),
        "bad access": ({"name": plain, "anonymous_access": "readonly"}, "must be one of"),
        "lock on existing": ({"name": plain, "object_lock": True, "versioning": "enabled", "tags": {"a": "b"}},
                             "object lock can only be enabled when a bucket is created"),
        "retention without lock": ({"name": plain, "object_lock_retention": {"mode": "GOVERNANCE", "days": 1},
                                    "versioning": "enabled"}, "needs object lock"),
        "suspend locked": ({"name": f"{unique_name}-new", "object_lock": True, "versioning": "suspended"},
                           "cannot be suspended"),
        "retention mode": ({"name": f"{unique_name}-new", "object_lock": True,
                            "object_lock_retention": {"mode": "FOREVER", "days": 1}}, "GOVERNANCE or COMPLIANCE"),
        "sse without kms": ({"name": plain, "encryption": "sse-s3", "versioning": "enabled", "tags": {"a": "b"}},
                            "no KMS configured"),
        "sse new bucket without kms": ({"name": f"{unique_name}-enc", "encryption": "sse-s3"}, "no KMS configured"),
        "not empty": ({"name": full, "state": "absent"}, "is not empty"),
        "unreachable": ({"name": plain, "endpoint": dead, "versioning": "enabled"}, f"check bucket {plain} on {dead}"),
        "bad lifecycle": ({"name": plain, "lifecycle": {"abort_incomplete_multipart_upload_days": 0}}, "at least 1"),
    }
    tasks = [{"name": n, "koprogo.storage.minio_bucket": a, "ignore_errors": True} for n, (a, _msg) in cases.items()]
    result = play(tasks)
    for name, (_args, message) in cases.items():
        res = result.tasks[name]
        assert res.get("failed") is True, (name, res)
        assert message in res["msg"], (name, res["msg"])
        assert res.get("changed") is False, name
        assert minio.secret_key not in json.dumps(res)
    # nothing changed on the server
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == buckets_before
    assert _objects(minio, full) == objects_before == ["a.txt", "a.txt", "a.txt", "dir/b.txt"]
    assert obs_versioning(minio, plain) == "off"
    assert obs_tags(minio, plain) == {} and obs_policy(minio, plain) == "NoSuchBucketPolicy"
    # force removes every version and the bucket
    forced = play([{"name": "force", "koprogo.storage.minio_bucket": {"name": full, "state": "absent",
                                                                      "force": True}}])
    assert forced.tasks["force"]["changed"] is True
    assert obs_bucket(minio, full) == "missing"


def test_force_check_mode_keeps_objects(play, minio, unique_name):
    s3 = minio.boto3()
    s3.create_bucket(Bucket=unique_name)
    s3.put_object(Bucket=unique_name, Key="k.txt", Body=b"1")
    result = play([{"name": "force", "koprogo.storage.minio_bucket": {"name": unique_name, "state": "absent",
                                                                      "force": True}}], check=True)
    assert result.tasks["force"]["changed"] is True
    assert _objects(minio, unique_name) == ["k.txt"]


def test_diff_mode_and_no_secret_in_verbose_output(play, minio, unique_name):
    args = {"name": unique_name, "versioning": "enabled", "tags": {"app": "koprogo"}, "quota": "1GiB"}
    result = play([{"name": "create", "koprogo.storage.minio_bucket": args}], diff=True)
    diff = result.tasks["create"]["diff"]
    assert diff["before"] == {"name": unique_name, "exists": False}
    assert diff["after"]["versioning"] == "enabled" and diff["after"]["quota"] == 2**30
    assert diff["after"]["tags"] == {"app": "koprogo"}
    changed = dict(args, tags={"app": "koprogo", "tier": "gold"})
    verbose = play([{"name": "retag", "koprogo.storage.minio_bucket": changed}], diff=True, verbosity=3,
                   json_output=False)
    assert verbose.rc == 0, verbose.stdout[-2000:]
    text = verbose.stdout + verbose.stderr
    assert "tier" in text and "before" in text and "after" in text
    assert minio.secret_key not in text


def test_settings_made_by_mc_with_the_same_meaning_are_not_rewritten(play, minio, unique_name):
    minio.mc("mb", f"t/{unique_name}")
    minio.mc("anonymous", "set", "download", f"t/{unique_name}/pub/")
    minio.mc("ilm", "rule", "add", "--noncurrent-expire-days", "30", f"t/{unique_name}")
    policy_before = obs_policy(minio, unique_name)
    rules_before = obs_lifecycle(minio, unique_name)
    args = {"name": unique_name, "anonymous_access": [{"prefix": "pub/", "access": "download"}],
            "lifecycle": {"noncurrent_version_expiration_days": 30}}
    result = play([{"name": "same meaning", "koprogo.storage.minio_bucket": args}])
    res = result.tasks["same meaning"]
    assert res["changed"] is False, res
    assert res["bucket"]["anonymous_access"] == [{"prefix": "pub/", "access": "download"}]
    assert res["bucket"]["lifecycle"]["noncurrent_version_expiration_days"] == 30
    assert obs_policy(minio, unique_name) == policy_before
    assert obs_lifecycle(minio, unique_name) == rules_before
