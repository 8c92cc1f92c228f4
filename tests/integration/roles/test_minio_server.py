"""koprogo.storage.minio_server converged onto a throwaway Debian 12 systemd container.

The tests share one container and run in file order: rejected input and check mode on the fresh
host first (it must stay untouched), then a real converge from source (built on the controller
with Go), idempotence and check mode, memory figures, binary replacement through the `local` and
`url` sources (a fork's binary with another name and version string, bare or inside an archive),
then the missing-mount guard. Every converge also shows the warning about the known advisories of
the installed build (vars/advisories.yml) unless they are acknowledged. One test needs no container:
the build script builds a "fork" by its own module path from a module proxy on disk. The
container shares the host network, so MinIO binds 127.0.0.1 on free ports and the tests reach it
directly.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import http.server
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import tarfile
import threading
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers.ansible_run import run_playbook, run_tasks
from helpers.minio_server import MINIO_BIN
from helpers.systemd_host import SystemdHost, free_port

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs a Docker engine")

ROLE = "koprogo.storage.minio_server"
MOUNT = "/srv/koprogo-data"
ROOT = Path(__file__).resolve().parents[3]
VERSIONS_ENV = Path(__file__).resolve().parents[2] / "tools" / "versions.env"
VERSIONS = dict(line.split("=", 1) for line in VERSIONS_ENV.read_text().splitlines() if line and line[0] != "#")
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
# Every character systemd's EnvironmentFile or a shell could misread.
PASSWORD = "Kp$HOME\"q'uo`te\\ #x " + secrets.token_urlsafe(16)
USER = "koprogo-root"
# The default pin's advisories reachable on every deployment, and the ones needing a feature we leave off.
ADVISORIES = yaml.safe_load((ROOT / "roles" / "minio_server" / "vars" / "advisories.yml").read_text())
ROUTE_ADVISORIES = ["GHSA-9c4q-hq6p-c237", "GHSA-hv4r-mvr4-25vw", "GHSA-3rh2-v3gr-35p9", "GHSA-h749-fxx7-pwpg",
                    "SN-2026-011"]
FEATURE_ADVISORIES = ["GHSA-5cx5-wh4m-82fh (oidc", "GHSA-jv87-32hw-hh99 (ldap", "GHSA-xh8f-g2qw-gcm7 (internode"]
WARNING = "[WARNING]: The MinIO build"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "LimitNOFILE": "65536",
    "Restart": "on-failure",
    "User": "minio",
    "Type": "notify",
    "MemoryMax": str(512 * 1024 * 1024),
    "MemoryHigh": str(384 * 1024 * 1024),
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Target:
    """The container plus what the tests need to converge the role onto it."""

    def __init__(self, host: SystemdHost, workdir: Path):
        self.host = host
        self.workdir = workdir
        self.api_port = free_port()
        self.console_port = free_port()
        self.inventory = host.inventory(workdir / "hosts.yml")
        self.playbook = workdir / "minio_server.yml"
        self.playbook.write_text(yaml.safe_dump([{
            "name": "Converge minio_server", "hosts": "all", "gather_facts": False,
            "roles": [{"role": ROLE}],
        }], sort_keys=False))
        self.cache_dir = workdir / "controller-cache"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def vars(self, **overrides) -> dict:
        base = {
            "minio_server_root_user": USER,
            "minio_server_root_password": PASSWORD,
            "minio_server_api_port": self.api_port,
            "minio_server_console_port": self.console_port,
            "minio_server_source_cache_dir": str(self.cache_dir),
        }
        base.update(overrides)
        return base

    def converge(self, *, check: bool = False, diff: bool = False, **overrides) -> Run:
        result = run_playbook(self.playbook, inventory=str(self.inventory), extra_vars=self.vars(**overrides),
                              check=check, diff=diff, verbosity=1, json_output=False,
                              env={"ANSIBLE_PIPELINING": "True"}, timeout=1500)
        return Run(result.rc, result.stdout + result.stderr)

    def sh(self, cmd: str, check: bool = True) -> str:
        return self.host.exec(cmd, check=check).stdout.strip()

    def show(self, *props: str) -> dict:
        out = self.sh("systemctl show minio " + " ".join(f"-p {p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines())

    def invocation(self) -> str:
        return self.sh("systemctl show -p InvocationID --value minio")

    def installed_sha256(self) -> str:
        return self.sh("sha256sum /usr/local/bin/minio").split()[0]

    def s3(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id=USER,
                            aws_secret_access_key=PASSWORD,
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))


class Run:
    def __init__(self, rc: int, output: str):
        self.rc = rc
        self.output = output

    @property
    def changed(self) -> int:
        return sum(int(m.group(3)) for m in RECAP.finditer(self.output))

    @property
    def flat(self) -> str:
        """The output with line wrapping undone (Ansible wraps long warnings)."""
        return " ".join(self.output.split())

    def assert_advisory_warning(self, build: str, ids: list[str]) -> None:
        assert f"{WARNING} {build} has {len(ids)} known advisories:" in self.flat, self.output[-4000:]
        warning = self.flat.split(WARNING, 1)[1]
        for advisory_id in ids:
            assert f"{advisory_id} (" in warning
        assert "minio_server_advisories_acknowledged" in warning

    def assert_no_advisory_warning(self) -> None:
        assert WARNING not in self.flat, self.output[-4000:]

    def assert_ok(self) -> None:
        assert self.rc == 0, self.output[-6000:]
        assert RECAP.search(self.output), self.output[-3000:]

    def assert_no_secret(self) -> None:
        assert PASSWORD not in self.output
        # The distinctive random tail alone must not leak either (escaped forms).
        assert PASSWORD[-16:] not in self.output


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback only
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@contextlib.contextmanager
def serve_directory(directory: Path):
    """A throwaway HTTP server on 127.0.0.1 standing in for a mirror."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("minio-server")
    # An anonymous volume on /srv/koprogo-data stands in for the encrypted mount.
    host = SystemdHost(f"kp-test-minio-server-{secrets.token_hex(3)}", docker_args=["-v", MOUNT]).start()
    try:
        yield Target(host, workdir)
    finally:
        host.stop()


