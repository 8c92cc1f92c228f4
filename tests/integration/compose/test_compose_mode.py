"""The compose deployment mode on a KoproGo-shaped Docker host (see conftest.py).

Converge playbooks/site.yml with koprogo_storage_deployment: compose while KoproGo's Traefik and
backend stand-in are polled, then: a second run changes nothing, check mode predicts nothing,
KoproGo's Traefik has no S3 route (the advisories' attack requests get 404 there and leave no
trace), the console route asks for basic auth, and KoproGo's containers served throughout. Then the refusals: the
standalone mode while another program holds the web ports, and the traefik role in compose mode.
Last, the stack is recreated with KoproGo's gitops command (real Docker Compose, with the
environment the collection's drop-in gives koprogo-gitops.service): the backend's effective
environment (docker inspect) is checked and used, by boto3 and by KoproGo's own Rust client run
inside the backend container; then a reboot-equivalent restart brings
everything back without the playbook.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import stat
import subprocess
import time
import uuid

import pytest
import yaml
from helpers.ansible_run import run_playbook
from helpers.compose_host import API_HOST, CONSOLE_HOST, ROOT, S3_HOST, Poller, docker, http_status
from helpers.koprogo_client import build_koprogo_client

SITE = ROOT / "playbooks" / "site.yml"


@contextlib.contextmanager
def resolve(names: dict):
    """Resolve the given host names to the given addresses in this process only."""
    original = socket.getaddrinfo

    def patched(host, *args, **kwargs):
        return original(names.get(host, host), *args, **kwargs)

    socket.getaddrinfo = patched
    try:
        yield
    finally:
        socket.getaddrinfo = original


@pytest.fixture(scope="module")
def converged(compose_host):
    """First converge (polled), second converge, check mode: the three runs the tests read."""
    poller = Poller({
        "KoproGo's Traefik -> backend": (compose_host.ips["traefik"], 80, "/", API_HOST),
        "legacy minio": (compose_host.ips["minio"], 9000, "/minio/health/live", None),
        **{f"monitoring {name}": ("127.0.0.1", port, "/", None)
           for name, port in compose_host.monitoring_ports.items()},
    })
    poller.start()
    # Monitoring enabled: the role writes the files for KoproGo's Prometheus container (see the
    # "Monitoring" section at the end).
    variables = compose_host.extra_vars(**compose_host.monitoring_vars())
    try:
        first = run_playbook(SITE, inventory=str(compose_host.inventory()), extra_vars=variables)
    finally:
        poller.stop()
    if first.rc != 0:
        pytest.fail(compose_host.scrub(f"converge rc={first.rc}\n{first.stdout[-6000:]}\n{first.stderr[-2000:]}")
                    + compose_host.logs())
    second = run_playbook(SITE, inventory=str(compose_host.inventory()), extra_vars=variables)
    check = run_playbook(SITE, inventory=str(compose_host.inventory()), extra_vars=variables, check=True, diff=True)
    return {"first": first, "second": second, "check": check, "poller": poller}


def changed_names(result) -> list[str]:
    return [name for name, res in result.tasks.items() if res.get("changed")]


def test_converge_is_idempotent_and_check_mode_predicts_nothing(compose_host, converged):
    assert converged["first"].changed > 0
    assert converged["second"].rc == 0, compose_host.scrub(converged["second"].stdout[-4000:])
    assert changed_names(converged["second"]) == [], changed_names(converged["second"])
    assert converged["check"].rc == 0, compose_host.scrub(converged["check"].stdout[-4000:])
    assert changed_names(converged["check"]) == [], changed_names(converged["check"])


def test_no_secret_in_the_output(compose_host, converged):
    for run in ("first", "second", "check"):
        text = converged[run].stdout + converged[run].stderr
        for secret in (compose_host.root_password, compose_host.backend_secret, compose_host.console_password):
            assert secret not in text, run


def test_koprogo_kept_serving_during_the_converge(converged):
    poller = converged["poller"]
    print(f"\nKoproGo stand-ins polled {poller.requests} times during the converge; failures: {poller.failures}; "
          f"answered after more than 10 s: {poller.slow}")
    assert poller.requests > 0
    assert poller.failures == []


def test_container_shape(compose_host, converged):
    info = json.loads(docker("inspect", compose_host.storage_container).stdout)[0]
    assert info["State"]["Running"]
    assert info["Config"]["Image"].startswith(compose_host.storage_image + ":")
    assert list(info["NetworkSettings"]["Networks"]) == [compose_host.network]
    assert not info["HostConfig"].get("PortBindings")
    assert info["HostConfig"]["ReadonlyRootfs"]
    assert info["HostConfig"]["CapDrop"] == ["ALL"]
    assert info["Config"]["User"] == "990:990"
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert not info["HostConfig"].get("Binds")
    assert [(m["Type"], m["Source"], m["Target"], m.get("ReadOnly", False)) for m in info["HostConfig"]["Mounts"]] == [
        ("bind", str(compose_host.data_dir), "/data", False)]
    middleware = f"traefik.http.middlewares.{compose_host.storage_container}-console-auth"
    users = info["Config"]["Labels"][middleware + ".basicauth.users"]
    assert users.startswith("admin:$2b$")  # one "$": labels set through the API are not Compose files
    # Traefik's probe stands in for a Docker health check (FROM scratch: no program to run one).
    service = f"traefik.http.services.{compose_host.storage_container}-console.loadbalancer.healthcheck"
    assert info["Config"]["Labels"][service + ".path"] == "/minio/health/live"
    assert info["Config"]["Labels"][service + ".port"] == "9000"
    # No S3 route, router or service (minio_server_container_s3_route defaults to false).
    assert [name for name in info["Config"]["Labels"] if f"{compose_host.storage_container}-s3" in name] == []
    mode = compose_host.env_file.stat()
    assert stat.S_IMODE(mode.st_mode) == 0o600 and mode.st_uid == 0
    assert compose_host.data_dir.stat().st_uid == 990
    # The legacy `minio` service is left alone.
    assert json.loads(docker("inspect", compose_host.names["minio"]).stdout)[0]["State"]["Running"]


def test_no_public_s3_route_the_advisories_attacks_find_nothing(compose_host, converged):
    """KoproGo's Traefik has no route to the S3 API: the request shapes of the pinned build's High
    advisories (the route attack suite's own requests, tests/helpers/s3_attack.py) and an ordinary
    signed request all get 404 from it, and none of them leaves an object behind (read with root
    on the container's address). Straight to MinIO, on the Docker network, the backend's keys work."""
    import secrets

    from helpers.s3_attack import (
        Endpoint,
        S3Request,
        list_request,
        query_credential_forged,
        replication_sse_put,
        send,
        signed,
        snowball_forged,
        tar_archive,
    )

    bucket, prefix = "koprogo-documents", f"documents/attack-{uuid.uuid4().hex[:8]}/"
    route = Endpoint("route", "http", S3_HOST, 80)
    planted = {prefix + "planted.txt": b"planted"}
    attacks = {
        "GHSA-9c4q-hq6p-c237 snowball": snowball_forged(bucket, prefix, compose_host.backend_key, tar_archive(planted)),
        "GHSA-hv4r-mvr4-25vw query credentials": query_credential_forged(
            bucket, prefix + "qcred.txt", compose_host.backend_key, secrets.token_bytes(64)),
        "GHSA-3rh2-v3gr-35p9 replication headers": signed(
            route, replication_sse_put(bucket, prefix + "tamper.txt", b"minutes\n", secrets.token_bytes(96)),
            compose_host.backend_key, compose_host.backend_secret),
        "GHSA-h749-fxx7-pwpg select": S3Request("POST", f"/{bucket}/{prefix}x.csv", "select&select-type=2"),
        "admin API": S3Request("GET", "/minio/admin/v3/info"),
        "signed listing": signed(route, list_request(bucket, "documents/"), compose_host.backend_key,
                                 compose_host.backend_secret),
    }
    with resolve({S3_HOST: compose_host.ips["traefik"]}):
        answers = {name: send(route, request).status for name, request in attacks.items()}
    assert answers == dict.fromkeys(attacks, 404), answers
    root, _admin = compose_host.storage_sdk()
    assert list(root.list_objects(bucket, prefix=prefix, recursive=True, include_version=True)) == []
    # The backend's own path: the container by name on koprogo-network, least privilege kept.
    with resolve({compose_host.storage_container: compose_host.ips["storage"]}):
        client_put_and_get(f"http://{compose_host.storage_container}:9000", compose_host.backend_key,
                           compose_host.backend_secret, "us-east-1", "documents")


def client_put_and_get(endpoint: str, key_id: str, secret: str, region: str, prefix: str) -> str:
    """What the backend does with its keys: write and read below its prefix; outside it is refused."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    client = boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=key_id,
                          aws_secret_access_key=secret,
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    key = f"{prefix}/{uuid.uuid4()}/{uuid.uuid4()}_acte.pdf"
    body = b"%PDF-1.7 compose mode\n" + key.encode()
    client.put_object(Bucket="koprogo-documents", Key=key, Body=body, ContentType="application/pdf")
    got = client.get_object(Bucket="koprogo-documents", Key=key)
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/pdf"
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket="koprogo-documents", Key="elsewhere/x", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    return key


def test_console_route_asks_for_basic_auth(compose_host, converged):
    traefik = compose_host.ips["traefik"]
    assert http_status(traefik, 80, "/", CONSOLE_HOST) == 401
    wrong = base64.b64encode(b"admin:not-the-password").decode()
    assert http_status(traefik, 80, "/", CONSOLE_HOST, {"Authorization": f"Basic {wrong}"}) == 401
    good = base64.b64encode(f"admin:{compose_host.console_password}".encode()).decode()
    assert http_status(traefik, 80, "/", CONSOLE_HOST, {"Authorization": f"Basic {good}"}) == 200


def test_standalone_refused_while_another_program_holds_the_web_ports(compose_host, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    data_dir = tmp_path / "data" / "minio"
    try:
        variables = compose_host.extra_vars(
            koprogo_storage_deployment="standalone", traefik_http_port=port, minio_server_data_dir=str(data_dir),
            minio_server_env_file=str(tmp_path / "minio.env"))
        result = run_playbook(SITE, inventory=str(compose_host.inventory("standalone")), extra_vars=variables)
    finally:
        listener.close()
    assert result.rc != 0
    assert f"port {port} is held by " in result.stdout, result.stdout[-3000:]
    assert result.changed == 0
    assert not data_dir.exists() and not (tmp_path / "minio.env").exists()


def test_traefik_role_refused_in_compose_mode(compose_host, tmp_path):
    play = tmp_path / "traefik.yml"
    play.write_text(
        "- hosts: storage\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_role:\n        name: koprogo.storage.traefik\n        tasks_from: validate\n")
    result = run_playbook(play, inventory=str(compose_host.inventory()), extra_vars=compose_host.extra_vars())
    assert result.rc != 0
    assert "KoproGo's own Traefik serves 80 and 443" in result.stdout


def test_public_s3_route_needs_the_unguarded_variable_too(compose_host, tmp_path):
    result = run_playbook(SITE, inventory=str(compose_host.inventory()), extra_vars=compose_host.extra_vars(
        minio_server_container_s3_route=True, minio_server_data_dir=str(tmp_path / "d" / "minio")),
        tags="minio_server")
    assert result.rc != 0
    assert "minio_server_container_s3_route_unguarded: true" in " ".join(result.stdout.split()), result.stdout[-3000:]
    assert result.changed == 0
    assert not (tmp_path / "d").exists()


def test_network_must_exist(compose_host, tmp_path):
    result = run_playbook(SITE, inventory=str(compose_host.inventory()), extra_vars=compose_host.extra_vars(
        minio_server_container_network="kpc-no-such-network", minio_server_data_dir=str(tmp_path / "d" / "minio")),
        tags="minio_server")
    assert result.rc != 0
    assert "does not exist on this host" in result.stdout
    assert result.changed == 0
    assert not (tmp_path / "d").exists()
    assert subprocess.run(["docker", "network", "inspect", "kpc-no-such-network"], capture_output=True,
                          check=False).returncode != 0


def storage_env(info: dict) -> dict:
    env = dict(item.split("=", 1) for item in info["Config"]["Env"])
    return {name: value for name, value in env.items() if name.startswith(("S3_", "STORAGE_", "UPLOAD_"))}


def client_checks(compose_host, env: dict, legacy_key: str) -> None:
    """What the backend does with its env: upload and read on its own path (the Docker network,
    the endpoint by container name); the object written before (the data survived); least
    privilege outside the prefix. KoproGo's Traefik still has no S3 route."""
    import boto3
    from botocore.config import Config

    with resolve({compose_host.storage_container: compose_host.ips["storage"]}):
        client_put_and_get(env["S3_ENDPOINT"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], env["S3_REGION"],
                           env["S3_KEY_PREFIX"])
        client = boto3.client("s3", endpoint_url=env["S3_ENDPOINT"], region_name=env["S3_REGION"],
                              aws_access_key_id=env["S3_ACCESS_KEY"], aws_secret_access_key=env["S3_SECRET_KEY"],
                              config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        assert client.get_object(Bucket=env["S3_BUCKET"], Key=legacy_key)["Body"].read() == b"before"
    assert http_status(compose_host.ips["traefik"], 80, "/minio/health/live", S3_HOST) == 404


@pytest.fixture(scope="module")
def redeployed(compose_host, converged):
    """KoproGo's gitops deploy after the converge: `docker compose ... up -d` with the unit's
    environment, the collection's drop-in included. Returns the backend's storage env and the key
    of an object written through it."""
    import boto3
    from botocore.config import Config

    started = time.monotonic()
    result = compose_host.gitops_deploy()
    compose_host.refresh_ips()
    compose_host.wait_ready()
    print(f"\ngitops deploy (compose up -d, recreate and ready) took {time.monotonic() - started:.1f} s;",
          compose_host.scrub(result.stderr.strip().replace("\n", " | "))[-800:])
    env = storage_env(json.loads(docker("inspect", compose_host.names["backend"]).stdout)[0])
    key = f"{env['S3_KEY_PREFIX']}/{uuid.uuid4()}/{uuid.uuid4()}_pv.pdf"
    with resolve({compose_host.storage_container: compose_host.ips["storage"]}):
        boto3.client("s3", endpoint_url=env["S3_ENDPOINT"], region_name=env["S3_REGION"],
                     aws_access_key_id=env["S3_ACCESS_KEY"], aws_secret_access_key=env["S3_SECRET_KEY"],
                     config=Config(s3={"addressing_style": "path"})).put_object(
            Bucket=env["S3_BUCKET"], Key=key, Body=b"before")
    return {"env": env, "key": key}


def test_backend_env_after_a_gitops_redeploy(compose_host, redeployed):
    """The drop-in's env file reaches Compose's interpolation: the recreated backend gets our
    endpoint and the least-privilege service account, and a client configured from its
    effective environment uploads and reads on the backend's own path (the Docker network)."""
    dropin = compose_host.dropin_dir / "koprogo-storage.conf"
    env_file = compose_host.workdir / "etc" / "koprogo" / "backend-storage.env"
    assert f"EnvironmentFile={env_file}" in dropin.read_text()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    storage = redeployed["env"]
    print("\nbackend storage env after the redeploy:",
          {name: "<redacted>" if name == "S3_SECRET_KEY" else value for name, value in sorted(storage.items())})
    assert storage == {
        "STORAGE_PROVIDER": "s3", "UPLOAD_DIR": "/app/uploads",
        "S3_ENDPOINT": f"http://{compose_host.storage_container}:9000", "S3_BUCKET": "koprogo-documents",
        "S3_REGION": "us-east-1", "S3_ACCESS_KEY": compose_host.backend_key,
        "S3_SECRET_KEY": compose_host.backend_secret, "S3_FORCE_PATH_STYLE": "true", "S3_KEY_PREFIX": "documents"}
    # Compose made it: the labels it sets on what it creates.
    labels = json.loads(docker("inspect", compose_host.names["backend"]).stdout)[0]["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == compose_host.project
    assert labels["com.docker.compose.service"] == "backend"
    client_checks(compose_host, storage, redeployed["key"])


def test_koprogo_rust_client_inside_the_backend_container(compose_host, redeployed):
    """KoproGo's own S3 client (tests/tools/koprogo-client: the aws-sdk-s3 of KoproGo's Cargo.lock,
    set up like its S3Storage) run inside the backend container Compose recreated, with the storage
    env Compose gave it: the endpoint by container name through Docker's DNS on the network, the
    service account, the key layout <prefix>/<building>/<uuid>_<name>."""
    binary = str(build_koprogo_client())
    env = redeployed["env"]
    assert all("'" not in value and "\n" not in value for value in env.values())
    env_file = compose_host.workdir / "backend-storage-effective.env"
    env_file.write_text("".join(f"{name}='{value}'\n" for name, value in sorted(env.items())))
    env_file.chmod(0o600)
    backend = compose_host.names["backend"]
    docker("cp", binary, f"{backend}:/tmp/koprogo-client")
    docker("cp", str(env_file), f"{backend}:/tmp/storage.env")
    env_file.unlink()
    files = [(1 << 20, "procès-verbal AGO été – Liège.pdf"), (3 << 20, "facture #12 100% ok?;v2.pdf")]
    building = str(uuid.uuid4())
    args = ["exec", "-e", "HOME=/tmp", backend, "/tmp/koprogo-client", "--env-file", "/tmp/storage.env",
            "--building", building]
    for size, name in files:
        args += ["--file", f"{size}:{name}"]
    try:
        proc = docker(*args, check=False, timeout=600)
    finally:
        docker("exec", backend, "rm", "-f", "/tmp/storage.env", "/tmp/koprogo-client", check=False)
    assert proc.returncode == 0, compose_host.scrub(proc.stderr[-3000:])
    report = json.loads(proc.stdout)
    assert report["storage_provider"] == "s3" and report["endpoint"] == env["S3_ENDPOINT"]
    assert report["key_prefix"] == "documents" and report["head_bucket"] == {"ok": True}, report["head_bucket"]
    for size, name in files:
        doc = next(f for f in report["files"] if f["name"] == name)
        assert doc["key"].startswith(f"documents/{building}/") and doc["key"].endswith("_" + name), doc["key"]
        assert doc["put"] == {"ok": True}, doc["put"]
        assert doc["get"] == {"ok": True, "size": size, "sha256": doc["sha256"]}, doc["get"]
        assert doc["head"] == {"exists": True} and doc["delete"] == {"ok": True}, doc
        assert doc["head_after_delete"] == {"exists": False}, doc["head_after_delete"]


def test_legacy_minio_recreated_with_its_data(compose_host, redeployed):
    """The legacy `minio` takes its root user from the same variables: Compose recreated it with
    the service account's key as root, and it kept the object of its volume."""
    import boto3
    from botocore.config import Config

    info = json.loads(docker("inspect", compose_host.names["minio"]).stdout)[0]
    assert info["State"]["Running"]
    assert f"MINIO_ROOT_USER={compose_host.backend_key}" in info["Config"]["Env"]
    client = boto3.client("s3", endpoint_url=f"http://{compose_host.ips['minio']}:9000", region_name="us-east-1",
                          aws_access_key_id=compose_host.backend_key,
                          aws_secret_access_key=compose_host.backend_secret,
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    assert client.get_object(Bucket="koprogo-documents", Key=compose_host.legacy_key)["Body"].read() == b"legacy"


def test_reboot_equivalent_restart(compose_host, redeployed):
    """Stop every container of the stack and the collection's MinIO, start them as the engine does
    at boot: everything comes back by restart policy alone, MinIO with its data, the backend with
    the same env, and the client checks pass again. No playbook runs."""
    backend_before = json.loads(docker("inspect", compose_host.names["backend"]).stdout)[0]
    storage_before = json.loads(docker("inspect", compose_host.storage_container).stdout)[0]
    written = {path: path.stat().st_mtime_ns for path in (
        compose_host.env_file, compose_host.dropin_dir / "koprogo-storage.conf",
        compose_host.workdir / "etc" / "koprogo" / "backend-storage.env")}
    started = time.monotonic()
    policies = compose_host.reboot()
    restarted = time.monotonic() - started
    ready = compose_host.wait_ready()
    good = {"Authorization": "Basic " + base64.b64encode(f"admin:{compose_host.console_password}".encode()).decode()}
    for _attempt in range(240):  # the console route through Traefik (it re-reads the containers' new addresses)
        try:
            if http_status(compose_host.ips["traefik"], 80, "/", CONSOLE_HOST, good) == 200:
                break
        except OSError:
            pass
        time.sleep(0.5)
    print(f"\nreboot-equivalent restart: docker stop + start {restarted:.1f} s, then KoproGo's routes back after "
          f"{ready:.1f} s more; the console route through Traefik {time.monotonic() - started:.1f} s after the stop "
          f"began; restart policies: {policies}")
    assert set(policies.values()) == {"unless-stopped"}, policies
    backend_after = json.loads(docker("inspect", compose_host.names["backend"]).stdout)[0]
    storage_after = json.loads(docker("inspect", compose_host.storage_container).stdout)[0]
    for before, after in ((backend_before, backend_after), (storage_before, storage_after)):
        assert after["State"]["Running"]
        assert after["Id"] == before["Id"]  # the same container, started again (not recreated)
        assert after["State"]["StartedAt"] != before["State"]["StartedAt"]
        assert after["Config"]["Env"] == before["Config"]["Env"]
    assert storage_env(backend_after) == redeployed["env"]
    assert {path: path.stat().st_mtime_ns for path in written} == written
    client_checks(compose_host, redeployed["env"], redeployed["key"])


def test_minio_cannot_start_while_its_volume_is_not_mounted(compose_host, redeployed):
    """After a reboot with the pushed unlock model the LUKS mount is missing until the playbook
    runs; docker.service is not held back (KoproGo comes up), so the container itself must not
    start: its data is a bind mount of a directory below the mount point, which Docker refuses to
    create. The directory moved away stands in for the missing mount."""
    data, away = compose_host.data_dir, compose_host.data_dir.with_name("minio-while-unmounted")
    docker("stop", compose_host.storage_container)
    data.rename(away)
    try:
        refused = docker("start", compose_host.storage_container, check=False)
        assert refused.returncode != 0
        assert "does not exist" in refused.stderr, refused.stderr
        assert not data.exists()  # nothing created on the root disk's side
        state = json.loads(docker("inspect", compose_host.storage_container).stdout)[0]["State"]
        assert not state["Running"]
    finally:
        away.rename(data)
    docker("start", compose_host.storage_container)
    compose_host.refresh_ips()
    for _attempt in range(240):
        with contextlib.suppress(OSError):
            if http_status(compose_host.ips["storage"], 9000, "/minio/health/ready") == 200:
                break
        time.sleep(0.5)
    client_checks(compose_host, redeployed["env"], redeployed["key"])


# --- Backups and restore in compose mode (issue 11, phase 3) --------------------------------
# The backup role through site.yml (--tags backup) with connection local, every path under the
# test's tmp dir, against a second MinIO on 127.0.0.1 standing in for B2. Not exercised here: the
# schedule (cron file and systemd timer: fixed paths under /etc on this shared machine, and systemd
# is not PID 1; backup_schedule none), package installs (backup_manage_packages false) and
# logrotate (its file goes under the tmp dir). The tests/integration/backup suites run those.

OFFSITE_BUCKET = "koprogo-offsite"
BACKUP_OBJECTS = {
    "documents/b1/acte.pdf": (b"%PDF-1.7 acte\n" + bytes(range(256)) * 8, "application/pdf",
                              {"owner": "lot 4"}, {"kind": "acte"}),
    "documents/b1/pv.txt": (b"proces-verbal\n", "text/plain; charset=utf-8", {"building": "B1"}, {}),
}


def backup_vars(compose_host, workdir, gpg_public, offsite, access, secret, bucket) -> dict:
    import hashlib
    import secrets
    import shutil

    rclone = ROOT / ".venv" / "bin" / "rclone"
    return compose_host.extra_vars(
        koprogo_storage_backup_enabled=True,
        backup_rclone_source="local", backup_rclone_local_path=str(rclone),
        backup_rclone_sha256=hashlib.sha256(rclone.read_bytes()).hexdigest(),
        backup_rclone_path=str(workdir / "bin" / "rclone"), backup_manage_packages=False,
        backup_source_access_key=access, backup_source_secret_key=secret, backup_buckets=[bucket],
        backup_offsite_endpoint=offsite.endpoint, backup_offsite_region="us-east-1",
        backup_offsite_bucket=OFFSITE_BUCKET, backup_offsite_access_key=offsite.access_key,
        backup_offsite_secret_key=offsite.secret_key,
        backup_crypt_password=secrets.token_urlsafe(30), backup_crypt_password2=secrets.token_urlsafe(30),
        backup_gpg_recipient_key=gpg_public, backup_schedule="none",
        backup_python_interpreter=str(ROOT / ".venv" / "bin" / "python"),
        backup_docker_path=shutil.which("docker"),
        backup_script_path=str(workdir / "sbin" / "koprogo-backup"),
        backup_package_dir=str(workdir / "lib" / "koprogo-backup"),
        backup_config_dir=str(workdir / "etc" / "koprogo-backup"),
        backup_state_dir=str(workdir / "var" / "lib" / "koprogo-backup"),
        backup_log_file=str(workdir / "log" / "backup.log"),
        backup_lock_file=str(workdir / "run" / "koprogo-backup.lock"),
        # Set for monitoring only: the backup role follows it (one home for the setting).
        monitoring_textfile_dir=str(workdir / "textfile"),
        __backup_logrotate_file=str(workdir / "logrotate-koprogo-backup"))


def offsite_listing(offsite) -> dict:
    client = offsite.sdk()[0]
    return {o.object_name: o.etag for o in client.list_objects(OFFSITE_BUCKET, recursive=True)}


def test_backup_and_restore_follow_the_container_to_a_new_address(compose_host, converged, tmp_path):
    """The backup job names the MinIO container, not its address: after Docker gave the container
    another address, the next run still reaches it and stores the new object offsite, and
    restore.yml restores into the container's MinIO (bytes, Content-Type, metadata, tags). While the
    container is stopped, a run fails with a clear message and changes nothing offsite."""
    import io

    from helpers.gpg import make_key, stop_agent
    from helpers.minio_server import MinioServer
    from minio.commonconfig import Tags

    started, steps = time.monotonic(), {}
    offsite = MinioServer().start()
    gnupg = tmp_path / "gnupg"
    gnupg.mkdir()
    try:
        offsite.sdk()[0].make_bucket(OFFSITE_BUCKET)
        _fingerprint, public = make_key(gnupg, "KoproGo backup compose test <backup@koprogo.invalid>")
        client, admin = compose_host.storage_sdk()
        bucket = f"{compose_host.prefix}-backup"
        client.make_bucket(bucket)
        access, secret = "backup-ro-" + uuid.uuid4().hex[:6], uuid.uuid4().hex + uuid.uuid4().hex[:8]
        admin.policy_add(policy_name="koprogo-backup-ro", policy=BACKUP_READONLY_POLICY)
        admin.user_add(access_key=access, secret_key=secret)
        admin.attach_policy(policies=["koprogo-backup-ro"], user=access)

        def put(key, body, content_type, metadata, tags):
            object_tags = None
            if tags:
                object_tags = Tags.new_object_tags()
                object_tags.update(tags)
            client.put_object(bucket, key, io.BytesIO(body), len(body), content_type=content_type,
                              metadata=metadata, tags=object_tags)

        for key, spec in BACKUP_OBJECTS.items():
            put(key, *spec)

        for directory in ("bin", "sbin"):  # as /usr/local/bin and /usr/local/sbin are
            (tmp_path / directory).mkdir()
        variables = backup_vars(compose_host, tmp_path, public, offsite, access, secret, bucket)
        role = run_playbook(SITE, inventory=str(compose_host.inventory()), extra_vars=variables, tags="backup")
        assert role.rc == 0, compose_host.scrub(role.stdout[-5000:])
        config_path = tmp_path / "etc" / "koprogo-backup" / "config.json"
        config = json.loads(config_path.read_text())
        # The name, never an address that the next restart of the container makes stale.
        assert config["source"]["endpoint"] == f"http://{compose_host.storage_container}:9000"
        assert config["source"]["container"] == compose_host.storage_container
        assert config["source"]["container_network"] == compose_host.network
        assert compose_host.ips["storage"] not in config_path.read_text()
        # Staging on the data volume, next to MinIO's data directory.
        assert config["staging_dir"] == str(compose_host.data_dir.parent / "koprogo-backup-staging")

        program = [str(ROOT / ".venv" / "bin" / "python"), str(tmp_path / "sbin" / "koprogo-backup"),
                   "--config", str(config_path), "run"]
        first = subprocess.run(program, capture_output=True, text=True, timeout=300, check=False)
        assert first.returncode == 0, compose_host.scrub(first.stderr[-3000:])
        assert json.loads(first.stdout.strip().splitlines()[-1])["objects"] == len(BACKUP_OBJECTS)
        metrics = (tmp_path / "textfile" / "koprogo_backup.prom").read_text()
        assert "koprogo_backup_last_success_timestamp_seconds" in metrics

        # A stopped container: exit 3, a message that says so, nothing offsite changed or pruned.
        before = offsite_listing(offsite)
        old = compose_host.ips["storage"]
        docker("stop", compose_host.storage_container)
        stopped = subprocess.run(program, capture_output=True, text=True, timeout=300, check=False)
        assert stopped.returncode == 3, stopped.stderr[-3000:]
        assert f"the MinIO container {compose_host.storage_container} is not running" in stopped.stderr
        assert offsite_listing(offsite) == before

        steps["role, backup, stopped run"] = time.monotonic() - started
        new = compose_host.move_storage_to_new_address(old)
        assert old and new and new != old, (old, new)
        client, _admin = compose_host.storage_sdk()
        put("documents/b2/facture.pdf", b"%PDF-1.7 facture apres\n", "application/pdf", {"supplier": "X"},
            {"kind": "facture"})
        expected = {**BACKUP_OBJECTS, "documents/b2/facture.pdf": (
            b"%PDF-1.7 facture apres\n", "application/pdf", {"supplier": "X"}, {"kind": "facture"})}

        second = subprocess.run(program, capture_output=True, text=True, timeout=300, check=False)
        assert second.returncode == 0, compose_host.scrub(second.stderr[-3000:])
        assert json.loads(second.stdout.strip().splitlines()[-1])["objects"] == len(expected)
        steps["new address, backup"] = time.monotonic() - started - sum(steps.values())
        log = (tmp_path / "log" / "backup.log").read_text()
        assert f"MinIO container {compose_host.storage_container} is at http://{new}:9000" in log
        after = offsite_listing(offsite)
        assert set(before) < set(after)  # the new object's blob and the new manifest

        # Restore in place into the container's MinIO after losing every object.
        for key in expected:
            client.remove_object(bucket, key)
        restored = run_playbook(ROOT / "playbooks" / "restore.yml", inventory=str(compose_host.inventory()),
                                extra_vars={**variables, "backup_restore_gnupghome": str(gnupg),
                                            "backup_restore_buckets": [bucket],
                                            "backup_restore_report_dir": str(tmp_path)})
        assert restored.rc == 0, compose_host.scrub(restored.stdout[-4000:])
        report = json.loads((tmp_path / "restore-report-koprogo-vps.json").read_text())
        assert report["result"] == "ok" and report["verified"] == len(expected), report
        for key, (body, content_type, metadata, tags) in expected.items():
            response = client.get_object(bucket, key)
            try:
                assert response.read() == body, key
                assert response.headers["Content-Type"] == content_type, key
                got = {name[len("x-amz-meta-"):].lower(): value for name, value in response.headers.items()
                       if name.lower().startswith("x-amz-meta-")}
                assert got == metadata, key
            finally:
                response.close()
                response.release_conn()
            assert dict(client.get_object_tags(bucket, key) or {}) == tags, key
        steps["restore.yml, checks"] = time.monotonic() - started - sum(steps.values())
        print(f"\nbackup in compose mode: container moved {old} -> {new}; seconds: "
              + ", ".join(f"{name} {seconds:.1f}" for name, seconds in steps.items()))
    finally:
        docker("start", compose_host.storage_container, check=False)
        compose_host.refresh_ips()
        offsite.stop()
        stop_agent(gnupg)


BACKUP_READONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"], "Resource": ["arn:aws:s3:::*"]},
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject", "s3:GetObjectTagging"],
         "Resource": ["arn:aws:s3:::*", "arn:aws:s3:::*/*"]},
    ],
}

# --- Monitoring: KoproGo's Prometheus container scrapes the collection's MinIO ----------------------
# The converge above ran the monitoring role in compose mode. A real Prometheus (Debian's 2.42 binary,
# as user 65534 like KoproGo's prom/prometheus image) runs as a container on koprogo-network with
# KoproGo's prometheus.yml shape, the directory the role wrote mounted read-only where the operator
# mounts it. 2.42 predates scrape_config_files, so the fragment's jobs are copied into its
# scrape_configs (KoproGo's 2.48 loads the file itself); the rules are loaded by rule_files.

CONTAINER_DIR = "/etc/prometheus/koprogo-storage"
MINIO_JOBS = ("koprogo-minio-cluster", "koprogo-minio-node")
WRONG_JOB = "koprogo-minio-wrong-token"
MONITORING_TASK = "koprogo.storage.monitoring : "


def api(base: str, path: str, **params) -> dict:
    import urllib.parse
    import urllib.request

    with urllib.request.urlopen(f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}", timeout=30) as resp:  # noqa: S310
        doc = json.loads(resp.read())
    assert doc["status"] == "success", doc
    return doc["data"]


@pytest.fixture(scope="module")
def koprogo_prometheus(compose_host, converged, tmp_path_factory):
    import jwt

    fragment = yaml.safe_load((compose_host.prometheus_dir / "scrape_configs" / "koprogo-storage.yml").read_text())
    # The same cluster job with a token signed by another secret: MinIO must refuse it.
    wrong_dir = tmp_path_factory.mktemp("wrong-token")
    wrong_dir.chmod(0o755)
    wrong = wrong_dir / "token"
    wrong.write_text(jwt.encode({"exp": int(time.time()) + 86400, "sub": "koprogo-prometheus", "iss": "prometheus"},
                                "not-the-metrics-secret-" + uuid.uuid4().hex * 2, algorithm="HS512"))
    wrong.chmod(0o600)
    os.chown(wrong, 65534, 65534)
    wrong_job = {**fragment["scrape_configs"][0], "job_name": WRONG_JOB,
                 "authorization": {"type": "Bearer", "credentials_file": "/etc/prometheus/wrong/token"}}
    config = {  # KoproGo's infrastructure/_shared/monitoring/prometheus/prometheus.yml, trimmed
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s",
                   "external_labels": {"cluster": "koprogo-vps", "environment": "production"}},
        "rule_files": ["/etc/prometheus/alerts/*.yml", f"{CONTAINER_DIR}/rules/*.yml"],
        "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
                           *fragment["scrape_configs"], wrong_job],
    }
    started = time.monotonic()
    base = compose_host.start_prometheus(config, {compose_host.prometheus_dir: CONTAINER_DIR,
                                                  wrong_dir: "/etc/prometheus/wrong"})

    def scraped():
        try:
            targets = {t["labels"]["job"]: t for t in api(base, "targets", state="active")["activeTargets"]}
        except OSError:
            return None
        done = all(targets.get(job, {}).get("health") in ("up", "down") for job in (*MINIO_JOBS, WRONG_JOB))
        return targets if done else None

    targets = None
    for _attempt in range(240):
        targets = scraped()
        if targets:
            break
        time.sleep(0.5)
    logs = docker("logs", "--tail", "30", compose_host.monitoring["koprogo-prometheus"], check=False)
    assert targets, logs.stdout[-3000:] + logs.stderr[-3000:]
    print(f"\nKoproGo-shaped Prometheus container up and scraped in {time.monotonic() - started:.1f} s")
    return {"base": base, "targets": targets, "fragment": fragment}


def test_monitoring_files_for_koprogo_prometheus(compose_host, converged):
    """What the role wrote for the Prometheus container: the jobs target MinIO by container name and
    read the token from a file at its path inside the container; the token file is the container
    user's only; nothing of the token or the secret inline or in the output."""

    token = compose_host.prometheus_dir / "koprogo-minio.token"
    info = token.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o600, 65534, 65534)
    fragment_text = (compose_host.prometheus_dir / "scrape_configs" / "koprogo-storage.yml").read_text()
    jobs = {job["job_name"]: job for job in yaml.safe_load(fragment_text)["scrape_configs"]}
    assert sorted(jobs) == sorted(MINIO_JOBS)  # KoproGo scrapes its node exporter itself
    for job in jobs.values():
        assert job["static_configs"][0]["targets"] == [f"{compose_host.storage_container}:9000"]
        assert job["authorization"] == {"type": "Bearer", "credentials_file": f"{CONTAINER_DIR}/koprogo-minio.token"}
    assert token.read_text().strip() not in fragment_text
    assert (compose_host.prometheus_dir / "rules" / "koprogo-storage.rules.yml").is_file()
    for run in ("first", "second", "check"):
        text = converged[run].stdout + converged[run].stderr
        assert compose_host.metrics_secret not in text, run
        assert token.read_text().strip() not in text, run
    # The monitoring role ran (its token task), and changed nothing the second time (checked above for all).
    token_tasks = [name for name in converged["second"].tasks if "bearer token valid" in name]
    assert token_tasks, sorted(converged["second"].tasks)
    assert not any(converged["second"].tasks[name].get("changed") for name in token_tasks)


