"""Independent checks of MinIO IAM state (mc, the minio SDK, boto3) for the IAM module tests."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError
from minio.error import MinioAdminException


def mc_json(server, *args):
    """Run `mc --json ...` and return the decoded last JSON line (mc prints one object per line)."""
    proc = server.mc("--json", *args, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def admin_code(fn, **kwargs):
    """Run an SDK admin call; return (decoded JSON or text, None) or (None, MinIO error code)."""
    try:
        text = fn(**kwargs)
    except MinioAdminException as exc:
        return None, json.loads(exc._body).get("Code")
    try:
        return json.loads(text) if text else {}, None
    except ValueError:
        return text, None


def policy_doc(server, name):
    admin = server.sdk()[1]
    doc = admin_code(admin.policy_info, policy_name=name)[0]
    return doc


def user_info(server, name):
    """{status, policies} as the server reports them through the SDK, or None."""
    admin = server.sdk()[1]
    info, code = admin_code(admin.user_info, access_key=name)
    if code == "XMinioAdminNoSuchUser":
        return None
    assert code is None, code
    return {"status": info["status"], "policies": sorted(p for p in info.get("policyName", "").split(",") if p)}


def service_account(server, key_id):
    admin = server.sdk()[1]
    info, code = admin_code(admin.get_service_account, access_key=key_id)
    if code == "XMinioInvalidIAMCredentials":
        return None
    assert code is None, code
    return info


def s3_code(client, operation, **kwargs):
    """Run a boto3 S3 call; return None on success, else the S3 error code."""
    try:
        getattr(client, operation)(**kwargs)
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    return None


def can_sign_in(server, access_key, secret_key):
    """True when MinIO accepts the signature (AccessDenied still proves the secret right)."""
    code = s3_code(server.boto3(access_key, secret_key), "list_buckets")
    return code not in ("InvalidAccessKeyId", "SignatureDoesNotMatch")


def results(play_result, *names):
    """(changed, changed_facets) of each named task."""
    return [(play_result[n]["changed"], play_result[n].get("changed_facets")) for n in names]


def mc_task(server, label, *args, creds=None):
    """An ansible task running `mc --json ARGS` as an independent client inside a test play.

    Alias `t` is the root user; with creds=(access_key, secret_key) alias `u` is that account.
    Credentials go through the environment, never argv. The task never fails or changes.
    """
    from helpers.minio_server import MC_BIN

    host = f"127.0.0.1:{server.port}"
    env = {"MC_HOST_t": f"http://{server.access_key}:{server.secret_key}@{host}",
           "MC_CONFIG_DIR": str(server.workdir / "mc"), "MC_DISABLE_PAGER": "1"}
    if creds:
        env["MC_HOST_u"] = f"http://{creds[0]}:{creds[1]}@{host}"
    return {"name": label, "ansible.builtin.command": {"argv": [str(MC_BIN), "--no-color", "--json", *args]},
            "environment": env, "changed_when": False, "failed_when": False}


def mc_out(play_result, label):
    """Decoded last JSON line printed by an mc_task."""
    res = play_result[label]
    lines = [line for line in (res.get("stdout") or "").splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}