def host_is_untouched(t: Target) -> None:
    leftovers = t.sh(
        "for p in /etc/default/minio /usr/local/bin/minio /etc/systemd/system/minio.service /etc/minio "
        f"{MOUNT}/minio /srv/not-mounted; do test -e $p && echo $p; done; getent passwd minio; true")
    assert leftovers == ""


@pytest.mark.parametrize("overrides, message", [
    ({"minio_server_root_password": "short-" + secrets.token_hex(4)}, "weak or invalid"),
    ({"minio_server_root_user": "minioadmin"}, "weak or invalid"),
    ({"minio_server_root_password": "minioadmin"}, "weak or invalid"),
    ({"minio_server_root_password": None}, "minio_server_root_password"),
    ({"minio_server_require_mountpoint": "/srv/not-mounted", "minio_server_data_dir": "/srv/not-mounted/minio"},
     "is not a mounted file system"),
    ({"minio_server_install_source": "url", "minio_server_url": "http://127.0.0.1:1/minio"}, "64 hex digits"),
    ({"minio_server_install_source": "url", "minio_server_url": "http://127.0.0.1:1/silo.tar.gz",
      "minio_server_sha256": "0" * 64, "minio_server_url_archive_member": "silo"},
     "needs minio_server_url_fetch_on: controller"),
], ids=["short-password", "minioadmin-user", "minioadmin-password", "no-password", "not-mounted", "url-no-sha256",
        "archive-on-target"])
def test_bad_input_is_rejected_before_any_change(target, overrides, message):
    extra = {k: v for k, v in overrides.items() if v is not None}
    result = run_playbook(target.playbook, inventory=str(target.inventory), verbosity=1, json_output=False,
                          extra_vars={**{k: v for k, v in target.vars().items() if k not in overrides}, **extra},
                          env={"ANSIBLE_PIPELINING": "True"})
    output = result.stdout + result.stderr
    assert result.rc != 0
    assert message in output, output[-3000:]
    if extra.get("minio_server_root_password", "minioadmin") != "minioadmin":  # the message names minioadmin
        assert extra["minio_server_root_password"] not in output
    host_is_untouched(target)


def test_check_mode_on_a_fresh_host_changes_nothing(target):
    # Also the first use of the `source` path: the controller builds into its (empty) cache.
    run = target.converge(check=True, diff=True)
    run.assert_ok()
    run.assert_no_secret()
    assert run.changed > 0  # it reports what it would do
    # The operator is told about the build that would be installed.
    run.assert_advisory_warning(f"{VERSIONS['MINIO_MODULE']}@{VERSIONS['MINIO_VERSION']}", ROUTE_ADVISORIES)
    host_is_untouched(target)


