"""koprogo.storage.minio_prometheus_token on localhost: check mode, idempotence, rotation, refusals."""

from __future__ import annotations

import stat
import time
import urllib.error
import urllib.request

import jwt
import pytest
from helpers.ansible_run import run_tasks

# MinIO secrets (20-40 characters) are shorter than PyJWT recommends for HS512.
pytestmark = pytest.mark.filterwarnings("ignore:The HMAC key is")

SECRET = "Token-module-secret-0123456789"
OTHER_SECRET = "Token-module-other-9876543210"


def token_task(path, secret=SECRET, **extra):
    args = {"path": str(path), "access_key": "koprogo-prom", "secret_key": secret}
    args.update(extra)
    return {"name": "token", "koprogo.storage.minio_prometheus_token": args, "register": "out"}


def run(tmp_path, task, **kwargs):
    result = run_tasks([task], tmp_path=tmp_path, **kwargs)
    return result, result.tasks.get("token", {})


def test_check_apply_idempotent_rotate_absent(tmp_path):
    path = tmp_path / "etc" / "minio.token"
    path.parent.mkdir()

    result, out = run(tmp_path, token_task(path), check=True, diff=True)
    assert result.rc == 0, result.stdout
    assert out["changed"] is True and out["reason"] == "missing"
    assert not path.exists()

    result, out = run(tmp_path, token_task(path))
    assert out["changed"] is True and out["reason"] == "missing"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS512"], issuer="prometheus")
    assert claims["sub"] == "koprogo-prom"
    assert claims["exp"] > time.time() + 99 * 365 * 86400
    assert out["expires_at"] == claims["exp"]
    assert token not in result.stdout and SECRET not in result.stdout

    for check in (False, True):
        result, out = run(tmp_path, token_task(path), check=check)
        assert out["changed"] is False and out["reason"] == "valid"
    assert path.read_text().strip() == token

    # A looser mode is put back to 0600 without a new token.
    path.chmod(0o640)
    result, out = run(tmp_path, token_task(path))
    assert out["changed"] is True and out["reason"] == "valid"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == token

    # Secret rotated: check mode predicts, apply re-mints.
    result, out = run(tmp_path, token_task(path, OTHER_SECRET), check=True)
    assert out["changed"] is True and out["reason"] == "signature"
    assert path.read_text().strip() == token
    result, out = run(tmp_path, token_task(path, OTHER_SECRET), verbosity=3, json_output=False)
    assert result.rc == 0
    assert SECRET not in result.stdout and OTHER_SECRET not in result.stdout
    new_token = path.read_text().strip()
    assert new_token != token and new_token not in result.stdout
    jwt.decode(new_token, OTHER_SECRET, algorithms=["HS512"], issuer="prometheus")

    # Another access key also re-mints.
    result, out = run(tmp_path, token_task(path, OTHER_SECRET, access_key="other-prom"))
    assert out["changed"] is True and out["reason"] == "subject"

    for expected in (True, False):
        result, out = run(tmp_path, {"name": "token", "koprogo.storage.minio_prometheus_token":
                                     {"path": str(path), "state": "absent"}})
        assert out["changed"] is expected
        assert not path.exists()


def test_token_near_expiry_is_renewed(tmp_path):
    path = tmp_path / "minio.token"
    result, out = run(tmp_path, token_task(path, lifetime_days=10, renew_before_days=3))
    assert out["changed"] is True
    # A token that expires in 2 days (inside the renewal window) is replaced.
    path.write_text(jwt.encode({"sub": "koprogo-prom", "iss": "prometheus", "exp": int(time.time()) + 2 * 86400},
                               SECRET, algorithm="HS512"))
    result, out = run(tmp_path, token_task(path, lifetime_days=10, renew_before_days=3))
    assert out["changed"] is True and out["reason"] == "expiring"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"mode": "0644"}, "lets every user read the token"),
        ({"mode": "u=rw"}, "must be an octal mode"),
        ({"secret_key": "short"}, "at least 8 characters"),
        ({"access_key": "a b"}, "must not contain"),
        ({"lifetime_days": 10, "renew_before_days": 10}, "must be smaller than lifetime_days"),
    ],
)
def test_bad_input_is_refused_before_writing(tmp_path, extra, message):
    path = tmp_path / "minio.token"
    result, out = run(tmp_path, token_task(path, **extra))
    assert out.get("failed") is True
    assert message in out["msg"]
    assert not path.exists()


def test_minio_accepts_the_token_of_a_metrics_user(tmp_path, minio):
    """The module's token opens MinIO's metrics endpoint for a user with admin:Prometheus only."""
    user, secret = "prom-module-test", "Prom-module-test-secret-0123"
    policy = tmp_path / "policy.json"
    policy.write_text('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["admin:Prometheus"]}]}')
    minio.mc("admin", "policy", "create", "t", "prom-module-test", str(policy))
    minio.mc("admin", "user", "add", "t", user, secret)
    minio.mc("admin", "policy", "attach", "t", "prom-module-test", "--user", user)
    path = tmp_path / "minio.token"
    result, out = run(tmp_path, token_task(path, secret, access_key=user))
    assert out["changed"] is True
    request = urllib.request.Request(f"{minio.endpoint}/minio/v2/metrics/node")  # noqa: S310 - loopback
    request.add_header("Authorization", f"Bearer {path.read_text().strip()}")
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - loopback only
        assert resp.status == 200
        assert b"minio_node_drive_total_bytes" in resp.read()
    request = urllib.request.Request(f"{minio.endpoint}/minio/v2/metrics/node")  # noqa: S310 - loopback
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 - loopback only
    assert denied.value.code == 403
