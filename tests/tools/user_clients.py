"""What a KoproGo user's own clients do, for the scripted stack checks (molecule verify, make demo).

Both checks drive the stack the way its real users do, so a route or console regression fails them:
- ``koprogo_backend``: tests/tools/koprogo-client, a Rust program built with the aws-sdk-s3 version of
  KoproGo's backend and configured like it (see tests/integration/roles/test_koprogo_client.py), reads the
  env file backend_env rendered and uploads, reads back, lists and deletes documents whose names carry
  spaces, accents, '#', '%', '?' and ';' through the public S3 route.
- ``console_session``: the console's own login, then its session and bucket-list calls (what the web page
  loads right after login; they answered 500 when the console was pointed at the public S3 host).

Standalone scripts import this file by putting tests/tools on sys.path.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
MIB = 1024 * 1024
DOCUMENT_NAMES = ("procès-verbal AGO été 2026.pdf", "facture #12 100% réglée?;v2.pdf")


def build_probe() -> Path:
    """Build (or reuse: the cargo target lives outside the clone) the KoproGo client probe."""
    proc = subprocess.run(["bash", str(TOOLS / "build-koprogo-client.sh")], capture_output=True, text=True,
                          timeout=3000, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"building the KoproGo client probe failed:\n{proc.stderr[-3000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def koprogo_backend(env_text: bytes, ca_file: str, s3_host: str) -> dict:
    """Run the probe through the public route with the backend's env file; return its JSON report.

    Raises AssertionError naming the first operation that failed.
    """
    probe = build_probe()
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "backend-storage.env"
        env_file.touch(mode=0o600)
        env_file.write_bytes(env_text)
        args = [str(probe), "--env-file", str(env_file), "--building", str(uuid.uuid4()),
                "--ca-file", ca_file, "--resolve", f"{s3_host}=127.0.0.1"]
        for name in DOCUMENT_NAMES:
            args += ["--file", f"{MIB}:{name}"]
        # A clean environment: no AWS_* variable or ~/.aws profile may change the SDK's behaviour.
        proc = subprocess.run(args, env={"PATH": os.environ["PATH"], "HOME": tmp}, capture_output=True,
                              text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"KoproGo client probe failed: {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    if report["head_bucket"] != {"ok": True}:
        raise AssertionError(f"KoproGo client: HeadBucket {report['head_bucket']}")
    for doc in report["files"]:
        for op in ("put", "get", "head", "list", "delete"):
            if not doc[op].get("ok", doc[op].get("exists")):
                raise AssertionError(f"KoproGo client: {op} of {doc['name']!r} (key {doc['key']!r}): {doc[op]}")
        if doc["get"].get("sha256") != doc["sha256"]:
            raise AssertionError(f"KoproGo client: {doc['name']!r} read back with other bytes")
    return report


def console_session(console_url: str, ca_file: str, basic_token: str, access_key: str, secret_key: str,
                    bucket: str) -> int:
    """Log in to the console API behind basic auth; its session and bucket list must answer 200.

    Returns the number of buckets the console lists; raises AssertionError otherwise.
    """
    if not console_url.startswith("https://"):
        raise ValueError(console_url)
    ctx = ssl.create_default_context(cafile=ca_file)
    basic = {"Authorization": f"Basic {basic_token}"}
    login = urllib.request.Request(  # noqa: S310 (https only, checked above)
        f"{console_url}/api/v1/login", method="POST",
        data=json.dumps({"accessKey": access_key, "secretKey": secret_key}).encode(),
        headers={**basic, "Content-Type": "application/json"})
    with urllib.request.urlopen(login, context=ctx, timeout=60) as resp:  # noqa: S310
        cookies = "; ".join(c.split(";", 1)[0] for c in resp.headers.get_all("Set-Cookie") or [])
    if not cookies:
        raise AssertionError("console login set no session cookie")
    answers = {}
    for path in ("/api/v1/session", "/api/v1/buckets"):
        req = urllib.request.Request(f"{console_url}{path}", headers={**basic, "Cookie": cookies})  # noqa: S310
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:  # noqa: S310
                answers[path] = (resp.status, json.loads(resp.read() or b"{}"))
        except urllib.error.HTTPError as err:
            raise AssertionError(f"console {path} answered {err.code} after login: {err.read()[:200]!r}") from err
    names = [b.get("name") for b in answers["/api/v1/buckets"][1].get("buckets") or []]
    if bucket not in names:
        raise AssertionError(f"the console lists {names}, not {bucket}")
    return len(names)
