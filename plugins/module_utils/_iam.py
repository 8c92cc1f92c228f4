# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to koprogo.storage: may change without notice.
"""MinIO IAM: pure decisions (no I/O) for credentials, policies, users and service accounts.

Table-tested in tests/unit/plugins/module_utils/test_iam.py. The I/O half (readers, the secret
test, the service account write) is _iam_state.py.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ansible_collections.koprogo.storage.plugins.module_utils._policy import (
    PolicyError,
    canonical_or_raw,
    canonical_policy,
    policy_json,
)

MIN_SECRET_LENGTH = 8
MIN_ACCESS_KEY_LENGTH = 3
# Policies MinIO creates itself (and recreates at start-up).
BUILTIN_POLICIES = frozenset({"consoleAdmin", "diagnostics", "readonly", "readwrite", "writeonly"})
# S3 error codes that prove the secret (or the access key) is wrong. Any other answer,
# AccessDenied included, means the signature was accepted.
SECRET_MISMATCH_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch"})
MISSING_POLICY = ("XMinioAdminNoSuchPolicy",)
MISSING_USER = ("XMinioAdminNoSuchUser",)
MISSING_SERVICE_ACCOUNT = ("XMinioInvalidIAMCredentials", "XMinioAdminNoSuchServiceAccount",
                           "XMinioAdminNoSuchAccessKey")
# Server limits (madmin-go and MinIO's cmd/iam-store.go).
SERVICE_ACCOUNT_KEY_LENGTH = (3, 20)
SERVICE_ACCOUNT_SECRET_LENGTH = (8, 40)
SERVICE_ACCOUNT_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
MAX_DESCRIPTION_BYTES = 256
MAX_INLINE_POLICY_BYTES = 4096
MIN_EXPIRY = timedelta(minutes=15)
MAX_EXPIRY = timedelta(days=365)
NO_EXPIRATION = "1970-01-01T00:00:00Z"  # MinIO's "no expiry" sentinel
NEVER_WORDS = ("never", "none", "")

# --------------------------------------------------------------------------- credentials


def validate_secret(label, secret):
    """Return an error message when a MinIO secret key is too short, else None."""
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        return f"{label} must be at least {MIN_SECRET_LENGTH} characters (MinIO rejects shorter secret keys)"
    return None


def validate_access_key(label, key):
    """Return an error message when a MinIO access key is malformed, else None."""
    if key is None:
        return None
    if len(key) < MIN_ACCESS_KEY_LENGTH or len(key) > 128:
        return f"{label} '{key}' must be 3 to 128 characters long"
    if any(c in key for c in "=,") or any(c.isspace() for c in key):
        return f"{label} '{key}' must not contain '=', ',' or white space"
    return None


# --------------------------------------------------------------------------- status


def status_from_server(value):
    """Map MinIO's account status (enabled/disabled or on/off) to enabled|disabled."""
    return "enabled" if value in ("enabled", "on") else "disabled"


def status_change(current, desired):
    """The status to set, or None when desired is unmanaged (None) or already in place."""
    if desired is None or desired == current:
        return None
    return desired


# --------------------------------------------------------------------------- secrets


def secret_check_result(code):
    """Classify the outcome of an S3 call signed with a candidate secret.

    code is the S3 error code, or None when the call succeeded. Returns "match" or "differs".
    """
    return "differs" if code in SECRET_MISMATCH_CODES else "match"


def secret_needs_update(exists, secret, update_mode, check):
    """Decide whether the secret must be written.

    exists: the account exists; secret: the desired secret or None (unmanaged);
    update_mode: on_create|always; check: "match", "differs", "unverifiable" or None
    (not tested). A new account always needs its secret.
    """
    if not exists:
        return True
    if secret is None or update_mode != "always":
        return False
    return check in ("differs", "unverifiable")


# --------------------------------------------------------------------------- policies attached to users


def policy_attachment_changes(current, desired, exclusive):
    """Return (to_attach, to_detach), sorted lists, for a user's attached policies.

    desired None means unmanaged: nothing changes. Without exclusive, policies that are attached
    but not listed stay attached.
    """
    if desired is None:
        return [], []
    current, desired = set(current or ()), set(desired)
    to_attach = sorted(desired - current)
    to_detach = sorted(current - desired) if exclusive else []
    return to_attach, to_detach


