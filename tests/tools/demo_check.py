"""Short verification of the `make demo` stack with real clients (called by demo.sh).

boto3, configured only from the backend env file rendered in the container,
uploads a 1 MiB document through the public S3 route (Traefik, TLS with the
demo CA) and reads it back directly from MinIO and through Traefik; anonymous
reads are refused; the console needs its basic auth. Prints one line per check
and never a secret.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shlex
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import user_clients  # noqa: E402 (the shared user-client checks, next to this file)

_real_getaddrinfo = socket.getaddrinfo


def _loopback_localhost(host, *args, **kwargs):
    # *.localhost is loopback (RFC 6761); glibc does not know it without nss-myhostname.
    if isinstance(host, str) and (host == "localhost" or host.endswith(".localhost")):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_localhost


def read_env(container: str, path: str) -> dict:
    text = subprocess.run(["docker", "exec", container, "cat", path], capture_output=True, text=True,
                          check=True).stdout
    env = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = shlex.split(value)[0] if value.strip() else ""
    return env


def status_of(url: str, ctx: ssl.SSLContext, headers: dict | None = None) -> int:
    if not url.startswith(("https://", "http://127.0.0.1:")):
        raise ValueError(url)
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (scheme checked above)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:  # noqa: S310
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--container", required=True)
    ap.add_argument("--demo-dir", required=True)
    ap.add_argument("--env-file", default="/etc/koprogo/backend-storage.env")
    ap.add_argument("--s3-url", required=True)
    ap.add_argument("--console-url", required=True)
    ap.add_argument("--direct-url", required=True)
    ap.add_argument("--root-user", default="koprogo-admin")
    args = ap.parse_args()
    demo = Path(args.demo_dir)
    ca = str(demo / "ca.crt")
    ctx = ssl.create_default_context(cafile=ca)

    env = read_env(args.container, args.env_file)
    region = env.get("S3_REGION") or "us-east-1"
    cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4")

    def client(endpoint: str):
        return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=env["S3_ACCESS_KEY"],
                            aws_secret_access_key=env["S3_SECRET_KEY"], region_name=region,
                            verify=ca if endpoint.startswith("https") else None, config=cfg)

    public, direct = client(env["S3_ENDPOINT"]), client(args.direct_url)
    bucket = env["S3_BUCKET"]
    # Keys as KoproGo's backend builds them: "<prefix>/<key>" whenever S3_KEY_PREFIX is present.
    prefix = env["S3_KEY_PREFIX"].rstrip("/") + "/" if "S3_KEY_PREFIX" in env else ""
    key = f"{prefix}demo/check-{int(time.time())}.bin"
    body = os.urandom(1024 * 1024)
    t0 = time.perf_counter()
    public.put_object(Bucket=bucket, Key=key, Body=body)
    put_ms = (time.perf_counter() - t0) * 1000
    via_direct = direct.get_object(Bucket=bucket, Key=key)["Body"].read()
    via_public = public.get_object(Bucket=bucket, Key=key)["Body"].read()
    digest = hashlib.sha256(body).hexdigest()
    ok = hashlib.sha256(via_direct).hexdigest() == digest == hashlib.sha256(via_public).hexdigest()
    print(f"  {'ok  ' if ok else 'FAIL'} 1 MiB upload through {env['S3_ENDPOINT']} ({put_ms:.0f} ms) with the "
          f"backend's service account; read back directly and through Traefik, sha256 {digest[:12]}... equal")
    direct.delete_object(Bucket=bucket, Key=key)
    # Least privilege: the backend's account cannot read the bucket's settings; root can.
    try:
        direct.get_bucket_versioning(Bucket=bucket)
        limited = False
    except ClientError as err:
        limited = err.response.get("Error", {}).get("Code") == "AccessDenied"
    root = boto3.client("s3", endpoint_url=args.direct_url, aws_access_key_id=args.root_user,
                        aws_secret_access_key=(demo / "minio_root_password").read_text().strip(),
                        region_name=region, config=cfg)
    versioning = root.get_bucket_versioning(Bucket=bucket).get("Status")
    print(f"  {'ok  ' if versioning == 'Enabled' else 'FAIL'} bucket {bucket}: versioning {versioning} (read as root)")
    print(f"  {'ok  ' if limited else 'FAIL'} the backend's account is refused bucket settings (AccessDenied)")

    anon = status_of(f"{args.s3_url}/{bucket}/{key}", ctx)
    print(f"  {'ok  ' if anon == 403 else 'FAIL'} anonymous GET on the bucket: {anon}")
    ok = ok and anon == 403 and versioning == "Enabled" and limited
    no_auth = status_of(args.console_url, ctx)
    password = (demo / "console_password").read_text().strip()
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    with_auth = status_of(args.console_url, ctx, {"Authorization": f"Basic {token}"})
    good = no_auth == 401 and with_auth == 200
    print(f"  {'ok  ' if good else 'FAIL'} console: {no_auth} without credentials, {with_auth} with them")
    root_password = (demo / "minio_root_password").read_text().strip()
    try:
        count = user_clients.console_session(args.console_url.rstrip("/"), ca, token, args.root_user, root_password,
                                             bucket)
        print(f"  ok   console after login: session and bucket list answer 200 ({count} buckets)")
    except AssertionError as err:
        good = False
        print(f"  FAIL console after login: {err}")
    env_text = subprocess.run(["docker", "exec", args.container, "cat", args.env_file], capture_output=True,
                              check=True).stdout
    try:
        report = user_clients.koprogo_backend(env_text, ca, args.s3_url.split("://", 1)[1].split(":", 1)[0])
        print(f"  ok   KoproGo's client (aws-sdk-s3, backend settings, prefix {report['key_prefix']!r}): put, get, "
              f"head, list, delete of {len(report['files'])} documents with spaces, accents, #, %, ?, ; in their names")
    except AssertionError as err:
        ok = False
        print(f"  FAIL KoproGo's client: {err}")
    return 0 if ok and good else 1


if __name__ == "__main__":
    sys.exit(main())
