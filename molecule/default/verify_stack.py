"""Checks of the converged storage stack with real clients (molecule `default` verify).

Usage: verify_stack.py FACTS_JSON (written 0600 by verify.yml: ports, host names,
paths and the test secrets). Every check prints one line without secrets; the
first failure raises with a message naming what a user would see.

Order: check-mode converge reports 0 changed; boto3 configured only from the
rendered backend env file moves a 1 MiB document through Traefik (TLS, trusting
the self-signed CA) and directly; KoproGo's own client (tests/tools/user_clients.py)
does the backend's document operations through Traefik; anonymous and basic-auth
HTTP rules, and the console's session after login; MinIO
listens on loopback only; secret files are 0600; drift made with mc and a shell
edit is reported and repaired by site.yml with no object lost; the secrets
appear in no ansible output.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import bcrypt
import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "tools"))
import user_clients  # noqa: E402 (the shared user-client checks, found through the line above)

BIN = Path(sys.executable).parent
CACHE = Path(os.environ.get("KOPROGO_CACHE", Path(__file__).resolve().parents[2] / ".cache"))
MIB = 1024 * 1024

_real_getaddrinfo = socket.getaddrinfo


def _loopback_localhost(host, *args, **kwargs):
    """Resolve *.localhost to 127.0.0.1 (RFC 6761), as browsers and curl do."""
    if isinstance(host, str) and (host == "localhost" or host.endswith(".localhost")):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_localhost


def say(msg: str) -> None:
    print(f"ok: {msg}", flush=True)


def asks_basic(headers: Message) -> bool:
    """True when a response challenges for HTTP basic auth."""
    return "basic" in (headers.get("WWW-Authenticate") or "").lower()


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise AssertionError(msg)


class Stack:
    def __init__(self, facts: dict):
        self.f = facts
        self.host = facts["host"]
        self.port = int(facts["https_port"])
        self.ssl = ssl.create_default_context(cafile=facts["ca_file"])
        self.outputs: list[str] = []

    # --- helpers -------------------------------------------------------------------
    def sh(self, cmd: str, check_rc: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["docker", "exec", self.host, "bash", "-c", cmd], capture_output=True, text=True,
                              check=False)
        if check_rc and proc.returncode != 0:
            raise AssertionError(f"in {self.host}: {cmd!r} failed: {proc.stderr.strip()}")
        return proc

    def url(self, host: str, path: str = "/") -> str:
        return f"https://{host}:{self.port}{path}"

    def http(self, url: str, headers: dict | None = None) -> tuple[int, Message, bytes]:
        """Status, headers (case-insensitive lookups) and body of a GET."""
        check(url.startswith(("https://", "http://127.0.0.1:")), f"refusing to fetch {url}")
        req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (scheme checked above)
        try:
            with urllib.request.urlopen(req, context=self.ssl, timeout=30) as resp:  # noqa: S310
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def site(self, *extra: str) -> tuple[str, dict]:
        """Run the converge playbook (-v); return its output and a {task: changed?} map."""
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_STDOUT_CALLBACK="default")
        env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
        cmd = [str(BIN / "ansible-playbook"), "-i", self.f["inventory"], self.f["converge"], "-v", *extra]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        out = proc.stdout + proc.stderr
        self.outputs.append(out)
        check(proc.returncode == 0, f"site.yml {' '.join(extra)} failed (rc {proc.returncode}):\n{out[-4000:]}")
        changed, task = {}, None
        for line in proc.stdout.splitlines():
            m = re.match(r"^TASK \[(.*)\] \*+", line)
            if m:
                task = m.group(1)
            elif task and re.match(r"^changed: \[", line):
                changed[task] = True
        recap = re.search(rf"^{re.escape(self.host)}\s+:.*?changed=(\d+).*?failed=(\d+)", proc.stdout, re.M)
        check(recap is not None, "no PLAY RECAP line for the host")
        return out, {"changed": int(recap.group(1)), "failed": int(recap.group(2)), "tasks": changed}

    def backend_env(self) -> dict:
        text = self.sh(f"cat {shlex.quote(self.f['backend_env_file'])}").stdout
        env = {}
        for line in text.splitlines():
            if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            env[key.strip()] = shlex.split(value)[0] if value.strip() else ""
        return env

    def s3(self, endpoint: str, access_key: str, secret_key: str, region: str, path_style: bool = True):
        return boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            region_name=region, verify=self.f["ca_file"] if endpoint.startswith("https") else None,
            config=Config(s3={"addressing_style": "path" if path_style else "auto"}, retries={"max_attempts": 2},
                          signature_version="s3v4"))

    def direct_endpoint(self) -> str:
        return f"http://127.0.0.1:{int(self.f['minio_api_port'])}"

    def root_s3(self):
        return self.s3(self.direct_endpoint(), self.f["root_user"], self.f["root_password"], "us-east-1")

    def mc(self, *args: str) -> subprocess.CompletedProcess:
        """mc with root credentials from the environment (never argv)."""
        endpoint = self.direct_endpoint().replace("http://", "")
        env = dict(os.environ, MC_HOST_drift=(f"http://{self.f['root_user']}:{self.f['root_password']}@{endpoint}"))
        with tempfile.TemporaryDirectory() as conf:
            proc = subprocess.run([str(CACHE / "bin" / "mc"), "--config-dir", conf, "--json", *args], env=env,
                                  capture_output=True, text=True, check=False)
        check(proc.returncode == 0, f"mc {args[0]} failed: {proc.stdout[-800:]} {proc.stderr[-800:]}")
        return proc

    # --- checks ------------------------------------------------------------------------
    def check_mode(self) -> None:
        _unused1, res = self.site("--check")
        check(res["changed"] == 0, f"check-mode converge reported changes: {sorted(res['tasks'])}")
        say("site.yml in check mode after converge: 0 changed")

    def documents_roundtrip(self) -> dict:
        env = self.backend_env()
        check(env.get("STORAGE_PROVIDER") == "s3", "backend env: STORAGE_PROVIDER is not s3")
        check(env.get("S3_ACCESS_KEY") and env["S3_ACCESS_KEY"] != self.f["root_user"],
              "backend env carries no access key or the root user")
        check(env.get("S3_SECRET_KEY") != self.f["root_password"], "backend env carries the root password")
        path_style = env.get("S3_FORCE_PATH_STYLE", "true").lower() == "true"
        region = env.get("S3_REGION") or "us-east-1"
        bucket = env["S3_BUCKET"]
        # Keys as KoproGo's backend builds them: "<prefix>/<key>" whenever S3_KEY_PREFIX is present.
        prefix = env["S3_KEY_PREFIX"].rstrip("/") + "/" if "S3_KEY_PREFIX" in env else ""
        via_traefik = self.s3(env["S3_ENDPOINT"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], region, path_style)
        direct = self.s3(self.direct_endpoint(), env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], region, path_style)
        check(env["S3_ENDPOINT"].startswith("https://"), "S3_ENDPOINT is not the TLS route")
        keys = {}
        for name, put, get in (("traefik-to-direct", via_traefik, direct), ("direct-to-traefik", direct, via_traefik)):
            body = os.urandom(MIB)
            key = f"{prefix}verify/{name}.bin"
            put.put_object(Bucket=bucket, Key=key, Body=body)
            got = get.get_object(Bucket=bucket, Key=key)["Body"].read()
            check(hashlib.sha256(got).digest() == hashlib.sha256(body).digest(), f"{name}: downloaded bytes differ")
            keys[key] = hashlib.sha256(body).hexdigest()
        say(f"boto3 from the backend env file: 1 MiB up via Traefik TLS / down directly and the reverse, "
            f"bytes equal (bucket {bucket})")
        self.env = env
        self.bucket = bucket
        return keys

    def koprogo_backend(self) -> None:
        env_text = self.sh(f"cat {shlex.quote(self.f['backend_env_file'])}").stdout.encode()
        report = user_clients.koprogo_backend(env_text, self.f["ca_file"], self.f["s3_host"])
        keys = ", ".join(repr(doc["key"].rsplit("/", 1)[-1]) for doc in report["files"])
        say(f"KoproGo's client (aws-sdk-s3, backend settings from the env file, prefix "
            f"{report['key_prefix']!r}) through Traefik: put, get (sha256), head, list, delete of {keys}")

    def console_session(self) -> None:
        token = base64.b64encode(f"{self.f['console_user']}:{self.f['console_password']}".encode()).decode()
        count = user_clients.console_session(self.url(self.f["console_host"]).rstrip("/"), self.f["ca_file"], token,
                                             self.f["root_user"], self.f["root_password"], self.f["bucket"])
        say(f"console after login: /api/v1/session and /api/v1/buckets answer 200 ({count} buckets listed)")

    def anonymous_denied(self, key: str) -> None:
        s3_host = self.f["s3_host"]
        for url in (self.url(s3_host, f"/{self.bucket}"), self.url(s3_host, f"/{self.bucket}/{key}"),
                    f"{self.direct_endpoint()}/{self.bucket}/{key}"):
            status, headers, _unused1 = self.http(url)
            check(status == 403, f"anonymous GET {url} answered {status}, expected 403")
            check(not asks_basic(headers), f"{url} asks for basic auth")
        say("anonymous GET on the bucket and an object: 403 (through Traefik and directly)")

    def console_auth(self) -> None:
        host = self.f["console_host"]
        status, headers, _unused1 = self.http(self.url(host))
        check(status == 401, f"console without credentials answered {status}, expected 401")
        check(asks_basic(headers), "console 401 without a Basic challenge")
        token = base64.b64encode(f"{self.f['console_user']}:{self.f['console_password']}".encode()).decode()
        status, _unused1, _unused2 = self.http(self.url(host), {"Authorization": f"Basic {token}"})
        check(status == 200, f"console with credentials answered {status}, expected 200")
        bad = base64.b64encode(f"{self.f['console_user']}:not-the-password".encode()).decode()
        status, _unused1, _unused2 = self.http(self.url(host), {"Authorization": f"Basic {bad}"})
        check(status == 401, f"console with a wrong password answered {status}, expected 401")
        # Behind the basic auth, the console's own login (MinIO root credentials) works.
        body = json.dumps({"accessKey": self.f["root_user"], "secretKey": self.f["root_password"]}).encode()
        req = urllib.request.Request(self.url(host, "/api/v1/login"), data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"})
        with urllib.request.urlopen(req, context=self.ssl, timeout=60) as resp:  # noqa: S310 (https, loopback)
            check(resp.status in (200, 204), f"console login answered {resp.status}")
        say("console host: 401 without credentials or with a wrong password, 200 with them; console login works")

    def s3_host_no_basic_auth(self) -> None:
        host = self.f["s3_host"]
        token = base64.b64encode(f"{self.f['console_user']}:{self.f['console_password']}".encode()).decode()
        for path, headers in (("/", {}), (f"/{self.bucket}", {}), ("/minio/health/live", {}),
                              (f"/{self.bucket}", {"Authorization": f"Basic {token}"})):
            status, resp_headers, _unused1 = self.http(self.url(host, path), headers)
            check(status != 401, f"S3 host {path} answered 401")
            check(not asks_basic(resp_headers),
                  f"S3 host {path} asks for basic auth")
        status, _unused1, _unused2 = self.http(self.url(host, "/minio/health/live"))
        check(status == 200, f"S3 host health answered {status}")
        say("S3 host: never a 401 or a Basic challenge (health 200 through Traefik)")

    def loopback_only(self) -> None:
        out = self.sh("ss -Htlnp").stdout
        minio = [line for line in out.splitlines() if '(("minio"' in line]
        check(minio, "no listening socket owned by minio")
        for line in minio:
            local = line.split()[3]
            addr = local.rsplit(":", 1)[0].strip("[]")
            check(addr in ("127.0.0.1", "::1") or addr.startswith("127."), f"MinIO listens on {local}")
        traefik = [line.split()[3] for line in out.splitlines() if '(("traefik"' in line]
        check(traefik and all(a.startswith("127.") for a in traefik), f"Traefik listens on {traefik}")
        say(f"MinIO listens on {sorted({line.split()[3] for line in minio})} only; Traefik on {sorted(set(traefik))}")

    def file_modes(self) -> None:
        files = [self.f["minio_env_file"], self.f["backend_env_file"],
                 f"{self.f['traefik_config_dir']}/auth/minio-console.htpasswd"]
        for path in files:
            mode = self.sh(f"stat -c %a {shlex.quote(path)}").stdout.strip()
            check(mode == "600", f"{path} has mode {mode}, expected 0600")
        keys = self.sh(f"find {shlex.quote(self.f['traefik_config_dir'])} -name '*.key' -printf '%m %p\\n'").stdout
        for line in keys.splitlines():
            mode, path = line.split(" ", 1)
            check(int(mode, 8) & 0o077 == 0, f"private key {path} has mode {mode}")
        say(f"0600: {', '.join(files)}; TLS keys not readable by group/others")

    def drift(self, keys: dict) -> None:
        root = self.root_s3()
        bucket = self.bucket
        # A second version of one document, so versioning repair is visible too.
        versioned = next(iter(keys))
        root.put_object(Bucket=bucket, Key=versioned, Body=b"second version")
        before = self.versions(root)

        self.mc("anonymous", "set", "download", f"drift/{bucket}")
        self.mc("version", "suspend", f"drift/{bucket}")
        self.mc("admin", "policy", "detach", "drift", self.f["backend_policy"], "--user", self.f["backend_user"])
        auth = f"{self.f['traefik_config_dir']}/auth/minio-console.htpasswd"
        # Someone else's edit: the console user's hash replaced and a second user added.
        edited = "".join(f"{user}:{bcrypt.hashpw(os.urandom(12).hex().encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
                         for user in (self.f["console_user"], "intruder"))
        subprocess.run(["docker", "exec", "-i", self.host, "sh", "-c", f"cat > {shlex.quote(auth)}"], input=edited,
                       text=True, check=True)
        # The drift is real, seen from the outside.
        status, _unused1, _unused2 = self.http(f"{self.direct_endpoint()}/{bucket}/{versioned}")
        check(status == 200, "drift: bucket did not become public")
        check(root.get_bucket_versioning(Bucket=bucket).get("Status") == "Suspended", "drift: versioning not suspended")
        backend = self.s3(self.direct_endpoint(), self.env["S3_ACCESS_KEY"], self.env["S3_SECRET_KEY"], "us-east-1")
        check(self.denied(lambda: backend.get_object(Bucket=bucket, Key=versioned)), "drift: policy still attached")
        check(not self.auth_file_ok(auth), "drift: the auth file edit did not stick")
        say("drift applied with mc and a shell edit: bucket public, versioning suspended, policy detached, "
            "auth file edited")

        _unused1, res = self.site()
        changed = sorted(res["tasks"])
        print(f"     site.yml after drift: {res['changed']} changed: {changed}", flush=True)
        expectations = {
            "anonymous access": ("anonymous", "bucket", "documents"),
            "versioning": ("version", "bucket", "documents"),
            "policy attachment": ("polic", "user", "attach", "service account", "backend"),
            "console auth file": ("htpasswd", "auth", "console user", "users"),
        }
        roles = {"anonymous access": "minio_config", "versioning": "minio_config",
                 "policy attachment": "minio_config", "console auth file": "traefik"}
        for what, words in expectations.items():
            hits = [t for t in changed if f"{roles[what]} :" in t and any(w in t.lower() for w in words)]
            check(hits, f"site.yml did not report the {what} drift (changed: {changed})")
        check(res["changed"] >= 4, f"site.yml reported {res['changed']} changes for 4 drifts")

        status, _unused1, _unused2 = self.http(f"{self.direct_endpoint()}/{bucket}/{versioned}")
        check(status == 403, f"after repair anonymous GET answered {status}")
        check(root.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled",
              "after repair versioning not Enabled")
        check(backend.get_object(Bucket=bucket, Key=versioned)["Body"].read() == b"second version",
              "after repair the backend cannot read its bucket")
        right = self.basic(self.f["console_user"], self.f["console_password"])
        status, _unused1, _unused2 = self.http(self.url(self.f["console_host"]), right)
        check(status == 200, f"after repair the console answered {status} to the right credentials")
        status, _unused1, _unused2 = self.http(self.url(self.f["console_host"]), self.basic("intruder", "whatever"))
        check(status == 401, "after repair the intruder line still works")
        check(self.auth_file_ok(auth), "after repair the auth file does not hold exactly the console user's hash")
        after = self.versions(root)
        check(before.items() <= after.items(), "objects or versions were lost during the repair")
        for key, digest in keys.items():
            if key == versioned:
                continue
            body = root.get_object(Bucket=bucket, Key=key)["Body"].read()
            check(hashlib.sha256(body).hexdigest() == digest, f"{key} changed during the repair")
        say(f"site.yml reported each drift and repaired it; {len(before)} object versions all still there")

    def auth_file_ok(self, path: str) -> bool:
        """The users file holds one line: the console user with a bcrypt hash of its password."""
        lines = [line for line in self.sh(f"cat {shlex.quote(path)}").stdout.splitlines() if line.strip()]
        if len(lines) != 1 or ":" not in lines[0]:
            return False
        user, digest = lines[0].split(":", 1)
        try:
            return user == self.f["console_user"] and bcrypt.checkpw(self.f["console_password"].encode(),
                                                                     digest.encode())
        except ValueError:
            return False

    def versions(self, client) -> dict:
        out = {}
        for page in client.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
            for v in page.get("Versions", []):
                out[(v["Key"], v["VersionId"])] = v["ETag"]
        return out

    @staticmethod
    def basic(user: str, password: str) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    @staticmethod
    def denied(call) -> bool:
        try:
            call()
        except Exception as err:  # noqa: BLE001 (botocore ClientError)
            return "AccessDenied" in str(err) or "403" in str(err)
        return False

    def no_secret_in_output(self) -> None:
        log = Path(self.f["ansible_log"])
        check(log.is_file() and "PLAY RECAP" in log.read_text(errors="replace"), f"no ansible log at {log}")
        texts = [log.read_text(errors="replace"), *self.outputs]
        check(any("changed: [" in t for t in texts), "the logs show no converge")
        secrets = {
            "MinIO root password": self.f["root_password"],
            "backend service-account secret": self.f["backend_secret_key"],
            "backend user password": self.f["backend_user_password"],
            "console password": self.f["console_password"],
        }
        for what, value in secrets.items():
            check(len(value) >= 16, f"test {what} is too short to search for")
            for text in texts:
                check(value not in text, f"the {what} appears in the ansible -v output")
        say(f"no secret in the -v output of converge, idempotence, check mode and drift runs "
            f"({sum(len(t) for t in texts) // 1024} KiB searched)")


def main() -> int:
    facts = json.loads(Path(sys.argv[1]).read_text())
    stack = Stack(facts)
    # For debugging by hand: KOPROGO_VERIFY_SKIP=check_mode,drift skips the slow converges.
    skip = set(filter(None, os.environ.get("KOPROGO_VERIFY_SKIP", "").split(",")))
    if "check_mode" not in skip:
        stack.check_mode()
    keys = stack.documents_roundtrip()
    stack.koprogo_backend()
    stack.anonymous_denied(next(iter(keys)))
    stack.console_auth()
    stack.console_session()
    stack.s3_host_no_basic_auth()
    stack.loopback_only()
    stack.file_modes()
    if "drift" not in skip:
        stack.drift(keys)
    stack.no_secret_in_output()
    if skip:
        print(f"SKIPPED: {sorted(skip)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