def test_converge_from_source(target):
    run = target.converge(diff=True)
    run.assert_ok()
    run.assert_no_secret()

    # The binary is the controller's verified build, cached by module, version and platform.
    built = target.cache_dir / VERSIONS["MINIO_MODULE"] / VERSIONS["MINIO_VERSION"] / f"linux-{GOARCH}" / "minio"
    assert built.is_file()
    assert target.installed_sha256() == sha256(built)

    # Health endpoints and the S3 API, as a client sees them.
    assert http_status(f"{target.endpoint}/minio/health/live") == 200
    assert http_status(f"{target.endpoint}/minio/health/cluster") == 200
    s3 = target.s3()
    s3.create_bucket(Bucket="koprogo-test")
    body = os.urandom(1 << 20)
    s3.put_object(Bucket="koprogo-test", Key="kept.bin", Body=body)
    assert s3.get_object(Bucket="koprogo-test", Key="kept.bin")["Body"].read() == body
    # Metrics keep their default auth (jwt): no anonymous scrape.
    assert http_status(f"{target.endpoint}/minio/v2/metrics/cluster") == 403
    # The console answers on loopback.
    assert http_status(f"http://127.0.0.1:{target.console_port}/") == 200

    # Data is on the mount, owned by the service user.
    assert target.sh(f"findmnt -n -o TARGET --target {MOUNT}/minio") == MOUNT
    assert target.host.stat(f"{MOUNT}/minio") == {"mode": "0750", "owner": "minio", "group": "minio"}
    assert target.sh(f"test -d {MOUNT}/minio/.minio.sys && echo yes") == "yes"

    # Only loopback listeners.
    listeners = target.sh("ss -Hltnp | grep '\"minio\"' | awk '{print $4}'").split()
    assert {f"127.0.0.1:{target.api_port}", f"127.0.0.1:{target.console_port}"} <= set(listeners)
    assert all(addr.startswith(("127.", "[::1]:")) for addr in listeners), listeners

    # Env file: root only, 0600, the credentials as MinIO reads them.
    assert target.host.stat("/etc/default/minio") == {"mode": "0600", "owner": "root", "group": "root"}
    env = target.host.read_file("/etc/default/minio").decode()
    assert "MINIO_CALLHOME_ENABLE=\"off\"" in env
    assert "MINIO_PROMETHEUS_AUTH_TYPE=\"jwt\"" in env
    assert f'MINIO_ADDRESS="127.0.0.1:{target.api_port}"' in env

    # The hardening systemd actually applies.
    props = target.show(*HARDENING, "RequiresMountsFor", "ReadWritePaths", "ExecStartPre", "After",
                        "ActiveState")
    for key, value in HARDENING.items():
        assert props[key] == value, (key, props[key])
    assert props["ActiveState"] == "active"
    assert f"{MOUNT}/minio" in props["RequiresMountsFor"].split()
    assert props["ReadWritePaths"] == f"{MOUNT}/minio"
    assert f"mountpoint -q {MOUNT}" in props["ExecStartPre"].replace("/usr/bin/", "")
    assert "network-online.target" in props["After"]
    environ = target.sh("systemctl show -p Environment --value minio")  # EnvironmentFile stays out of it
    assert PASSWORD not in environ

    # The warning names the pinned build's advisories, what the edge refuses, what does not apply and the way out.
    run.assert_advisory_warning(f"{VERSIONS['MINIO_MODULE']}@{VERSIONS['MINIO_VERSION']}", ROUTE_ADVISORIES)
    warning = run.flat.split(WARNING, 1)[1]
    assert "GHSA-9c4q-hq6p-c237 (CVE-2026-40344, high)" in warning
    assert "S3 route refuses any header whose name contains snowball" in warning
    for not_configured in FEATURE_ADVISORIES:
        assert f"{not_configured} not configured)" in warning
    assert "github.com/chainguard-forks/minio" in warning


def test_second_run_changes_nothing_and_keeps_the_process(target):
    # Also: acknowledged advisories are no longer warned about (and acknowledging changes nothing).
    before = target.invocation()
    run = target.converge(diff=True, minio_server_advisories_acknowledged=ROUTE_ADVISORIES)
    run.assert_ok()
    run.assert_no_secret()
    assert run.changed == 0, run.output[-6000:]
    assert target.invocation() == before
    run.assert_no_advisory_warning()


