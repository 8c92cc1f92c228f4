# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to koprogo.storage: may change without notice.
"""Canonical form of IAM and bucket policies, so that equal policies compare equal.

Equal means equal to the server: statement order, a string versus a one-element
list, duplicate entries, a missing Version and ``"Principal": "*"`` versus
``{"AWS": ["*"]}`` make no difference.
"""

from __future__ import annotations

import json

DEFAULT_VERSION = "2012-10-17"
_LIST_KEYS = ("Action", "NotAction", "Resource", "NotResource")
_KNOWN_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Condition", *_LIST_KEYS}


class PolicyError(ValueError):
    """The policy is not valid JSON or not shaped like a policy document."""


def load_policy(policy):
    """Accept a dict or JSON text and return a dict. Raises PolicyError."""
    if isinstance(policy, (bytes, bytearray)):
        policy = policy.decode("utf-8")
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError as exc:
            raise PolicyError(f"malformed policy JSON: {exc}") from None
    if not isinstance(policy, dict):
        raise PolicyError("a policy must be a JSON object with a Statement list")
    return policy


def _as_sorted_list(value):
    if isinstance(value, (str, int, float, bool)):
        value = [value]
    if not isinstance(value, list):
        raise PolicyError(f"expected a string or a list, got {type(value).__name__}")
    return sorted({str(v) for v in value})


def _principal(value):
    if value == "*":
        return {"AWS": ["*"]}
    if not isinstance(value, dict):
        raise PolicyError("Principal must be '*' or an object such as {\"AWS\": [\"*\"]}")
    return {k: _as_sorted_list(v) for k, v in sorted(value.items())}


def _condition(value):
    if not isinstance(value, dict):
        raise PolicyError("Condition must be an object")
    out = {}
    for operator, tests in sorted(value.items()):
        if not isinstance(tests, dict):
            raise PolicyError(f"Condition operator {operator} must map keys to values")
        out[operator] = {k: _as_sorted_list(v) for k, v in sorted(tests.items())}
    return out


def _statement(stmt):
    if not isinstance(stmt, dict):
        raise PolicyError("each Statement must be an object")
    unknown = set(stmt) - _KNOWN_KEYS
    if unknown:
        raise PolicyError(f"unknown Statement key(s): {', '.join(sorted(unknown))}")
    effect = stmt.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"Statement Effect must be Allow or Deny, got {effect!r}")
    if not any(k in stmt for k in ("Action", "NotAction")):
        raise PolicyError("each Statement needs an Action or NotAction")
    out = {"Effect": effect}
    if stmt.get("Sid"):
        out["Sid"] = str(stmt["Sid"])
    for key in _LIST_KEYS:
        if key in stmt:
            out[key] = _as_sorted_list(stmt[key])
    for key in ("Principal", "NotPrincipal"):
        if key in stmt:
            out[key] = _principal(stmt[key])
    if stmt.get("Condition"):
        out["Condition"] = _condition(stmt["Condition"])
    return out


def canonical_policy(policy):
    """Return the canonical dict of policy (dict or JSON text). Raises PolicyError."""
    policy = load_policy(policy)
    unknown = set(policy) - {"Version", "Id", "Statement"}
    if unknown:
        raise PolicyError(f"unknown policy key(s): {', '.join(sorted(unknown))}")
    statements = policy.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise PolicyError("a policy needs a non-empty Statement list")
    canon = [_statement(s) for s in statements]
    unique = {json.dumps(s, sort_keys=True): s for s in canon}
    out = {"Version": str(policy.get("Version") or DEFAULT_VERSION),
           "Statement": [unique[k] for k in sorted(unique)]}
    if policy.get("Id"):
        out["Id"] = str(policy["Id"])
    return out


def canonical_or_raw(document):
    """The canonical form of a policy read from the server, or the document as it came when it is
    not a policy this module understands (JSON text is then decoded when it is JSON at all)."""
    try:
        return canonical_policy(document)
    except PolicyError:
        if isinstance(document, (str, bytes, bytearray)):
            try:
                return json.loads(document)
            except ValueError:
                return document
        return document


def policies_equal(left, right):
    """True when two policies (dict or JSON text, or None) mean the same.

    A policy that is not valid (PolicyError) equals nothing: a server-side policy this
    module cannot read is never taken for the desired one.
    """
    if left is None or right is None:
        return left is None and right is None
    try:
        return canonical_policy(left) == canonical_policy(right)
    except PolicyError:
        return False


def policy_json(policy):
    """Compact, canonical JSON text of policy, as sent to the server."""
    return json.dumps(canonical_policy(policy), sort_keys=True, separators=(",", ":"))