def test_no_prometheus_or_node_exporter_of_ours(compose_host, converged):
    """KoproGo holds 9090 and 9100: the role installed and started nothing, and nothing on this
    host listens there (the fixture's monitoring stand-ins hold high ports)."""
    for run in ("first", "second"):
        tasks = {name: result for name, result in converged[run].tasks.items() if name.startswith(MONITORING_TASK)}
        assert tasks, run
        # The includes of install.yml and service.yml are skipped; none of their tasks ran.
        for name in ("Install Prometheus and node exporter from Debian packages",
                     "Configure and start Prometheus and node exporter"):
            assert tasks[MONITORING_TASK + name].get("skipped"), (run, name)
        started = [MONITORING_TASK + name for name in (
            "Write the Prometheus command-line arguments", "Write the node exporter command-line arguments",
            "Install the Prometheus and node exporter packages", "Create the node exporter textfile directory",
            "Write the Prometheus configuration with the scrape jobs embedded",
            "Enable and start node exporter and Prometheus", "Restart prometheus", "Reload prometheus")]
        assert [name for name in started if name in tasks and not tasks[name].get("skipped")] == [], run
    listening = subprocess.run(["ss", "-H", "-l", "-t", "-n", "-p"], capture_output=True, text=True,
                               check=True).stdout.splitlines()
    held = [line for line in listening
            if len(line.split()) >= 4 and line.split()[3].rsplit(":", 1)[-1] in ("9090", "9100")]
    assert held == []


