"""minio_server + minio_config + traefik + backend_env converged onto one throwaway systemd container.

One converge (with -v, to prove secrets stay hidden), a second one (0 changed) and a check-mode
run (0 changed) serve every test; the tests then look at what a user sees: the rendered env file's
credentials against MinIO (directly and through Traefik over TLS, trusting the generated CA),
HTTP status codes and headers, file modes. The last tests run the backend_env role alone in its
other modes (managed block, local storage) and feed bad input to the roles.

The container shares the host network: MinIO and Traefik bind 127.0.0.1 on free ports, and the
two Traefik host names resolve to 127.0.0.1 only inside this test process (socket patch).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import secrets
import shutil

import pytest
import yaml
from helpers.edge_stack import (
    BUCKET,
    CONSOLE_HOST,
    ENV_FILE,
    HTPASSWD,
    ONE_MIB,
    RECAP,
    S3_HOST,
    changed_tasks,
    parse_env,
    resolve_to_loopback,
)

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs a Docker engine")


def go_duration_hours(text: str) -> float:
    """Hours in a Go duration string such as 24h, 168h0m0s or 90m."""
    units = {"h": 1.0, "m": 1 / 60, "s": 1 / 3600}
    return sum(float(value) * units[unit] for value, unit in re.findall(r"([\d.]+)([hms])", text))


def test_converge_succeeds_without_leaking_secrets(stack):
    assert stack.first.rc == 0, stack.converge_failure()
    for label, value in stack.secrets.items():
        assert value not in stack.first.stdout, f"{label} printed by the -v converge"
        assert value not in stack.first.stderr, f"{label} printed on stderr"
        assert value not in stack.second.stdout, f"{label} in the JSON results"


def test_second_converge_changes_nothing(stack):
    assert stack.second.rc == 0, stack.second.stderr[-3000:]
    assert stack.second.changed == 0, changed_tasks(stack.second)


def test_check_mode_reports_no_change(stack):
    assert stack.check.rc == 0, stack.check.stderr[-3000:]
    assert stack.check.changed == 0, changed_tasks(stack.check)


def test_env_file_holds_the_service_account_not_root(stack):
    assert stack.host.stat(ENV_FILE)["mode"] == "0600"
    env = stack.env()
    assert env["STORAGE_PROVIDER"] == "s3"
    assert env["S3_BUCKET"] == BUCKET
    assert env["S3_ACCESS_KEY"] == stack.backend_key != stack.root_user
    assert env["S3_SECRET_KEY"] == stack.backend_secret
    assert env["S3_FORCE_PATH_STYLE"] == "true"
    assert env["S3_KEY_PREFIX"] == "documents"  # KoproGo's own default; names the backend does not read are not written
    assert not {"STORAGE_BACKEND", "S3_USE_PATH_STYLE", "LOCAL_STORAGE_PATH"} & env.keys()
    assert stack.root_password not in stack.host.read_file(ENV_FILE).decode()


def test_documents_bucket_is_private_versioned_with_lifecycle(stack):
    root = stack.root_s3()
    assert root.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rules = root.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") == 90 for r in rules), rules
    # MinIO aborts stale multipart uploads server-wide (api stale_uploads_expiry, default 24h):
    # the module only lowers it to 7 days when it is longer.
    api = stack.mc("admin", "config", "get", "t", "api").stdout
    expiry = re.search(r"stale_uploads_expiry=(\S+)", api).group(1)
    assert go_duration_hours(expiry) <= 7 * 24, api
    root.put_object(Bucket=BUCKET, Key="anon-probe.txt", Body=b"x")
    conn = http.client.HTTPConnection("127.0.0.1", stack.ports["api"], timeout=10)
    conn.request("GET", f"/{BUCKET}/anon-probe.txt")
    assert conn.getresponse().status == 403
    status, _unused1, _unused2 = stack.https(S3_HOST, f"/{BUCKET}/anon-probe.txt")
    assert status == 403


def test_backend_credentials_are_limited_to_the_documents_bucket(stack):
    from botocore.exceptions import ClientError

    backend = stack.backend_s3(endpoint=stack.direct_endpoint())
    backend.head_bucket(Bucket=BUCKET)
    body = secrets.token_bytes(4096)
    backend.put_object(Bucket=BUCKET, Key="documents/building-1/doc.pdf", Body=body)
    assert backend.get_object(Bucket=BUCKET, Key="documents/building-1/doc.pdf")["Body"].read() == body
    backend.delete_object(Bucket=BUCKET, Key="documents/building-1/doc.pdf")

    other = "other-" + secrets.token_hex(3)
    stack.root_s3().create_bucket(Bucket=other)
    for call in (lambda: backend.put_object(Bucket=other, Key="x", Body=b"x"),
                 lambda: backend.put_object(Bucket=BUCKET, Key="outside-the-prefix.pdf", Body=b"x"),
                 lambda: backend.list_objects_v2(Bucket=other),
                 lambda: backend.create_bucket(Bucket="made-by-backend"),
                 lambda: backend.put_bucket_policy(Bucket=BUCKET, Policy="{}"),
                 lambda: backend.delete_bucket(Bucket=BUCKET)):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "AccessDenied", err.value.response
    # MinIO lists only the buckets a key may use (no s3:ListAllMyBuckets needed).
    assert [b["Name"] for b in backend.list_buckets()["Buckets"]] == [BUCKET]

    from minio.credentials import StaticProvider
    from minio.minioadmin import MinioAdmin

    admin = MinioAdmin(endpoint=f"127.0.0.1:{stack.ports['api']}", secure=False,
                       credentials=StaticProvider(stack.backend_key, stack.backend_secret))
    with pytest.raises(Exception, match="(?i)access ?denied|403"):
        admin.user_list()


def test_one_mib_round_trip_through_traefik_tls(stack):
    payload = secrets.token_bytes(ONE_MIB)
    with resolve_to_loopback(CONSOLE_HOST, S3_HOST):
        backend = stack.backend_s3(verify=str(stack.ca_file))
        backend.put_object(Bucket=BUCKET, Key="documents/tls/1mib.bin", Body=payload)
        assert backend.get_object(Bucket=BUCKET, Key="documents/tls/1mib.bin")["Body"].read() == payload
    direct = stack.backend_s3(endpoint=stack.direct_endpoint())
    assert direct.get_object(Bucket=BUCKET, Key="documents/tls/1mib.bin")["Body"].read() == payload


def test_s3_host_never_asks_for_basic_auth_and_hides_the_admin_api(stack):
    status, headers, _unused1 = stack.https(S3_HOST, f"/{BUCKET}/")
    assert status == 403 and "www-authenticate" not in headers
    status, headers, _unused1 = stack.https(S3_HOST, "/minio/admin/v3/info")
    assert status == 404 and "www-authenticate" not in headers


def test_console_host_requires_basic_auth(stack):
    status, headers, _unused1 = stack.https(CONSOLE_HOST)
    assert status == 401
    assert headers["www-authenticate"].lower().startswith("basic")
    bad = base64.b64encode(b"admin:wrong-password-123456").decode()
    assert stack.https(CONSOLE_HOST, headers={"Authorization": f"Basic {bad}"})[0] == 401
    good = base64.b64encode(f"admin:{stack.console_password}".encode()).decode()
    status, _unused1, body = stack.https(CONSOLE_HOST, headers={"Authorization": f"Basic {good}"})
    assert status == 200 and body


def test_http_redirects_to_https_and_security_headers(stack):
    with resolve_to_loopback(CONSOLE_HOST, S3_HOST):
        conn = http.client.HTTPConnection(S3_HOST, stack.ports["http"], timeout=10)
        conn.request("GET", "/some/path")
        resp = conn.getresponse()
    assert resp.status in (301, 308)
    assert resp.getheader("Location") == f"https://{S3_HOST}:{stack.ports['https']}/some/path"
    for host in (CONSOLE_HOST, S3_HOST):
        _unused1, headers, _unused2 = stack.https(host)
        assert headers["strict-transport-security"].startswith("max-age=31536000")
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"


def test_files_units_and_listeners(stack):
    auth = stack.host.stat(HTPASSWD)
    assert auth == {"mode": "0600", "owner": "traefik", "group": "traefik"}
    line = stack.host.read_file(HTPASSWD).decode().strip()
    assert line.startswith("admin:$2") and stack.console_password not in line
    assert stack.host.stat("/etc/traefik/tls/server.key")["mode"] == "0600"
    props = dict(line.split("=", 1) for line in stack.host.exec(
        ["systemctl", "show", "traefik", "-p", "User,NoNewPrivileges,ProtectSystem,CapabilityBoundingSet,"
         "AmbientCapabilities,ActiveState"]).stdout.splitlines())
    assert props["User"] == "traefik" and props["NoNewPrivileges"] == "yes" and props["ProtectSystem"] == "strict"
    assert props["CapabilityBoundingSet"] == props["AmbientCapabilities"] == "cap_net_bind_service"
    assert props["ActiveState"] == "active"
    listeners = stack.host.exec(["ss", "-Hltnp"]).stdout.splitlines()
    for name in ("minio", "traefik"):
        mine = [entry.split()[3] for entry in listeners if f'"{name}"' in entry]
        assert mine, listeners
        assert all(addr.startswith(("127.0.0.1:", "[::1]:")) for addr in mine), (name, mine)
    static = yaml.safe_load(stack.host.read_file("/etc/traefik/traefik.yml"))
    assert static["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}
    assert "api" not in static and static["providers"]["file"]["directory"] == "/etc/traefik/dynamic"


def test_backend_env_managed_block_leaves_foreign_lines(stack):
    dotenv = "/opt/koprogo/.env"
    foreign = "DATABASE_URL=postgres://koprogo@db/koprogo\n# keep me\nJWT_SECRET='x y'\n"
    stack.host.exec(["mkdir", "-p", "/opt/koprogo"])
    stack.host.exec(["tee", dotenv], input=foreign)
    play = stack.write_play("block.yml", [{"role": "koprogo.storage.backend_env"}], gather_facts=False)
    extra = {"backend_env_write_mode": "block", "backend_env_path": dotenv}
    first = stack.run(play, extra)
    assert first.rc == 0 and first.changed == 1, first.stdout[-3000:]
    text = stack.host.read_file(dotenv).decode()
    assert text.startswith(foreign)
    assert "# BEGIN koprogo.storage backend_env" in text and "# END koprogo.storage backend_env" in text
    assert parse_env(text)["S3_ACCESS_KEY"] == stack.backend_key
    assert stack.host.stat(dotenv)["mode"] == "0600"
    again = stack.run(play, extra)
    assert again.rc == 0 and again.changed == 0, changed_tasks(again)
    assert stack.host.read_file(dotenv).decode() == text


def test_backend_env_local_mode(stack):
    play = stack.write_play("local.yml", [{"role": "koprogo.storage.backend_env"}], gather_facts=False)
    extra = {"backend_env_storage_provider": "local", "backend_env_path": "/etc/koprogo/local.env",
             "backend_env_upload_dir": "/srv/koprogo-data/uploads", "backend_env_upload_dir_owner": "nobody"}
    result = stack.run(play, extra)
    assert result.rc == 0, result.stdout[-3000:]
    env = stack.env("/etc/koprogo/local.env")
    assert env["STORAGE_PROVIDER"] == "local"
    assert env["UPLOAD_DIR"] == "/srv/koprogo-data/uploads"
    assert not any(key.startswith("S3_") for key in env)
    assert stack.host.stat("/srv/koprogo-data/uploads") == {"mode": "0750", "owner": "nobody", "group": "root"}


def test_minio_config_can_run_on_the_controller(stack):
    """minio_config_run_on: controller delegates the modules to localhost (here the API is on loopback)."""
    play = stack.write_play("controller.yml", [{"role": "koprogo.storage.minio_config"}], gather_facts=False)
    extra_bucket = "ctl-" + secrets.token_hex(3)
    extra = {"minio_config_run_on": "controller",
             "minio_config_buckets": [{"name": extra_bucket, "versioning": "enabled"}]}
    result = stack.run(play, extra)
    assert result.rc == 0, result.stdout[-3000:]
    assert changed_tasks(result) == ["Manage buckets"]
    assert stack.root_s3().get_bucket_versioning(Bucket=extra_bucket)["Status"] == "Enabled"


@pytest.mark.parametrize(("role", "extra", "message"), [
    ("backend_env", {"backend_env_s3_access_key": "ROOT"}, "root user and password are refused"),
    ("traefik", {"traefik_console_password": ""}, "empty or weak"),
    ("traefik", {"traefik_console_password": "admin"}, "empty or weak"),
    ("traefik", {"traefik_console_host": "not a host"}, "two different DNS names"),
    ("minio_config", {"minio_config_backend_access_key": "ROOT"}, "never use the MinIO root credentials"),
    # The module's own rule (shared through the minio_credential_problems filter), refused before any change.
    ("minio_config", {"minio_config_backend_access_key": "kp=backend"}, "must not contain '='"),
    ("minio_config", {"minio_config_backend_secret_key": "minioadmin"}, "well-known default value"),
])
def test_bad_input_is_refused_before_any_change(stack, role, extra, message):
    extra = {key: (stack.root_user if value == "ROOT" else value) for key, value in extra.items()}
    before = stack.host.read_file(ENV_FILE)
    play = stack.write_play(f"bad-{role}.yml", [{"role": f"koprogo.storage.{role}"}], gather_facts=False)
    result = stack.run(play, extra, json_output=False)
    assert result.rc != 0
    assert message in " ".join(result.stdout.split()), result.stdout[-3000:]
    assert stack.root_password not in result.stdout and stack.console_password not in result.stdout
    recap = RECAP.search(result.stdout)
    assert recap and recap.group(3) == "0", result.stdout[-2000:]
    assert stack.host.read_file(ENV_FILE) == before


# Host-side drift that the roles' one-read probe (koprogo.storage.host_probe) must notice: each
# write task it would otherwise skip runs, reports the change and puts the file back.
HOST_DRIFT = {
    # task that must report the change: (command making the drift, path, expected mode owner group)
    "Write the static configuration": ("echo '# edited by hand' >> /etc/traefik/traefik.yml",
                                       "/etc/traefik/traefik.yml", "0640 root traefik"),
    "Create the configuration directories (readable by traefik only)": (
        "chown root:root /etc/traefik/dynamic", "/etc/traefik/dynamic", "0750 root traefik"),
    # The env file's task is no_log (its result is hidden, changed flag included): its change shows
    # as the restart it notifies.
    "Restart MinIO": ("chmod 0644 /etc/default/minio", "/etc/default/minio", "0600 root root"),
    "Create the configuration directories": ("rmdir /etc/minio/certs/CAs", "/etc/minio/certs/CAs", "0750 root minio"),
    "Write the backend storage env file": (f"chmod 0644 {ENV_FILE}", ENV_FILE, None),
}


def test_drift_is_reported_and_repaired(stack):
    """Make the bucket public, detach the backend policy, edit the auth file, change files, modes,
    owners and directories on the host; one converge restores all and says what it changed."""
    root = stack.root_s3()
    root.put_object(Bucket=BUCKET, Key="documents/drift/keep.txt", Body=b"keep")
    public = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]},
                                                      "Action": ["s3:GetObject"],
                                                      "Resource": [f"arn:aws:s3:::{BUCKET}/*"]}]}
    root.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(public))
    from minio.credentials import StaticProvider
    from minio.minioadmin import MinioAdmin

    admin = MinioAdmin(endpoint=f"127.0.0.1:{stack.ports['api']}", secure=False,
                       credentials=StaticProvider(stack.root_user, stack.root_password))
    admin.detach_policy(["koprogo-backend-documents"], user="koprogo-backend")
    from passlib.hash import bcrypt

    intruder_line = "intruder:" + bcrypt.using(rounds=5).hash("intruder-password-42")
    stack.host.exec(["bash", "-c", f"echo '{intruder_line}' >> {HTPASSWD} && systemctl restart traefik"])
    stack.wait_until_routing()
    conn = http.client.HTTPConnection("127.0.0.1", stack.ports["api"], timeout=10)
    conn.request("GET", f"/{BUCKET}/documents/drift/keep.txt")
    assert conn.getresponse().status == 200  # drift is real: anonymous read works
    intruder = {"Authorization": "Basic " + base64.b64encode(b"intruder:intruder-password-42").decode()}
    assert stack.https(CONSOLE_HOST, headers=intruder)[0] == 200  # and the intruder gets in

    env_stat = stack.host.stat(ENV_FILE)
    before = {path: stack.host.read_file(path) for _cmd, path, _want in HOST_DRIFT.values()
              if not path.endswith("CAs") and not path.endswith("dynamic")}
    for command, _path, _want in HOST_DRIFT.values():
        stack.host.exec(command)

    result = stack.run(tags="minio_server,minio_config,traefik,backend_env")
    assert result.rc == 0, result.stderr[-3000:]
    changed = changed_tasks(result)
    assert {"Manage buckets", "Manage users", "Remove users the role does not manage"} <= set(changed), changed
    assert set(HOST_DRIFT) <= set(changed), changed
    for _command, path, want in HOST_DRIFT.values():
        got = stack.host.stat(path)
        if want is None:
            assert got == env_stat, (path, got)
        else:
            assert " ".join((got["mode"], got["owner"], got["group"])) == want, (path, got)
    for path, data in before.items():
        assert stack.host.read_file(path) == data, path

    conn = http.client.HTTPConnection("127.0.0.1", stack.ports["api"], timeout=10)
    conn.request("GET", f"/{BUCKET}/documents/drift/keep.txt")
    assert conn.getresponse().status == 403
    assert "intruder" not in stack.host.read_file(HTPASSWD).decode()
    assert stack.https(CONSOLE_HOST, headers=intruder)[0] == 401  # Traefik reloaded the users file
    assert root.get_object(Bucket=BUCKET, Key="documents/drift/keep.txt")["Body"].read() == b"keep"
    backend = stack.backend_s3(endpoint=stack.direct_endpoint())
    assert backend.get_object(Bucket=BUCKET, Key="documents/drift/keep.txt")["Body"].read() == b"keep"
