# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to koprogo.storage: may change without notice.
"""Read and write the settings of one MinIO bucket (the I/O half of minio_bucket).

read_bucket(conn, name) is public to the collection: minio_info reuses it.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.koprogo.storage.plugins.module_utils._bucket import (
    MANAGED_NONCURRENT_RULE_ID,
    classify_policy,
    current_noncurrent_days,
    report_access_rules,
    report_retention,
    split_lifecycle,
    stale_upload_days,
)
from ansible_collections.koprogo.storage.plugins.module_utils._minio import MinioError, error_code
from ansible_collections.koprogo.storage.plugins.module_utils._policy import canonical_or_raw

try:
    from minio.commonconfig import ENABLED, Filter, Tags
    from minio.deleteobjects import DeleteObject
    from minio.error import MinioAdminException, S3Error
    from minio.lifecycleconfig import LifecycleConfig, NoncurrentVersionExpiration, Rule
    from minio.objectlockconfig import DAYS, ObjectLockConfig
    from minio.sseconfig import Rule as SSERule
    from minio.sseconfig import SSEConfig
    from minio.versioningconfig import SUSPENDED, VersioningConfig
except ImportError:  # pragma: no cover - reported by require_minio()
    pass

NO_KMS_MESSAGE = ("the server has no KMS configured, so it cannot encrypt with SSE-S3: configure KMS "
                  "(MINIO_KMS_SECRET_KEY, or MINIO_KMS_KES_ENDPOINT for KES) on {endpoint} first")
_DENIED = ("AccessDenied", "XMinioAdminNotImplemented", "NotImplemented")


def lifecycle_summary(rule):
    """A plain dict describing one SDK lifecycle Rule (what the pure functions look at)."""
    flt = rule.rule_filter
    whole = flt is None or (not flt.prefix and flt.tag is None and flt.and_operator is None)
    actions = [name for name in ("abort_incomplete_multipart_upload", "expiration", "noncurrent_version_expiration",
                                 "noncurrent_version_transition", "transition") if getattr(rule, name, None)]
    nve = rule.noncurrent_version_expiration
    return {
        "id": rule.rule_id,
        "status": rule.status,
        "whole_bucket": whole,
        "actions": actions,
        "noncurrent_days": nve.noncurrent_days if nve else None,
        "newer_noncurrent_versions": nve.newer_noncurrent_versions if nve else None,
    }


def config_get(admin, key):
    """admin.config_get(key), raising the SDK's real error.

    minio-py 7.2's MinioAdmin.config_get closes `response` in a `finally` block even when the
    request failed before `response` was assigned, so every failure (an HTTP error answer or a
    transport error) surfaces as UnboundLocalError, with the real error as its __context__.
    """
    try:
        return admin.config_get(key=key)
    except UnboundLocalError as exc:
        if exc.__context__ is not None:
            raise exc.__context__ from None
        raise


def read_stale_upload_days(conn):
    """Server-wide: days after which MinIO aborts incomplete multipart uploads (None when not readable)."""
    def attempt():
        try:
            return config_get(conn.admin, "api")
        except MinioAdminException as exc:
            if error_code(exc) not in _DENIED:
                raise
            return None

    text = conn.call("read server setting api stale_uploads_expiry", attempt)
    if text is None:
        return None
    try:
        return stale_upload_days(text)
    except ValueError:
        return None


class BucketState:
    """Every facet of one bucket as the server reports it, plus the raw objects writes need."""

    def __init__(self, name):
        self.name = name
        self.exists = False
        self.report = {"name": name, "exists": False}
        self.lifecycle_rules = []  # SDK Rule objects, in server order
        self.lifecycle_summaries = []
        self.stale_upload_days = None  # server-wide, also known when the bucket is missing


READ = object()  # sentinel: read the server-wide stale upload expiry


def _fetch_all(calls):
    """Run independent reads side by side; return {key: (value, error)}.

    The slow ones (the encrypted admin read, a loaded server) then cost their own time
    instead of the sum of all of them.
    """
    out = {}
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {key: pool.submit(fn) for key, fn in calls.items()}
        for key, future in futures.items():
            try:
                out[key] = (future.result(), None)
            except MinioError as exc:
                out[key] = (None, exc)
    return out


def read_state(conn, name, stale_upload_days=READ):
    """Read every facet of bucket name. Returns a BucketState.

    The server-wide stale upload expiry costs a slow, encrypted admin call: pass
    stale_upload_days (a value read once with read_stale_upload_days, or None) to skip it.
    """
    state = BucketState(name)
    s3 = conn.s3
    calls = {
        "exists": lambda: conn.call(f"check bucket {name}", s3.bucket_exists, bucket_name=name),
        "versioning": lambda: conn.call(f"read versioning of bucket {name}", s3.get_bucket_versioning,
                                        bucket_name=name),
        "lock": lambda: conn.try_call(f"read object lock of bucket {name}", s3.get_object_lock_config,
                                      bucket_name=name, missing=("ObjectLockConfigurationNotFoundError",),
                                      default=None),
        "quota": lambda: conn.try_call(f"read quota of bucket {name}", conn.admin.bucket_quota_get, bucket=name,
                                       missing=_DENIED, default=None),
        "policy": lambda: conn.try_call(f"read policy of bucket {name}", s3.get_bucket_policy, bucket_name=name,
                                        missing=("NoSuchBucketPolicy",), default=None),
        "tags": lambda: conn.call(f"read tags of bucket {name}", s3.get_bucket_tags, bucket_name=name),
        "lifecycle": lambda: conn.call(f"read lifecycle of bucket {name}", s3.get_bucket_lifecycle,
                                       bucket_name=name),
        "encryption": lambda: conn.call(f"read encryption of bucket {name}", s3.get_bucket_encryption,
                                        bucket_name=name),
    }
    if stale_upload_days is READ:
        calls["stale"] = lambda: read_stale_upload_days(conn)
    results = _fetch_all(calls)
    exists, error = results["exists"]
    if error:
        raise error
    state.stale_upload_days = results["stale"][0] if "stale" in results else stale_upload_days
    if not exists:
        return state
    for _value, error in results.values():
        if error:
            raise error
    raw = {key: value for key, (value, _error) in results.items()}
    state.exists = True
    rep = state.report
    rep["exists"] = True

    rep["versioning"] = (raw["versioning"].status or "off").lower()

    lock = raw["lock"]
    rep["object_lock"] = lock is not None
    rep["object_lock_retention"] = report_retention(lock.mode, lock.duration, lock.duration_unit) if lock else {}

    if raw["quota"] is None:
        rep["quota"] = None
    else:
        try:
            rep["quota"] = int(json.loads(raw["quota"] or "{}").get("quota") or 0)
        except (ValueError, AttributeError):
            raise MinioError(f"read quota of bucket {name} on {conn.endpoint}: the server answered invalid JSON") \
                from None

    policy = json.loads(raw["policy"]) if raw["policy"] else None
    # MinIO lists a statement's actions in no fixed order: report the canonical form, so two reads
    # of the same policy (and diff mode's before/after) compare equal.
    rep["policy"] = canonical_or_raw(policy) if policy is not None else None
    rules = classify_policy(name, policy)
    rep["anonymous_access"] = rules if rules == "custom" else report_access_rules(rules)

    rep["tags"] = dict(raw["tags"] or {})

    lifecycle = raw["lifecycle"]
    state.lifecycle_rules = list(lifecycle.rules) if lifecycle else []
    state.lifecycle_summaries = [lifecycle_summary(r) for r in state.lifecycle_rules]
    foreign = split_lifecycle(state.lifecycle_summaries)[1]
    rep["lifecycle"] = {
        "noncurrent_version_expiration_days": current_noncurrent_days(state.lifecycle_summaries),
        "abort_incomplete_multipart_upload_days": raw.get("stale", stale_upload_days),
        "other_rules": [state.lifecycle_summaries[i]["id"] or f"#{i + 1}" for i in foreign],
    }

    sse = raw["encryption"]
    algorithm = sse.rule.sse_algorithm if sse else None
    rep["encryption"] = {None: "none", "AES256": "sse-s3", "aws:kms": "sse-kms"}.get(algorithm, algorithm)
    return state


def read_bucket(conn, name, stale_upload_days=READ):
    """Every facet of bucket name as the server reports it (a dict; exists=False when missing).

    Keys: name, exists, versioning (enabled|suspended|off), object_lock (bool),
    object_lock_retention ({} or {mode, days|years}), quota (bytes, 0 = none; None if not readable),
    anonymous_access (private|download|upload|public, a list of {prefix, access}, or custom),
    policy (dict or None), tags (dict), lifecycle ({noncurrent_version_expiration_days,
    abort_incomplete_multipart_upload_days (server-wide), other_rules}), encryption (none|sse-s3|sse-kms).
    When reading many buckets, read the server-wide value once with read_stale_upload_days(conn)
    and pass it as stale_upload_days.
    """
    return read_state(conn, name, stale_upload_days=stale_upload_days).report


# --- writes ------------------------------------------------------------------------


def kms_available(conn):
    """False when the server says it has no KMS, True when it has one, None when it cannot tell."""
    def attempt():
        try:
            conn.admin.kms_key_status()
            return True
        except MinioAdminException as exc:
            if error_code(exc) == "NotImplemented":
                return False
            return None
        except S3Error:
            return None

    return conn.call("read KMS status", attempt)


def create_bucket(conn, name, object_lock):
    conn.call(f"create bucket {name}", conn.s3.make_bucket, bucket_name=name, object_lock=bool(object_lock))


def set_versioning(conn, name, status):
    config = VersioningConfig(status=ENABLED if status == "enabled" else SUSPENDED)
    conn.call(f"set versioning of bucket {name}", conn.s3.set_bucket_versioning, bucket_name=name, config=config)


def set_retention(conn, name, retention):
    if retention:
        config = ObjectLockConfig(mode=retention["mode"], duration=retention["days"], duration_unit=DAYS)
    else:
        config = ObjectLockConfig(mode=None, duration=None, duration_unit=None)
    conn.call(f"set default retention of bucket {name}", conn.s3.set_object_lock_config, bucket_name=name,
              config=config)


def set_quota(conn, name, size):
    if size:
        conn.call(f"set quota of bucket {name}", conn.admin.bucket_quota_set, bucket=name, size=size)
    else:
        conn.call(f"clear quota of bucket {name}", conn.admin.bucket_quota_clear, bucket=name)


def set_policy(conn, name, policy):
    """Write policy (a dict) or delete the bucket policy when policy is None."""
    if policy is None:
        conn.try_call(f"delete policy of bucket {name}", conn.s3.delete_bucket_policy, bucket_name=name,
                      missing=("NoSuchBucketPolicy",))
    else:
        text = json.dumps(policy, sort_keys=True, separators=(",", ":"))
        conn.call(f"set policy of bucket {name}", conn.s3.set_bucket_policy, bucket_name=name, policy=text)


def set_tags(conn, name, tags):
    if tags:
        value = Tags.new_bucket_tags()
        for key, val in sorted(tags.items()):
            value[key] = val
        conn.call(f"set tags of bucket {name}", conn.s3.set_bucket_tags, bucket_name=name, tags=value)
    else:
        conn.call(f"delete tags of bucket {name}", conn.s3.delete_bucket_tags, bucket_name=name)


def set_noncurrent_expiration(conn, state, days):
    """Replace the managed noncurrent-version rule (days=0: remove it), keeping foreign rules as they are."""
    name = state.name
    foreign = split_lifecycle(state.lifecycle_summaries)[1]
    rules = [state.lifecycle_rules[i] for i in foreign]
    if days:
        used = {r.rule_id for r in rules}
        rule_id = MANAGED_NONCURRENT_RULE_ID
        while rule_id in used:
            rule_id += "-1"
        rules.append(Rule(status=ENABLED, rule_filter=Filter(prefix=""), rule_id=rule_id,
                          noncurrent_version_expiration=NoncurrentVersionExpiration(noncurrent_days=days)))
    if rules:
        conn.call(f"set lifecycle of bucket {name}", conn.s3.set_bucket_lifecycle, bucket_name=name,
                  config=LifecycleConfig(rules=rules))
    else:
        conn.call(f"delete lifecycle of bucket {name}", conn.s3.delete_bucket_lifecycle, bucket_name=name)


def set_stale_upload_days(conn, days):
    """Server-wide: abort incomplete multipart uploads after days (MinIO has no per-bucket rule for it)."""
    conn.call("set server setting api stale_uploads_expiry", conn.admin.config_set, key="api",
              config={"stale_uploads_expiry": f"{int(days) * 24}h"})


def set_encryption(conn, name, encryption):
    if encryption == "sse-s3":
        def attempt():
            try:
                conn.s3.set_bucket_encryption(bucket_name=name, config=SSEConfig(rule=SSERule.new_sse_s3_rule()))
            except S3Error as exc:
                if exc.code == "NotImplemented":
                    raise MinioError(f"set encryption of bucket {name}: "
                                     + NO_KMS_MESSAGE.format(endpoint=conn.endpoint)) from None
                raise

        conn.call(f"set encryption of bucket {name}", attempt)
    else:
        conn.call(f"delete encryption of bucket {name}", conn.s3.delete_bucket_encryption, bucket_name=name)


def first_object(conn, name):
    """The first object version in bucket name (a short description), or None when it is empty."""
    def _first():
        for obj in conn.s3.list_objects(bucket_name=name, recursive=True, include_version=True):
            return obj.object_name
        return None
    return conn.call(f"list objects of bucket {name}", _first)


def remove_bucket(conn, name, purge):
    """Delete bucket name; with purge, every object version and delete marker first."""
    if purge:
        def _purge():
            listing = conn.s3.list_objects(bucket_name=name, recursive=True, include_version=True)
            targets = (DeleteObject(name=o.object_name, version_id=o.version_id) for o in listing)
            errors = list(conn.s3.remove_objects(bucket_name=name, delete_object_list=targets,
                                                 bypass_governance_mode=True))
            return errors
        errors = conn.call(f"delete objects of bucket {name}", _purge)
        if errors:
            first = errors[0]
            raise MinioError(f"delete objects of bucket {name} on {conn.endpoint} failed for {len(errors)} "
                             f"object version(s), first '{first.name}': {first.code}: {first.message}")
    conn.call(f"delete bucket {name}", conn.s3.remove_bucket, bucket_name=name)