def test_check_mode_on_a_converged_host_changes_nothing(target):
    before = target.invocation()
    run = target.converge(check=True, diff=True)
    run.assert_ok()
    run.assert_no_secret()
    assert run.changed == 0, run.output[-6000:]
    assert target.invocation() == before
    run.assert_advisory_warning(f"{VERSIONS['MINIO_MODULE']}@{VERSIONS['MINIO_VERSION']}", ROUTE_ADVISORIES)


def rss_kib(target: Target) -> int:
    return int(target.sh("awk '/^VmRSS/ {print $2}' /proc/$(systemctl show -p MainPID --value minio)/status"))


def test_memory_footprint(target, record_property):
    """Not a pass/fail benchmark: record MinIO's RSS idle and after uploads (README figures)."""
    idle = rss_kib(target)
    s3 = target.s3()
    doc = os.urandom(1 << 20)
    for i in range(100):
        s3.put_object(Bucket="koprogo-test", Key=f"rss/doc-{i}.pdf", Body=doc)
    s3.put_object(Bucket="koprogo-test", Key="rss/big.bin", Body=os.urandom(50 << 20))
    for i in range(100):
        s3.get_object(Bucket="koprogo-test", Key=f"rss/doc-{i}.pdf")["Body"].read()
    busy = rss_kib(target)
    peak = int(target.sh("awk '/^VmHWM/ {print $2}' /proc/$(systemctl show -p MainPID --value minio)/status"))
    figures = {"idle_rss_mib": round(idle / 1024, 1), "after_uploads_rss_mib": round(busy / 1024, 1),
               "peak_rss_mib": round(peak / 1024, 1)}
    for key, value in figures.items():
        record_property(key, value)
    print("minio_server memory:", json.dumps(figures))
    assert peak < 512 * 1024  # below MemoryMax: the service was never at risk of an OOM kill


def reported_version(binary: Path) -> str:
    """The version word of `<binary> --version` ("minio version <V> (commit-id=...)")."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True, timeout=120).stdout
    return out.split()[2]


@functools.lru_cache(maxsize=1)
def silo_build() -> tuple[bytes, str]:
    """The test MinIO binary standing in for a fork's release: another version string, same length.

    No fork can be built here (the module proxy refuses them), so the string the server reports
    (`minio --version`, the admin info's version and commit) is rewritten in the binary's bytes.
    """
    data, version = MINIO_BIN.read_bytes(), reported_version(MINIO_BIN)
    silo_version = ("SILO-TEST." + "X" * len(version))[:len(version)]
    assert data.count(version.encode()) >= 1
    return data.replace(version.encode(), silo_version.encode()), silo_version


def server_info(target: Target) -> dict:
    """What the running server reports, read with koprogo.storage.minio_info."""
    result = run_tasks([{"name": "info", "koprogo.storage.minio_info": {"gather": ["server"]}, "register": "info"}],
                       tmp_path=target.workdir,
                       connection={"endpoint": target.endpoint, "access_key": USER, "secret_key": PASSWORD})
    assert result.rc == 0, result.stdout[-3000:]
    return result["info"]["server"]


def test_local_source_with_another_name_and_version_string(target):
    """A fork's binary (named `silo`, reporting its own version) through `local`, installed as minio."""
    data, silo_version = silo_build()
    other = target.workdir / "silo"
    other.write_bytes(data)
    other.chmod(0o755)
    assert reported_version(other) == silo_version
    digest = sha256(other)
    before = target.invocation()
    run = target.converge(minio_server_install_source="local", minio_server_local_file=str(other),
                          minio_server_sha256=digest)
    run.assert_ok()
    run.assert_no_secret()
    assert target.installed_sha256() == digest
    assert target.invocation() != before
    assert http_status(f"{target.endpoint}/minio/health/cluster") == 200
    assert target.s3().get_object(Bucket="koprogo-test", Key="kept.bin")["ContentLength"] == 1 << 20
    # The role read the version the installed binary reports; an unknown build gets no advisory warning.
    assert f'"server_version": "{silo_version}"' in run.output
    run.assert_no_advisory_warning()
    # And the running server reports it too.
    info = server_info(target)
    assert info["versions"] == [silo_version]
    assert info["mode"] == "online"


def test_url_source_with_an_archive_installs_its_member(target):
    """A fork's release archive fetched on the controller: its named member becomes the minio binary.

    One converge proves the wiring on a real server (install, restart, the version it reports).
    koprogo.storage.artifact's tests (tests/integration/artifact) prove the rest without a
    container: a wrong sha256 or a missing member leaves the installed file byte-identical, a
    second run changes nothing, check mode writes nothing, and minio_server's target-side download.
    """
    data, silo_version = silo_build()
    mirror = target.workdir / "releases"
    mirror.mkdir()
    member = target.workdir / "silo-from-archive"
    # Another build than the `local` test's (trailing bytes an ELF loader ignores), so it is replaced.
    member.write_bytes(data + b"\0" * 16)
    with tarfile.open(mirror / "silo-linux.tar.gz", "w:gz") as tar:
        tar.add(member, arcname="silo-linux/silo")
    before = target.invocation()
    with serve_directory(mirror) as base:
        run = target.converge(minio_server_install_source="url", minio_server_url=f"{base}/silo-linux.tar.gz",
                              minio_server_sha256=sha256(mirror / "silo-linux.tar.gz"),
                              minio_server_url_fetch_on="controller", minio_server_url_archive_member="silo-linux/silo")
    run.assert_ok()
    run.assert_no_secret()
    assert target.installed_sha256() == sha256(member)
    assert target.invocation() != before
    assert http_status(f"{target.endpoint}/minio/health/cluster") == 200
    assert f'"server_version": "{silo_version}"' in run.output
    assert target.s3().get_object(Bucket="koprogo-test", Key="kept.bin")["ContentLength"] == 1 << 20


def go_h1(files: dict[str, bytes]) -> str:
    """Go's go.sum hash (dirhash "h1") of a module zip's files."""
    summary = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items()))
    return "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()


