"""Pure decisions of the MinIO Prometheus token (koprogo.storage _prometheus_token)."""

from __future__ import annotations

import warnings

import jwt
import pytest
from ansible_collections.koprogo.storage.plugins.module_utils import _prometheus_token as tok

KEY = "koprogo-prometheus"
SECRET = "s3cret-value-for-tests-0123456789"
NOW = 1_800_000_000
DAY = tok.SECONDS_PER_DAY

# MinIO secret keys are 20-40 characters: shorter than PyJWT recommends for HS512.
pytestmark = pytest.mark.filterwarnings("ignore:The HMAC key is")


def encode(claims, secret=SECRET, algorithm="HS512"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode(claims, secret, algorithm=algorithm)


def test_minted_token_is_what_minio_expects():
    token = tok.mint_token(KEY, SECRET, "prometheus", NOW, 10 * DAY)
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    claims = jwt.decode(token, SECRET, algorithms=["HS512"], issuer="prometheus",
                        options={"verify_exp": False, "verify_iat": False})
    assert claims == {"sub": KEY, "iss": "prometheus", "iat": NOW, "exp": NOW + 10 * DAY}


def test_minted_token_round_trips_as_valid():
    token = tok.mint_token(KEY, SECRET, "prometheus", NOW, 100 * DAY)
    assert tok.check_token(token, KEY, SECRET, "prometheus", NOW + DAY, 30 * DAY)[0] == tok.VALID
    # Surrounding white space (the file ends with a newline) is ignored.
    assert tok.check_token(f"\n{token}\n", KEY, SECRET, "prometheus", NOW, 30 * DAY)[0] == tok.VALID


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (None, tok.MISSING),
        ("", tok.MISSING),
        ("  \n", tok.MISSING),
        ("not-a-jwt", tok.MALFORMED),
        ("a.b.c", tok.MALFORMED),
        (encode({"sub": KEY, "iss": "prometheus", "exp": NOW + 400 * DAY}, algorithm="HS256"), tok.WRONG_ALGORITHM),
        (encode({"sub": KEY, "iss": "prometheus", "exp": NOW + 400 * DAY}, secret="old-secret-rotated-away-123"),
         tok.BAD_SIGNATURE),
        (encode({"sub": KEY, "iss": "mc", "exp": NOW + 400 * DAY}), tok.WRONG_ISSUER),
        (encode({"sub": "someone-else", "iss": "prometheus", "exp": NOW + 400 * DAY}), tok.WRONG_SUBJECT),
        (encode({"sub": KEY, "iss": "prometheus"}), tok.NO_EXPIRY),
        (encode({"sub": KEY, "iss": "prometheus", "exp": "soon"}), tok.NO_EXPIRY),
        (encode({"sub": KEY, "iss": "prometheus", "exp": NOW - 1}), tok.EXPIRED),
        (encode({"sub": KEY, "iss": "prometheus", "exp": NOW}), tok.EXPIRED),
        (encode({"sub": KEY, "iss": "prometheus", "exp": NOW + 30 * DAY}), tok.EXPIRING),
        (encode({"sub": KEY, "iss": "prometheus", "exp": NOW + 30 * DAY + 1}), tok.VALID),
        (encode({"sub": KEY, "iss": "prometheus", "exp": NOW + 400 * DAY, "iat": NOW + 5 * DAY}), tok.VALID),
    ],
)
def test_check_token_reasons(token, expected):
    reason, _claims = tok.check_token(token, KEY, SECRET, "prometheus", NOW, 30 * DAY)
    assert reason == expected
    assert reason in tok.REASON_TEXT


def test_check_token_returns_claims_for_reporting():
    token = encode({"sub": KEY, "iss": "prometheus", "exp": NOW + 400 * DAY}, secret="another-secret-0123456789")
    reason, claims = tok.check_token(token, KEY, SECRET, "prometheus", NOW, 30 * DAY)
    assert reason == tok.BAD_SIGNATURE
    assert claims["sub"] == KEY


def test_no_reason_text_contains_a_secret():
    assert all(SECRET not in text for text in tok.REASON_TEXT.values())


@pytest.mark.parametrize(
    ("lifetime", "renew", "ok"),
    [(36500, 30, True), (1, 0, True), (0, 0, False), (30, 30, False), (30, 31, False), (10, -1, False)],
)
def test_validate_lifetime(lifetime, renew, ok):
    assert (tok.validate_lifetime(lifetime, renew) is None) is ok


@pytest.mark.parametrize(
    ("mode", "ok"),
    [(None, True), ("0600", True), ("600", True), ("0640", True), ("0400", True), (0o600, True),
     ("0644", False), ("0604", False), ("0660", False), ("0620", False), ("u=rw", False), ("0777", False)],
)
def test_mode_error(mode, ok):
    assert (tok.mode_error(mode) is None) is ok
