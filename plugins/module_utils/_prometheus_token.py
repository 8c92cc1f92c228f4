# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to koprogo.storage: may change without notice. Do not import from
# other collections.
"""Mint and check the bearer token MinIO accepts on its Prometheus metrics endpoints.

MinIO (cmd/metrics.go) accepts an HS512 JWT whose issuer is ``prometheus``, whose
subject is an access key, signed with that access key's secret key; the account
needs the ``admin:Prometheus`` action. ``mc admin prometheus generate`` builds the
same token offline. The functions here are pure: ``now`` is passed in.
"""

from __future__ import annotations

import traceback
import warnings

try:
    import jwt

    JWT_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported by the module
    jwt = None
    JWT_IMPORT_ERROR = traceback.format_exc()

ALGORITHM = "HS512"
DEFAULT_ISSUER = "prometheus"
SECONDS_PER_DAY = 86400

# Reasons returned by check_token(); VALID means "keep the file as it is".
VALID = "valid"
MISSING = "missing"
MALFORMED = "malformed"
WRONG_ALGORITHM = "algorithm"
BAD_SIGNATURE = "signature"
WRONG_ISSUER = "issuer"
WRONG_SUBJECT = "subject"
NO_EXPIRY = "no_expiry"
EXPIRED = "expired"
EXPIRING = "expiring"

REASON_TEXT = {
    VALID: "the token is valid for the current secret",
    MISSING: "there is no token file yet",
    MALFORMED: "the token file does not hold a JWT",
    WRONG_ALGORITHM: f"the token is not signed with {ALGORITHM}",
    BAD_SIGNATURE: "the token was signed with another secret (the secret key rotated)",
    WRONG_ISSUER: "the token has another issuer",
    WRONG_SUBJECT: "the token is for another access key",
    NO_EXPIRY: "the token has no valid expiry time",
    EXPIRED: "the token has expired",
    EXPIRING: "the token expires within the renewal window",
}


def token_claims(access_key, issuer, now, lifetime_seconds):
    """Claims of a new token: subject, issuer, issued-at and expiry (integer seconds)."""
    now = int(now)
    return {"sub": access_key, "iss": issuer, "iat": now, "exp": now + int(lifetime_seconds)}


def mint_token(access_key, secret_key, issuer, now, lifetime_seconds):
    """Return a new signed token (text)."""
    claims = token_claims(access_key, issuer, now, lifetime_seconds)
    with warnings.catch_warnings():
        # PyJWT >= 2.10 warns about HMAC keys shorter than the hash; MinIO secrets are what they are.
        warnings.simplefilter("ignore")
        token = jwt.encode(claims, secret_key, algorithm=ALGORITHM)
    return token.decode("ascii") if isinstance(token, bytes) else token


def read_claims(token):
    """Claims of a token without verifying it (for reporting), or None when unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


def check_token(token, access_key, secret_key, issuer, now, renew_before_seconds):
    """Decide whether an existing token can be kept.

    Returns (reason, claims): reason is VALID when the token is signed with
    secret_key using HS512, names issuer and access_key, and stays valid for
    more than renew_before_seconds after now. claims are the decoded claims
    (None when the token cannot be read).
    """
    if token is None:
        return MISSING, None
    token = token.strip()
    if not token:
        return MISSING, None
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return MALFORMED, None
    claims = read_claims(token)
    if claims is None:
        return MALFORMED, None
    if header.get("alg") != ALGORITHM:
        return WRONG_ALGORITHM, claims
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jwt.decode(token, secret_key, algorithms=[ALGORITHM],
                       options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                "verify_iss": False, "verify_sub": False, "verify_aud": False})
    except jwt.InvalidSignatureError:
        return BAD_SIGNATURE, claims
    except jwt.PyJWTError:
        return MALFORMED, claims
    if claims.get("iss") != issuer:
        return WRONG_ISSUER, claims
    if claims.get("sub") != access_key:
        return WRONG_SUBJECT, claims
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return NO_EXPIRY, claims
    if exp <= now:
        return EXPIRED, claims
    if exp - now <= renew_before_seconds:
        return EXPIRING, claims
    return VALID, claims


def validate_lifetime(lifetime_days, renew_before_days):
    """Return an error message when the lifetime options are inconsistent, else None."""
    if lifetime_days < 1:
        return "lifetime_days must be at least 1"
    if renew_before_days < 0:
        return "renew_before_days must not be negative"
    if renew_before_days >= lifetime_days:
        return (f"renew_before_days ({renew_before_days}) must be smaller than lifetime_days ({lifetime_days}), "
                "otherwise every run would mint a new token")
    return None


def mode_error(mode):
    """Return an error message when a file mode would let other users read the token, else None."""
    if mode is None:
        return None
    text = str(mode) if not isinstance(mode, int) else format(mode, "o")
    try:
        value = int(text, 8)
    except ValueError:
        return f"mode '{mode}' must be an octal mode such as '0600' (symbolic modes are not accepted for a token)"
    if value & 0o007:
        return f"mode '{mode}' lets every user read the token; use '0600' or '0640'"
    if value & 0o022:
        return f"mode '{mode}' lets others overwrite the token; use '0600' or '0640'"
    return None
