# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to koprogo.storage: may change without notice.
"""Pure decisions for koprogo.storage.minio_bucket: validation, parsing and comparison.

Nothing here talks to a server; the I/O lives in _bucket_state.py.
"""

from __future__ import annotations

import ipaddress
import json
import re

from ansible_collections.koprogo.storage.plugins.module_utils._policy import (
    PolicyError,
    canonical_policy,
    load_policy,
)

# --- bucket names -------------------------------------------------------------

_NAME_CHARS = re.compile(r"^[a-z0-9.-]+$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def validate_bucket_name(name):
    """Return None when name follows the S3 bucket naming rules, else a message saying why not."""
    if not isinstance(name, str) or not name:
        return "bucket name must be a non-empty string"
    prefix = f"bucket name '{name}' breaks the S3 naming rules:"
    if not 3 <= len(name) <= 63:
        return f"{prefix} it must be 3 to 63 characters long (it has {len(name)})"
    if not _NAME_CHARS.match(name):
        return f"{prefix} use only lowercase letters, digits, hyphens and dots"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return f"{prefix} it must start and end with a letter or a digit"
    for pair in ("..", ".-", "-."):
        if pair in name:
            return f"{prefix} it must not contain '{pair}'"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return f"{prefix} it must not be formatted as an IP address"
    for reserved in _RESERVED_PREFIXES:
        if name.startswith(reserved):
            return f"{prefix} the prefix '{reserved}' is reserved"
    for reserved in _RESERVED_SUFFIXES:
        if name.endswith(reserved):
            return f"{prefix} the suffix '{reserved}' is reserved"
    return None


# --- quota --------------------------------------------------------------------

_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
    "t": 10**12, "tb": 10**12, "p": 10**15, "pb": 10**15,
    "ki": 2**10, "kib": 2**10, "mi": 2**20, "mib": 2**20, "gi": 2**30, "gib": 2**30,
    "ti": 2**40, "tib": 2**40, "pi": 2**50, "pib": 2**50,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value):
    """Bytes for a quota given as an int or a text such as '10GiB', '500MB', '1048576'.

    0, '0', '' and None mean no quota and give 0. Raises ValueError with a readable message.
    """
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError(f"quota must be a size such as '10GiB', not {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"quota must not be negative (got {value})")
        return value
    if isinstance(value, float):
        if value < 0 or value != int(value):
            raise ValueError(f"quota must be a whole number of bytes (got {value})")
        return int(value)
    match = _SIZE.match(str(value))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(
            f"quota '{value}' is not a size: use bytes (1048576) or a number with a unit "
            "(KB, MB, GB, TB decimal; KiB, MiB, GiB, TiB binary)"
        )
    size = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if size != int(size):
        raise ValueError(f"quota '{value}' is not a whole number of bytes")
    return int(size)


# --- anonymous access (canned bucket policies, as `mc anonymous set` writes them) ----

ACCESS_LEVELS = ("private", "download", "upload", "public")
_READ_OBJECT = ("s3:GetObject",)
_WRITE_OBJECT = ("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:ListMultipartUploadParts", "s3:PutObject")
_ANYONE = {"AWS": ["*"]}


def _arn(bucket, key=None):
    return f"arn:aws:s3:::{bucket}" if key is None else f"arn:aws:s3:::{bucket}/{key}"


def normalize_access_rules(value):
    """Turn the anonymous_access option into a sorted tuple of (prefix, level), private rules dropped.

    value is a level ('download', meaning the whole bucket) or a list of {prefix, access}.
    Raises ValueError with a readable message.
    """
    if isinstance(value, str):
        value = [{"prefix": "", "access": value}]
    if not isinstance(value, list):
        raise ValueError("anonymous_access must be one of private, download, upload, public "
                         "or a list of {prefix, access} rules")
    seen = {}
    for rule in value:
        if isinstance(rule, str):
            rule = {"prefix": "", "access": rule}
        if not isinstance(rule, dict) or set(rule) - {"prefix", "access"} or "access" not in rule:
            raise ValueError(f"anonymous_access rule {rule!r} must be a dict with 'access' and optional 'prefix'")
        prefix = rule.get("prefix") or ""
        access = "private" if rule["access"] == "none" else rule["access"]
        if access not in ACCESS_LEVELS:
            raise ValueError(f"anonymous_access '{access}' must be one of {', '.join(ACCESS_LEVELS)}")
        if not isinstance(prefix, str) or prefix.startswith("/") or any(c in prefix for c in "*?"):
            raise ValueError(f"anonymous_access prefix {prefix!r} must be a key prefix without a leading '/' "
                             "and without wildcards")
        if prefix in seen:
            raise ValueError(f"anonymous_access lists the prefix '{prefix}' more than once")
        seen[prefix] = access
    return tuple(sorted((p, a) for p, a in seen.items() if a != "private"))


def report_access_rules(rules):
    """The user-facing form of rules: a level for the whole bucket, or a list of {prefix, access}."""
    rules = list(rules)
    if not rules:
        return "private"
    if len(rules) == 1 and rules[0][0] == "":
        return rules[0][1]
    return [{"prefix": p, "access": a} for p, a in rules]


def _access_atoms(bucket, rules):
    """The (action, resource, condition-json) triples an anonymous policy for rules grants."""
    atoms = set()
    for prefix, access in rules:
        read = access in ("download", "public")
        write = access in ("upload", "public")
        atoms.add(("s3:GetBucketLocation", _arn(bucket), ""))
        if write:
            atoms.add(("s3:ListBucketMultipartUploads", _arn(bucket), ""))
        if read:
            cond = "" if prefix == "" else json.dumps({"StringEquals": {"s3:prefix": [prefix]}}, sort_keys=True)
            atoms.add(("s3:ListBucket", _arn(bucket), cond))
        for action in (_READ_OBJECT if read else ()) + (_WRITE_OBJECT if write else ()):
            atoms.add((action, _arn(bucket, prefix + "*"), ""))
    return atoms


def access_policy(bucket, rules):
    """The bucket policy granting anonymous access for rules, or None when every rule is private."""
    atoms = _access_atoms(bucket, rules)
    if not atoms:
        return None
    grouped = {}
    for action, resource, cond in atoms:
        grouped.setdefault((resource, cond), []).append(action)
    statements = []
    for (resource, cond), actions in sorted(grouped.items()):
        stmt = {"Effect": "Allow", "Principal": dict(_ANYONE), "Action": sorted(actions), "Resource": [resource]}
        if cond:
            stmt["Condition"] = json.loads(cond)
        statements.append(stmt)
    return {"Version": "2012-10-17", "Statement": statements}


def policy_atoms(policy):
    """Split a policy into a set of (effect, principal, action, resource, condition) rows.

    Two policies with the same rows grant the same, however the statements are grouped.
    """
    canon = canonical_policy(policy)
    rows = set()
    for stmt in canon["Statement"]:
        if any(k in stmt for k in ("NotAction", "NotResource", "NotPrincipal")):
            rows.add(("custom", json.dumps(stmt, sort_keys=True), "", "", ""))
            continue
        principal = json.dumps(stmt.get("Principal"), sort_keys=True)
        cond = json.dumps(stmt["Condition"], sort_keys=True) if stmt.get("Condition") else ""
        for action in stmt.get("Action", []):
            for resource in stmt.get("Resource", []):
                rows.add((stmt["Effect"], principal, action, resource, cond))
    return rows


def classify_policy(bucket, policy):
    """Access rules (tuple of (prefix, level)) that policy grants anonymously, or 'custom'.

    None or an empty policy is private (no rules). A policy that is not exactly what
    anonymous_access would write (other principals, Deny, other actions) is 'custom'.
    """
    if not policy:
        return ()
    try:
        rows = policy_atoms(policy)
    except PolicyError:
        return "custom"
    anyone = json.dumps(_ANYONE, sort_keys=True)
    object_actions = {}
    object_arn = _arn(bucket, "")
    for effect, principal, action, resource, cond in rows:
        if effect != "Allow" or principal != anyone:
            return "custom"
        if resource.startswith(object_arn):
            if cond or not resource.endswith("*"):
                return "custom"
            object_actions.setdefault(resource[len(object_arn):-1], set()).add(action)
    rules = []
    for prefix, actions in object_actions.items():
        if actions == set(_READ_OBJECT):
            rules.append((prefix, "download"))
        elif actions == set(_WRITE_OBJECT):
            rules.append((prefix, "upload"))
        elif actions == set(_READ_OBJECT + _WRITE_OBJECT):
            rules.append((prefix, "public"))
        else:
            return "custom"
    rules = tuple(sorted(rules))
    expected = {("Allow", anyone, *atom) for atom in _access_atoms(bucket, rules)}
    return rules if expected == rows else "custom"


def validate_bucket_policy(bucket, policy):
    """Parse a custom bucket policy (dict or JSON) and check it targets bucket.

    Returns the canonical dict. Raises PolicyError with a readable message.
    """
    canon = canonical_policy(load_policy(policy))
    own = (_arn(bucket), _arn(bucket, ""))
    for stmt in canon["Statement"]:
        if "Principal" not in stmt and "NotPrincipal" not in stmt:
            raise PolicyError("each bucket policy Statement needs a Principal")
        resources = stmt.get("Resource", []) + stmt.get("NotResource", [])
        if not resources:
            raise PolicyError("each bucket policy Statement needs a Resource")
        for resource in resources:
            if resource != own[0] and not resource.startswith(own[1]):
                raise PolicyError(f"policy Resource '{resource}' is not in bucket '{bucket}' "
                                  f"(use {own[0]} or {own[1]}...)")
    return canon


# --- tags -----------------------------------------------------------------------

MAX_TAGS = 50


def validate_tags(tags):
    """Return tags as a str -> str dict. Raises ValueError when S3 would refuse them."""
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise ValueError("tags must be a dict of key: value")
    if len(tags) > MAX_TAGS:
        raise ValueError(f"a bucket takes at most {MAX_TAGS} tags ({len(tags)} given)")
    out = {}
    for key, value in tags.items():
        key = str(key)
        value = "" if value is None else str(value)
        if not 1 <= len(key) <= 128 or "&" in key:
            raise ValueError(f"tag key '{key}' must be 1 to 128 characters without '&'")
        if len(value) > 256 or "&" in value:
            raise ValueError(f"tag value of '{key}' must be at most 256 characters without '&'")
        out[key] = value
    return out


def desired_tags(current, wanted, purge):
    """The tag set to write: wanted alone with purge, else current overlaid with wanted."""
    if purge:
        return dict(wanted)
    merged = dict(current or {})
    merged.update(wanted)
    return merged


# --- object lock retention -------------------------------------------------------

RETENTION_MODES = ("GOVERNANCE", "COMPLIANCE")


def normalize_retention(value):
    """{'mode': 'GOVERNANCE', 'days': 30} or {} (no default retention). Raises ValueError."""
    if not value or not value.get("mode"):
        if value and value.get("days"):
            raise ValueError("object_lock_retention.days needs object_lock_retention.mode")
        return {}
    mode = str(value["mode"]).upper()
    if mode not in RETENTION_MODES:
        raise ValueError(f"object_lock_retention.mode '{value['mode']}' must be GOVERNANCE or COMPLIANCE")
    days = value.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError("object_lock_retention.days must be a whole number of days, at least 1")
    return {"mode": mode, "days": days}


def report_retention(mode, duration, unit):
    """The retention as the server reports it: {} or {'mode', 'days'} or {'mode', 'years'}."""
    if not mode or not duration:
        return {}
    return {"mode": mode, ("years" if str(unit).lower().startswith("year") else "days"): int(duration)}


# --- versioning -----------------------------------------------------------------


def versioning_matches(current, wanted):
    """True when the versioning status needs no change. A never-versioned bucket counts as suspended."""
    if wanted == "suspended":
        return current in ("suspended", "off")
    return current == wanted


# --- lifecycle -------------------------------------------------------------------

MANAGED_NONCURRENT_RULE_ID = "noncurrent-version-expiration"


def is_noncurrent_rule(rule):
    """True for a rule of the managed kind: enabled, whole bucket, only NoncurrentVersionExpiration.

    rule is a summary dict from lifecycle_summary().
    """
    return (rule.get("status") == "Enabled" and rule.get("whole_bucket")
            and rule.get("actions") == ["noncurrent_version_expiration"]
            and not rule.get("newer_noncurrent_versions") and bool(rule.get("noncurrent_days")))


def split_lifecycle(rules):
    """(managed, foreign) index lists of rule summaries."""
    managed = [i for i, r in enumerate(rules) if is_noncurrent_rule(r)]
    foreign = [i for i in range(len(rules)) if i not in managed]
    return managed, foreign


def current_noncurrent_days(rules):
    """Days of the managed noncurrent-version rule, None when there is none, a list when several."""
    managed = split_lifecycle(rules)[0]
    days = [rules[i]["noncurrent_days"] for i in managed]
    if not days:
        return None
    return days[0] if len(days) == 1 else sorted(days)


def noncurrent_matches(rules, wanted_days):
    """True when the managed noncurrent rule already expresses wanted_days (0 = no rule)."""
    current = current_noncurrent_days(rules)
    if not wanted_days:
        return current is None
    return current == wanted_days


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_go_duration(text):
    """Seconds in a Go duration such as '24h', '72h0m0s' or '90m'. Raises ValueError."""
    text = (text or "").strip()
    if text in ("0", ""):
        return 0.0
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"'{text}' is not a duration")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def stale_upload_days(config_text):
    """Days after which MinIO aborts incomplete multipart uploads, from `config_get(key='api')` text."""
    match = re.search(r"(?:^|\s)stale_uploads_expiry=(\S+)", config_text or "")
    if not match:
        return None
    days = parse_go_duration(match.group(1)) / 86400
    return int(days) if days == int(days) else round(days, 4)


def abort_multipart_matches(effective_days, wanted_days):
    """True when the server aborts stale uploads no later than wanted_days."""
    return effective_days is not None and 0 < effective_days <= wanted_days


def validate_lifecycle(value):
    """Check the lifecycle option; return it with only the keys that are set. Raises ValueError."""
    if value is None:
        return None
    out = {}
    for key, minimum in (("noncurrent_version_expiration_days", 0), ("abort_incomplete_multipart_upload_days", 1)):
        days = value.get(key)
        if days is None:
            continue
        if isinstance(days, bool) or not isinstance(days, int) or days < minimum:
            raise ValueError(f"lifecycle.{key} must be a whole number of days, at least {minimum}")
        out[key] = days
    return out