def resulting_policies(current, to_attach, to_detach):
    return sorted((set(current or ()) | set(to_attach)) - set(to_detach))


# --------------------------------------------------------------------------- validation


def validate_policy_name(name):
    """Return an error message for a policy name MinIO rejects (or that it owns), else None."""
    if not name or not name.strip():
        return "policy name must not be empty"
    if name != name.strip():
        return f"policy name '{name}' must not start or end with white space"
    if "," in name:
        return f"policy name '{name}' must not contain ','"
    if "/" in name or "\\" in name:
        return f"policy name '{name}' must not contain '/' or '\\'"
    return None


def validate_user_name(name, connection_access_key=None):
    error = validate_access_key("user name", name)
    if error:
        return error
    if name != name.strip():
        return f"user name '{name}' must not start or end with white space"
    if connection_access_key is not None and name == connection_access_key:
        return f"user name '{name}' is the access key this module connects with (the root user); choose another name"
    return None


def load_desired_policy(policy, label="policy"):
    """Canonical dict of a desired policy (dict or JSON text). Raises PolicyError with label."""
    try:
        return canonical_policy(policy)
    except PolicyError as exc:
        raise PolicyError(f"{label}: {exc}") from None


def is_inherit_request(policy):
    """An empty inline policy ({} or "") asks a service account to inherit its parent's policies."""
    if isinstance(policy, str):
        return not policy.strip() or policy.strip() == "{}"
    return isinstance(policy, dict) and not policy


def desired_inline_policy(policy):
    """Return ("unmanaged", None), ("inherit", None) or ("inline", canonical dict). Raises PolicyError."""
    if policy is None:
        return "unmanaged", None
    if is_inherit_request(policy):
        return "inherit", None
    canon = load_desired_policy(policy)
    size = len(policy_json(canon))
    if size > MAX_INLINE_POLICY_BYTES:
        raise PolicyError(f"policy is {size} bytes; MinIO accepts at most {MAX_INLINE_POLICY_BYTES} bytes "
                          "for a service account's inline policy")
    return "inline", canon


def inline_policy_differs(current_inline, desired_mode, desired_canon):
    """Compare a service account's inline policy with the desired one.

    current_inline: the canonical inline policy, or None when the account has none (MinIO then
    reports the parent's policies as "implied", which is not the account's own and is ignored).
    """
    if desired_mode == "unmanaged":
        return False
    if desired_mode == "inherit":
        return current_inline is not None
    return current_inline != desired_canon


def validate_service_account_key(key_id):
    """MinIO gives service accounts stricter limits than users: 3 to 20 characters."""
    error = validate_access_key("key_id", key_id)
    if error:
        return error
    low, high = SERVICE_ACCOUNT_KEY_LENGTH
    if not low <= len(key_id) <= high:
        return f"key_id '{key_id}' must be {low} to {high} characters long (MinIO's limit for service accounts)"
    return None


def validate_service_account_secret(secret):
    error = validate_secret("key_secret", secret)
    if error:
        return error
    if secret is not None and len(secret) > SERVICE_ACCOUNT_SECRET_LENGTH[1]:
        return (f"key_secret must be at most {SERVICE_ACCOUNT_SECRET_LENGTH[1]} characters "
                "(MinIO's limit for service accounts)")
    return None


def validate_service_account_name(name):
    if name is None or name == "":
        return None
    if not SERVICE_ACCOUNT_NAME_RE.match(name):
        return (f"display_name '{name}' must be 1 to 32 ASCII letters, digits, '_' or '-', "
                "starting with a letter (MinIO's rule)")
    return None


def validate_description(description):
    if description is not None and len(description.encode("utf-8")) > MAX_DESCRIPTION_BYTES:
        return f"description must be at most {MAX_DESCRIPTION_BYTES} bytes (MinIO's limit)"
    return None