def test_build_script_builds_a_fork_by_its_own_module_path(tmp_path):
    """`source` with another module path: named after it, cached under it, and checked against its h1.

    The forks themselves are refused by the module proxy reachable here, so a tiny module stands in
    for one, served by a module proxy on disk (GOPROXY=file://, no network).
    """
    go = shutil.which("go")
    if go is None:
        pytest.skip("needs Go")
    module, version = "example.test/chainguard-forks/minio", "v0.0.1"
    prefix = f"{module}@{version}/"
    files = {prefix + "go.mod": f"module {module}\n\ngo 1.21\n".encode(),
             prefix + "main.go": b'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("fork") }\n'}
    proxy = tmp_path / "proxy" / module / "@v"
    proxy.mkdir(parents=True)
    (proxy / "list").write_text(version + "\n")
    (proxy / f"{version}.info").write_text(json.dumps({"Version": version, "Time": "2026-01-01T00:00:00Z"}))
    (proxy / f"{version}.mod").write_bytes(files[prefix + "go.mod"])
    with zipfile.ZipFile(proxy / f"{version}.zip", "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    env = {**os.environ, "GOPROXY": f"file://{tmp_path / 'proxy'}", "GONOSUMDB": "example.test",
           "GOMODCACHE": str(tmp_path / "modcache"), "GOTOOLCHAIN": "local", "GOFLAGS": ""}
    script = ROOT / "roles" / "minio_server" / "files" / "build-from-source.sh"
    cache = tmp_path / "cache"

    def build(h1: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(script), go, module, version, h1, "linux", GOARCH, "", str(cache)],
                              env=env, capture_output=True, text=True, timeout=600, check=False)

    wrong = build("h1:" + "A" * 43 + "=")
    assert wrong.returncode != 0
    assert f"expected '{version} h1:" in wrong.stderr
    assert not (cache / module / version / f"linux-{GOARCH}" / "minio").exists()

    ok = build(go_h1(files))
    assert ok.returncode == 0, ok.stderr
    binary = cache / module / version / f"linux-{GOARCH}" / "minio"
    assert ok.stdout.splitlines() == [str(binary), "built"]
    assert subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout == "fork\n"
    again = build(go_h1(files))
    assert again.stdout.splitlines() == [str(binary), "cached"]


def test_never_starts_on_the_bare_mountpoint(target):
    target.sh(f"systemctl stop minio && umount {MOUNT}")
    try:
        assert target.sh(f"ls -A {MOUNT}") == ""
        assert target.host.exec("systemctl start minio", check=False).returncode != 0
        assert target.sh("systemctl is-active minio", check=False) != "active"
        assert target.sh(f"ls -A {MOUNT}") == ""  # nothing written to the root disk

        run = target.converge()
        assert run.rc != 0
        assert "is not a mounted file system" in run.output, run.output[-3000:]
        assert target.sh(f"ls -A {MOUNT}") == ""
    finally:
        target.sh("systemctl reset-failed minio", check=False)