def test_koprogo_prometheus_scrapes_minio_with_the_token(compose_host, koprogo_prometheus):
    """What KoproGo's operator sees in Prometheus: both MinIO jobs up with the role's token, MinIO
    metrics stored, the role's alert rules loaded; the same job with a token signed by another
    secret is down (MinIO answers 403), so the token really matters."""
    base, targets = koprogo_prometheus["base"], koprogo_prometheus["targets"]
    for job in MINIO_JOBS:
        assert targets[job]["health"] == "up", targets[job]
        assert targets[job]["labels"]["instance"] == f"{compose_host.storage_container}:9000"
        assert [s["value"][1] for s in api(base, "query", query=f'up{{job="{job}"}}')["result"]] == ["1"]
    assert api(base, "query", query='minio_cluster_nodes_online_total{job="koprogo-minio-cluster"}')["result"]
    assert targets[WRONG_JOB]["health"] == "down"
    assert "403" in targets[WRONG_JOB]["lastError"], targets[WRONG_JOB]["lastError"]
    assert [s["value"][1] for s in api(base, "query", query=f'up{{job="{WRONG_JOB}"}}')["result"]] == ["0"]
    groups = {group["name"]: group for group in api(base, "rules")["groups"]}
    assert {"koprogo-storage-minio", "koprogo-storage-backup", "koprogo-storage-volume"} <= set(groups)
    alerts = {rule["name"] for group in groups.values() for rule in group["rules"]}
    assert {"KoproGoMinioDown", "KoproGoMinioCapacityLow", "KoproGoBackupStale"} <= alerts


def test_monitoring_refuses_a_prometheus_of_its_own_in_compose_mode(compose_host, tmp_path):
    """monitoring_install_prometheus would bind 9090/9100, which KoproGo holds: site.yml's pre-flight
    refuses it before any change, and so does the role's own validation when used alone."""
    config_dir = tmp_path / "prometheus"
    variables = compose_host.extra_vars(**{**compose_host.monitoring_vars(), "monitoring_install_prometheus": True,
                                           "monitoring_prometheus_config_dir": str(config_dir)})
    result = run_playbook(SITE, inventory=str(compose_host.inventory()), extra_vars=variables)
    assert result.rc != 0
    assert "cannot install Prometheus and node exporter (monitoring_install_prometheus)" in result.stdout
    assert result.changed == 0
    assert not config_dir.exists()
    play = tmp_path / "monitoring.yml"
    play.write_text(
        "- hosts: storage\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_role:\n        name: koprogo.storage.monitoring\n        tasks_from: validate\n")
    result = run_playbook(play, inventory=str(compose_host.inventory()), extra_vars=variables)
    assert result.rc != 0
    assert "monitoring_install_prometheus must be false (KoproGo's monitoring stack holds 9090" in result.stdout
    assert not config_dir.exists()