def normalize_expiration(value):
    """Return "never" for no expiry, or the UTC time as YYYY-MM-DDTHH:MM:SSZ. Raises ValueError.

    Accepts ISO-8601 date or date-time text (a time without zone is UTC), or a datetime.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        if text.lower() in NEVER_WORDS or text in (NO_EXPIRATION, "0001-01-01T00:00:00Z"):
            return "never"
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"expiration '{value}' is not an ISO-8601 date or date-time "
                             "(for example 2027-01-31 or 2027-01-31T12:00:00Z), nor 'never'") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc).replace(microsecond=0)
    if moment == datetime(1970, 1, 1, tzinfo=timezone.utc):
        return "never"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_expiration(normalized, now=None):
    """Error message when MinIO would refuse this expiry (15 minutes to 365 days ahead), else None."""
    if normalized in (None, "never"):
        return None
    now = now or datetime.now(timezone.utc)
    moment = datetime.strptime(normalized, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    if moment < now + MIN_EXPIRY or moment > now + MAX_EXPIRY:
        return (f"expiration {normalized} must be between 15 minutes and 365 days from now "
                "(MinIO's limits), or 'never'")
    return None


def text_change(current, desired, label):
    """For name/description, which MinIO can set but never clear.

    Returns (changed, error): desired None is unmanaged; "" can only match an empty value.
    """
    current = current or ""
    if desired is None or desired == current:
        return False, None
    if desired == "":
        return False, (f"MinIO cannot clear the {label} of a service account once set; "
                       "delete and recreate it (state: absent, then present) to remove it")
    return True, None


# --------------------------------------------------------------------------- server answers -> views


def split_policy_names(value):
    """MinIO's comma-separated policyName field as a sorted list."""
    return sorted(p for p in (value or "").split(",") if p)


def user_list_view(data):
    """name -> {status, policies} from the admin user list answer."""
    return {name: dict(status=status_from_server(info.get("status")),
                       policies=split_policy_names(info.get("policyName")))
            for name, info in sorted(data.items())}


def policy_entities_of(data, kind, name):
    """From a get_policy_entities answer: (users, groups) of policy name (kind "policy"), or the
    policies of user name (kind "user"); all sorted."""
    if kind == "policy":
        for mapping in data.get("policyMappings") or []:
            if mapping.get("policy") == name:
                return sorted(mapping.get("users") or []), sorted(mapping.get("groups") or [])
        return [], []
    for mapping in data.get("userMappings") or []:
        if mapping.get("user") == name:
            return sorted(mapping.get("policies") or [])
    return []


def inline_policy_of(info):
    """The account's own policy (canonical), or None when it inherits (implied policy)."""
    if info.get("impliedPolicy", True):
        return None
    raw = info.get("policy")
    if not raw:
        return None
    return canonical_or_raw(raw)


def service_account_view(key_id, info, policy=True):
    view = dict(
        key_id=key_id,
        parent_user=info.get("parentUser"),
        display_name=info.get("name") or "",
        description=info.get("description") or "",
        expiration=normalize_expiration(info.get("expiration")) or "never",
        status=status_from_server(info.get("accountStatus")),
    )
    if policy:
        view["policy"] = inline_policy_of(info)
    return view


def service_account_add_body(parent_user, key_id, key_secret, policy=None, name=None, description=None,
                             expiration=None):
    """The JSON body of MinIO's add-service-account admin call, with "targetUser" set to parent_user."""
    body = {"accessKey": key_id, "secretKey": key_secret, "targetUser": parent_user}
    for field, value in (("name", name), ("description", description), ("policy", policy),
                         ("expiration", expiration if expiration != "never" else None)):
        if value:
            body[field] = value
    return body


def service_account_update_args(current, changes, desired_policy_mode, desired_policy):
    """Keyword arguments for MinioAdmin.update_service_account, or None when nothing changes.

    changes: facet -> new value for secret, display_name, description, expiration, status.
    MinIO drops an account's inline policy on any update that does not resend it, so the policy
    is always sent: the desired one, or the current one when policy is unmanaged. To go back to
    the parent's policies (inherit), the policy is left out and the status resent instead.
    """
    policy_changed = inline_policy_differs(current.get("policy"), desired_policy_mode, desired_policy)
    if not changes and not policy_changed:
        return None
    args = {}
    if "secret" in changes:
        args["secret_key"] = changes["secret"]
    if "display_name" in changes:
        args["name"] = changes["display_name"]
    if "description" in changes:
        args["description"] = changes["description"]
    if "expiration" in changes:
        args["expiration"] = NO_EXPIRATION if changes["expiration"] == "never" else changes["expiration"]
    args["status"] = changes.get("status", current.get("status") or "enabled")
    if desired_policy_mode == "inline":
        args["policy"] = desired_policy
    elif desired_policy_mode == "unmanaged" and current.get("policy") is not None:
        args["policy"] = current["policy"]
    return args
