"""Table-driven tests of the pure minio_bucket decisions (plugins/module_utils/_bucket.py)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.koprogo.storage.plugins.module_utils import _bucket as b
from ansible_collections.koprogo.storage.plugins.module_utils._policy import PolicyError

# --- bucket names ---------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "abc", "koprogo-documents", "a" * 63, "my.bucket.name", "1bucket", "bucket1", "a-b.c-d",
    "xn-single-hyphen", "s3alias-in-front",
])
def test_valid_bucket_names(name):
    assert b.validate_bucket_name(name) is None


@pytest.mark.parametrize("name, reason", [
    ("", "non-empty"),
    ("ab", "3 to 63"),
    ("a" * 64, "3 to 63"),
    ("Bucket", "lowercase"),
    ("my_bucket", "lowercase"),
    ("my bucket", "lowercase"),
    ("-bucket", "start and end"),
    ("bucket-", "start and end"),
    (".bucket", "start and end"),
    ("bucket.", "start and end"),
    ("my..bucket", "'..'"),
    ("my.-bucket", "'.-'"),
    ("my-.bucket", "'-.'"),
    ("192.168.5.4", "IP address"),
    ("10.0.0.1", "IP address"),
    ("xn--bucket", "'xn--'"),
    ("sthree-bucket", "'sthree-'"),
    ("amzn-s3-demo-bucket", "reserved"),
    ("bucket-s3alias", "'-s3alias'"),
    ("bucket--ol-s3", "'--ol-s3'"),
    ("bucket.mrap", "'.mrap'"),
    ("bucket--x-s3", "reserved"),
    ("bucket--table-s3", "reserved"),
])
def test_invalid_bucket_names(name, reason):
    message = b.validate_bucket_name(name)
    assert message is not None
    assert reason in message


def test_invalid_name_message_names_the_bucket():
    assert "'My_Bucket'" in b.validate_bucket_name("My_Bucket")


# --- quota --------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    (None, 0), ("", 0), (0, 0), ("0", 0),
    (1048576, 1048576), ("1048576", 1048576),
    ("10GiB", 10 * 2**30), ("10 GiB", 10 * 2**30), ("10gib", 10 * 2**30), ("10Gi", 10 * 2**30),
    ("500MB", 500 * 10**6), ("500M", 500 * 10**6), ("1KB", 1000), ("1KiB", 1024),
    ("2TB", 2 * 10**12), ("2TiB", 2 * 2**40), ("1.5GiB", 3 * 2**29), ("100B", 100),
    (1024.0, 1024),
])
def test_parse_size(value, expected):
    assert b.parse_size(value) == expected


@pytest.mark.parametrize("value, reason", [
    ("ten GiB", "not a size"), ("10XB", "not a size"), ("-1", "not a size"), (-5, "negative"),
    ("1.5B", "whole number"), (True, "not True"), (1.5, "whole number"), ("10 G iB", "not a size"),
])
def test_parse_size_rejects(value, reason):
    with pytest.raises(ValueError, match=reason):
        b.parse_size(value)


# --- anonymous access -----------------------------------------------------------

MC_DOWNLOAD = {"Statement": [
    {"Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Effect": "Allow", "Principal": {"AWS": ["*"]},
     "Resource": ["arn:aws:s3:::bkt1"]},
    {"Action": ["s3:GetObject"], "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Resource": ["arn:aws:s3:::bkt1/*"]},
], "Version": "2012-10-17"}
MC_UPLOAD = {"Statement": [
    {"Action": ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"], "Effect": "Allow",
     "Principal": {"AWS": ["*"]}, "Resource": ["arn:aws:s3:::bkt1"]},
    {"Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:ListMultipartUploadParts", "s3:PutObject"],
     "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Resource": ["arn:aws:s3:::bkt1/*"]},
], "Version": "2012-10-17"}
MC_PUBLIC = {"Statement": [
    {"Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation"], "Effect": "Allow",
     "Principal": {"AWS": ["*"]}, "Resource": ["arn:aws:s3:::bkt1"]},
    {"Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts",
                "s3:PutObject"], "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Resource": ["arn:aws:s3:::bkt1/*"]},
], "Version": "2012-10-17"}
# `mc anonymous set download t/bkt1/docs/` then `mc anonymous set upload t/bkt1/in` (merged by mc)
MC_PREFIXES = {"Statement": [
    {"Action": ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"], "Effect": "Allow",
     "Principal": {"AWS": ["*"]}, "Resource": ["arn:aws:s3:::bkt1"]},
    {"Action": ["s3:ListBucket"], "Condition": {"StringEquals": {"s3:prefix": ["docs/"]}}, "Effect": "Allow",
     "Principal": {"AWS": ["*"]}, "Resource": ["arn:aws:s3:::bkt1"]},
    {"Action": ["s3:GetObject"], "Effect": "Allow", "Principal": {"AWS": ["*"]},
     "Resource": ["arn:aws:s3:::bkt1/docs/*"]},
    {"Action": ["s3:DeleteObject", "s3:ListMultipartUploadParts", "s3:PutObject", "s3:AbortMultipartUpload"],
     "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Resource": ["arn:aws:s3:::bkt1/in*"]},
], "Version": "2012-10-17"}


@pytest.mark.parametrize("value, expected", [
    ("private", ()),
    ("none", ()),
    ([{"prefix": "a/", "access": "none"}], ()),
    ("download", (("", "download"),)),
    ("public", (("", "public"),)),
    ([{"prefix": "docs/", "access": "download"}], (("docs/", "download"),)),
    ([{"prefix": "in", "access": "upload"}, {"prefix": "docs/", "access": "download"}],
     (("docs/", "download"), ("in", "upload"))),
    ([{"prefix": "a/", "access": "private"}, {"access": "upload"}], (("", "upload"),)),
    ([{"prefix": None, "access": "download"}], (("", "download"),)),
    (["download"], (("", "download"),)),
    ([], ()),
])
def test_normalize_access_rules(value, expected):
    assert b.normalize_access_rules(value) == expected


@pytest.mark.parametrize("value, reason", [
    ("readonly", "must be one of"),
    ([{"prefix": "a/", "access": "write"}], "must be one of"),
    ([{"prefix": "a/"}], "'access'"),
    ([{"prefix": "a/", "access": "download", "extra": 1}], "'access'"),
    ([{"prefix": "/a", "access": "download"}], "leading '/'"),
    ([{"prefix": "a/*", "access": "download"}], "wildcards"),
    ([{"prefix": "a/", "access": "download"}, {"prefix": "a/", "access": "upload"}], "more than once"),
    (42, "one of private"),
])
def test_normalize_access_rules_rejects(value, reason):
    with pytest.raises(ValueError, match=reason):
        b.normalize_access_rules(value)


@pytest.mark.parametrize("rules, shown", [
    ((), "private"),
    ((("", "download"),), "download"),
    ((("docs/", "download"),), [{"prefix": "docs/", "access": "download"}]),
    ((("", "download"), ("in/", "upload")),
     [{"prefix": "", "access": "download"}, {"prefix": "in/", "access": "upload"}]),
])
def test_report_access_rules(rules, shown):
    assert b.report_access_rules(rules) == shown


@pytest.mark.parametrize("policy, rules", [
    (MC_DOWNLOAD, (("", "download"),)),
    (MC_UPLOAD, (("", "upload"),)),
    (MC_PUBLIC, (("", "public"),)),
    (MC_PREFIXES, (("docs/", "download"), ("in", "upload"))),
    (json.dumps(MC_DOWNLOAD), (("", "download"),)),
])
def test_access_policy_matches_what_mc_writes(policy, rules):
    assert b.classify_policy("bkt1", policy) == rules
    assert b.policy_atoms(b.access_policy("bkt1", rules)) == b.policy_atoms(policy)


@pytest.mark.parametrize("rules", [
    (("", "download"),), (("", "upload"),), (("", "public"),), (("a/", "download"), ("b/", "public")),
    (("", "download"), ("in/", "upload")), (("x", "upload"),),
])
def test_access_policy_round_trips(rules):
    policy = b.access_policy("bkt1", rules)
    assert b.classify_policy("bkt1", policy) == rules
    assert policy["Version"] == "2012-10-17"
    assert all(s["Principal"] == {"AWS": ["*"]} for s in policy["Statement"])


def test_access_policy_private_is_no_policy():
    assert b.access_policy("bkt1", ()) is None


def _with(policy, **changes):
    out = json.loads(json.dumps(policy))
    out["Statement"][1].update(changes)
    return out


@pytest.mark.parametrize("policy, expected", [
    (None, ()),
    ({}, ()),
    ("", ()),
    (_with(MC_DOWNLOAD, Effect="Deny"), "custom"),
    (_with(MC_DOWNLOAD, Principal={"AWS": ["arn:aws:iam::123:user/x"]}), "custom"),
    (_with(MC_DOWNLOAD, Action=["s3:GetObject", "s3:GetObjectTagging"]), "custom"),
    (_with(MC_DOWNLOAD, Action=["s3:PutObject"]), "custom"),
    (_with(MC_DOWNLOAD, Resource=["arn:aws:s3:::bkt1/file.txt"]), "custom"),
    (_with(MC_DOWNLOAD, Condition={"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}), "custom"),
    (_with(MC_DOWNLOAD, NotAction=["s3:PutObject"]), "custom"),
    ({"Statement": [MC_DOWNLOAD["Statement"][1]]}, "custom"),  # object read without ListBucket
    ({"Statement": [MC_DOWNLOAD["Statement"][0]]}, "custom"),  # bucket statement only
    ("{not json", "custom"),
])
def test_classify_policy_other_policies(policy, expected):
    assert b.classify_policy("bkt1", policy) == expected


def test_classify_policy_principal_star_string_is_anonymous():
    policy = json.loads(json.dumps(MC_DOWNLOAD))
    for stmt in policy["Statement"]:
        stmt["Principal"] = "*"
    assert b.classify_policy("bkt1", policy) == (("", "download"),)


def test_classify_policy_other_bucket_is_custom():
    assert b.classify_policy("bkt2", MC_DOWNLOAD) == "custom"


# --- custom bucket policy ---------------------------------------------------------


@pytest.mark.parametrize("policy", [
    MC_DOWNLOAD,
    json.dumps(MC_DOWNLOAD),
    {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::bkt1/public/*"}]},
])
def test_validate_bucket_policy_accepts(policy):
    canon = b.validate_bucket_policy("bkt1", policy)
    assert canon["Version"] == "2012-10-17"


@pytest.mark.parametrize("policy, reason", [
    ("{broken", "malformed policy JSON"),
    ("[]", "JSON object"),
    ({"Statement": []}, "non-empty Statement"),
    ({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bkt1/*"}]},
     "needs a Principal"),
    ({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}, "needs a Resource"),
    ({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                     "Resource": "arn:aws:s3:::other/*"}]}, "not in bucket 'bkt1'"),
    ({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                     "Resource": "arn:aws:s3:::bkt10/*"}]}, "not in bucket 'bkt1'"),
    ({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject",
                     "Resource": "arn:aws:s3:::bkt1/*"}]}, "Allow or Deny"),
])
def test_validate_bucket_policy_rejects(policy, reason):
    with pytest.raises(PolicyError, match=reason):
        b.validate_bucket_policy("bkt1", policy)


# --- tags -----------------------------------------------------------------------


@pytest.mark.parametrize("current, wanted, purge, expected", [
    ({}, {"a": "1"}, True, {"a": "1"}),
    ({"a": "1", "b": "2"}, {"a": "1"}, True, {"a": "1"}),
    ({"a": "1", "b": "2"}, {"a": "1"}, False, {"a": "1", "b": "2"}),
    ({"a": "1", "b": "2"}, {"a": "9"}, False, {"a": "9", "b": "2"}),
    ({"a": "1"}, {}, True, {}),
    ({"a": "1"}, {}, False, {"a": "1"}),
    (None, {"a": "1"}, False, {"a": "1"}),
])
def test_desired_tags(current, wanted, purge, expected):
    assert b.desired_tags(current, wanted, purge) == expected


@pytest.mark.parametrize("tags, expected", [
    ({"a": 1, "b": True, "c": None}, {"a": "1", "b": "True", "c": ""}),
    ({}, {}),
    (None, None),
])
def test_validate_tags(tags, expected):
    assert b.validate_tags(tags) == expected


@pytest.mark.parametrize("tags, reason", [
    ({f"k{i}": "v" for i in range(51)}, "at most 50"),
    ({"": "v"}, "1 to 128"),
    ({"k" * 129: "v"}, "1 to 128"),
    ({"a&b": "v"}, "without '&'"),
    ({"k": "v" * 257}, "at most 256"),
    (["a"], "dict"),
])
def test_validate_tags_rejects(tags, reason):
    with pytest.raises(ValueError, match=reason):
        b.validate_tags(tags)


# --- retention --------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ({}, {}), (None, {}), ({"mode": None, "days": None}, {}),
    ({"mode": "governance", "days": 30}, {"mode": "GOVERNANCE", "days": 30}),
    ({"mode": "COMPLIANCE", "days": 1}, {"mode": "COMPLIANCE", "days": 1}),
])
def test_normalize_retention(value, expected):
    assert b.normalize_retention(value) == expected


@pytest.mark.parametrize("value, reason", [
    ({"mode": "LEGAL", "days": 3}, "GOVERNANCE or COMPLIANCE"),
    ({"mode": "GOVERNANCE"}, "at least 1"),
    ({"mode": "GOVERNANCE", "days": 0}, "at least 1"),
    ({"mode": None, "days": 5}, "needs object_lock_retention.mode"),
])
def test_normalize_retention_rejects(value, reason):
    with pytest.raises(ValueError, match=reason):
        b.normalize_retention(value)


@pytest.mark.parametrize("mode, duration, unit, expected", [
    (None, None, None, {}),
    ("GOVERNANCE", 30, "Days", {"mode": "GOVERNANCE", "days": 30}),
    ("COMPLIANCE", 2, "Years", {"mode": "COMPLIANCE", "years": 2}),
])
def test_report_retention(mode, duration, unit, expected):
    assert b.report_retention(mode, duration, unit) == expected


@pytest.mark.parametrize("current, wanted, same", [
    ({"mode": "GOVERNANCE", "days": 30}, {"mode": "GOVERNANCE", "days": 30}, True),
    ({"mode": "GOVERNANCE", "days": 30}, {"mode": "COMPLIANCE", "days": 30}, False),
    ({"mode": "GOVERNANCE", "days": 30}, {"mode": "GOVERNANCE", "days": 31}, False),
    ({"mode": "GOVERNANCE", "years": 1}, {"mode": "GOVERNANCE", "days": 365}, False),
    ({}, {}, True),
    ({"mode": "GOVERNANCE", "days": 30}, {}, False),
])
def test_retention_comparison(current, wanted, same):
    assert (current == b.normalize_retention(wanted)) is same


# --- versioning -------------------------------------------------------------------


@pytest.mark.parametrize("current, wanted, same", [
    ("enabled", "enabled", True), ("suspended", "enabled", False), ("off", "enabled", False),
    ("suspended", "suspended", True), ("off", "suspended", True), ("enabled", "suspended", False),
])
def test_versioning_matches(current, wanted, same):
    assert b.versioning_matches(current, wanted) is same


# --- lifecycle ---------------------------------------------------------------------


def rule(rid="r", status="Enabled", whole=True, actions=("noncurrent_version_expiration",), days=30, newer=None):
    return {"id": rid, "status": status, "whole_bucket": whole, "actions": list(actions),
            "noncurrent_days": days if "noncurrent_version_expiration" in actions else None,
            "newer_noncurrent_versions": newer}


@pytest.mark.parametrize("rules, managed, foreign, days", [
    ([], [], [], None),
    ([rule()], [0], [], 30),
    ([rule(status="Disabled")], [], [0], None),
    ([rule(whole=False)], [], [0], None),
    ([rule(newer=3)], [], [0], None),
    ([rule(actions=("noncurrent_version_expiration", "expiration"))], [], [0], None),
    ([rule("x", actions=("expiration",)), rule("n", days=7)], [1], [0], 7),
    ([rule("a", days=7), rule("b", days=30)], [0, 1], [], [7, 30]),
])
def test_split_lifecycle(rules, managed, foreign, days):
    assert b.split_lifecycle(rules) == (managed, foreign)
    assert b.current_noncurrent_days(rules) == days


@pytest.mark.parametrize("rules, wanted, same", [
    ([], 30, False),
    ([], 0, True),
    ([rule(days=30)], 30, True),
    ([rule(days=30)], 7, False),
    ([rule(days=30)], 0, False),
    ([rule("x", actions=("expiration",))], 0, True),  # foreign rules do not count
    ([rule("x", actions=("expiration",)), rule(days=30)], 30, True),
    ([rule("a", days=30), rule("b", days=30)], 30, False),  # duplicates are merged into one
])
def test_noncurrent_matches(rules, wanted, same):
    assert b.noncurrent_matches(rules, wanted) is same


@pytest.mark.parametrize("text, seconds", [
    ("24h", 86400), ("72h0m0s", 259200), ("90m", 5400), ("1h30m", 5400), ("0", 0), ("1.5h", 5400),
    ("500ms", 0.5),
])
def test_parse_go_duration(text, seconds):
    assert b.parse_go_duration(text) == seconds


@pytest.mark.parametrize("text", ["1d", "h", "24 h", "24hx"])
def test_parse_go_duration_rejects(text):
    with pytest.raises(ValueError):
        b.parse_go_duration(text)


@pytest.mark.parametrize("config, days", [
    ("api requests_max=0 stale_uploads_cleanup_interval=6h stale_uploads_expiry=24h delete_cleanup_interval=5m", 1),
    ("api stale_uploads_expiry=168h", 7),
    ("api stale_uploads_expiry=12h", 0.5),
    ("api requests_max=0", None),
    ("", None),
])
def test_stale_upload_days(config, days):
    assert b.stale_upload_days(config) == days


@pytest.mark.parametrize("effective, wanted, same", [
    (1, 7, True), (7, 7, True), (10, 7, False), (0.5, 1, True), (None, 1, False), (0, 3, False),
])
def test_abort_multipart_matches(effective, wanted, same):
    assert b.abort_multipart_matches(effective, wanted) is same


@pytest.mark.parametrize("value, expected", [
    (None, None),
    ({}, {}),
    ({"noncurrent_version_expiration_days": 30, "abort_incomplete_multipart_upload_days": None},
     {"noncurrent_version_expiration_days": 30}),
    ({"noncurrent_version_expiration_days": 0, "abort_incomplete_multipart_upload_days": 2},
     {"noncurrent_version_expiration_days": 0, "abort_incomplete_multipart_upload_days": 2}),
])
def test_validate_lifecycle(value, expected):
    assert b.validate_lifecycle(value) == expected


@pytest.mark.parametrize("value, reason", [
    ({"noncurrent_version_expiration_days": -1}, "at least 0"),
    ({"abort_incomplete_multipart_upload_days": 0}, "at least 1"),
    ({"noncurrent_version_expiration_days": True}, "whole number"),
])
def test_validate_lifecycle_rejects(value, reason):
    with pytest.raises(ValueError, match=reason):
        b.validate_lifecycle(value)
