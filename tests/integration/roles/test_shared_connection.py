"""One inventory variable of minio_server moves every role that talks to MinIO.

The roles read the connection minio_server publishes (the fact minio_server_connection, set by
roles/minio_server/tasks/connection.yml). This renders what each consumer would use, on the
controller only (connection local, no host, nothing converged): for several inventories at once,
one host each, first the way site.yml's pre-flight runs (every role's tasks/validate.yml in play
order), then each consumer alone (its validate.yml reads the connection itself). One
ansible-playbook run for all of them, and one for the checks that name what is missing.
"""

from __future__ import annotations

import json
import sys

import pytest
import yaml
from helpers.ansible_run import run_playbook

ROOT_USER = "root-conn-test"
ROOT_PASSWORD = "root-password-for-the-test-24"  # fake, controller only
CONSUMERS = ["minio_config", "traefik", "backend_env", "backup", "monitoring"]

# Valid input for every role's checks (the values that do not matter here).
GOOD = {
    "minio_server_root_user": ROOT_USER,
    "minio_server_root_password": ROOT_PASSWORD,
    "minio_server_install_source": "local",
    "minio_server_local_file": "/nonexistent/minio",
    "minio_server_sha256": "0" * 64,
    "minio_config_backend_access_key": "kpbackendconn",
    "minio_config_backend_secret_key": "backend-secret-for-the-test-27",
    "traefik_console_host": "minio.koprogo.test",
    "traefik_s3_host": "s3.koprogo.test",
    "traefik_console_password": "console-password-for-test-20",
    "traefik_tls_mode": "selfsigned",
    "backup_source_access_key": "koprogo-backup",
    "backup_source_secret_key": "backup-secret-for-the-test",
    "backup_offsite_endpoint": "http://127.0.0.1:29900",
    "backup_offsite_bucket": "koprogo-offsite",
    "backup_offsite_access_key": "koprogo-offsite",
    "backup_offsite_secret_key": "offsite-secret-for-the-test",
    "backup_crypt_password": "crypt-password-for-the-test-1",
    "backup_crypt_password2": "crypt-password-for-the-test-2",
    "backup_gpg_recipient_key": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n(a test key)\n",
    "monitoring_minio_prometheus_secret_key": "prometheus-secret-for-test",
}

# host -> (its inventory variables, the client endpoint and console URL every consumer must follow)
INVENTORIES = {
    "api-port": ({"minio_server_api_port": 9100, "minio_server_console_port": 9101},
                 "http://127.0.0.1:9100", "http://127.0.0.1:9101"),
    # a wildcard listen address is reached on loopback
    "tls": ({"minio_server_tls": True, "minio_server_api_address": "", "minio_server_console_address": "::"},
            "https://127.0.0.1:9000", "https://127.0.0.1:9001"),
    "one-address": ({"minio_server_api_address": "127.0.0.2", "minio_server_console_address": "::1"},
                    "http://127.0.0.2:9000", "http://[::1]:9001"),
}
ALONE = "api-port"  # the inventory each consumer also renders alone
COMPOSE = {"koprogo_storage_deployment": "compose", "minio_server_container_name": "kp-minio-conn"}

EFFECTIVE = {
    "minio_config": ["minio_config_endpoint", "minio_config_access_key", "minio_config_secret_key"],
    "traefik": ["traefik_minio_api_url", "traefik_minio_console_url"],
    "backend_env": ["backend_env_s3_endpoint", "backend_env_minio_root_user", "backend_env_minio_root_password",
                    "backend_env_s3_access_key", "backend_env_s3_secret_key", "backend_env_s3_bucket"],
    "backup": ["backup_source_endpoint"],
    "monitoring": ["monitoring_minio_endpoint", "monitoring_minio_admin_access_key",
                   "monitoring_minio_admin_secret_key", "monitoring_minio_scheme", "monitoring_minio_targets"],
}


def validate_task(role: str) -> dict:
    # public: the role's defaults stay visible, so the last task can render them
    include = {"name": f"koprogo.storage.{role}", "tasks_from": "validate", "public": True}
    return {"name": f"Validate {role}", "ansible.builtin.include_role": include, "when": f"'{role}' in roles_here"}


def render_task() -> dict:
    """What each role would use (empty for the roles this host did not run), and whether its main.yml
    would skip the checks the pre-flight already ran (the gate of tasks/main.yml)."""
    values = {role: {name: f"{{{{ {name} if '{role}' in roles_here else '' }}}}" for name in names}
              for role, names in EFFECTIVE.items()}
    skip = {role: f"{{{{ (__{role}_validated | default('') == __{role}_validated_inputs) if '{role}' in roles_here"
                  " else '' }}"
            for role in ["minio_server", *CONSUMERS]}
    return {"name": "Effective values", "ansible.builtin.debug": {"msg": {"values": values, "skip": skip}}}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    work = tmp_path_factory.mktemp("shared-connection")
    hosts = {}
    for name, (variables, _endpoint, _console) in INVENTORIES.items():
        hosts[name] = {**variables, "roles_here": ["minio_server", *CONSUMERS]}
    # each consumer alone (no minio_server validate first: its own validate reads the connection)
    for role in CONSUMERS:
        hosts[f"alone-{role}"] = {**INVENTORIES[ALONE][0], "roles_here": [role]}
    hosts["compose"] = {**COMPOSE, "roles_here": ["minio_server", "minio_config", "backend_env", "backup"]}
    hosts["compose-alone-backend_env"] = {**COMPOSE, "roles_here": ["backend_env"]}
    inventory = work / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **GOOD},
        "hosts": hosts}}))
    play = {
        "name": "Render the consumers' MinIO connection", "hosts": "all", "gather_facts": False,
        "tasks": [
            # the platform facts minio_server's checks read, as a Debian host would report them
            {"name": "Platform facts", "ansible.builtin.set_fact": {
                "system": "Linux", "architecture": "x86_64", "service_mgr": "systemd", "cacheable": True}},
            *[validate_task(role) for role in ["minio_server", *CONSUMERS]],
            render_task(),
        ],
    }
    playbook = work / "render.yml"
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    result = run_playbook(playbook, inventory=str(inventory), env={"ANSIBLE_FORKS": "8"})
    assert result.rc == 0, (result.stdout[-4000:], result.stderr[-2000:])
    doc = json.loads(result.stdout[result.stdout.find("{"):])
    task = next(t for t in doc["plays"][0]["tasks"] if t["task"]["name"] == "Effective values")
    return {host: res["msg"] for host, res in task["hosts"].items()}


@pytest.mark.parametrize("inventory", [*INVENTORIES, "alone"])
def test_every_consumer_follows_the_server(rendered, inventory):
    _variables, endpoint, console = INVENTORIES[ALONE if inventory == "alone" else inventory]
    got = {}
    for role in CONSUMERS:
        got.update(rendered[f"alone-{role}" if inventory == "alone" else inventory]["values"][role])
    hostport = endpoint.split("://", 1)[1]
    assert got["minio_config_endpoint"] == endpoint
    assert got["traefik_minio_api_url"] == endpoint
    assert got["traefik_minio_console_url"] == console
    assert got["backup_source_endpoint"] == endpoint
    assert got["monitoring_minio_endpoint"] == endpoint
    assert got["monitoring_minio_scheme"] == endpoint.split("://", 1)[0]
    assert got["monitoring_minio_targets"] == [hostport]
    # the admin credentials: the server's root user, for every role that needs them or refuses them
    assert got["minio_config_access_key"] == got["monitoring_minio_admin_access_key"] == ROOT_USER
    assert got["backend_env_minio_root_user"] == ROOT_USER
    assert got["minio_config_secret_key"] == got["monitoring_minio_admin_secret_key"] == ROOT_PASSWORD
    assert got["backend_env_minio_root_password"] == ROOT_PASSWORD
    # the backend's key: minio_config's, by one route
    assert got["backend_env_s3_access_key"] == GOOD["minio_config_backend_access_key"]
    assert got["backend_env_s3_secret_key"] == GOOD["minio_config_backend_secret_key"]
    assert got["backend_env_s3_bucket"] == "koprogo-documents"


@pytest.mark.parametrize("host", ["compose", "compose-alone-backend_env"])
def test_compose_backend_reaches_the_container_by_name(rendered, host):
    assert rendered[host]["values"]["backend_env"]["backend_env_s3_endpoint"] == "http://kp-minio-conn:9000"
    if host == "compose":
        # before the container exists, the play reaches the API on loopback (as before this change)
        assert rendered[host]["values"]["minio_config"]["minio_config_endpoint"] == "http://127.0.0.1:9000"


def test_the_pre_flight_lets_each_role_skip_its_second_pass(rendered):
    """site.yml's pre-flight records what it validated; each role's main.yml then skips its checks."""
    for host, result in rendered.items():
        for role, skip in result["skip"].items():
            assert skip in (True, ""), (host, role, skip)


def test_a_consumer_alone_names_what_is_missing(tmp_path):
    """Used alone against no minio_server (no root credentials in the inventory) and with none of
    its own variables set, a consumer's checks fail before any change and name the variables."""
    hosts = {"config": {"roles_here": ["minio_config"]}, "monitoring": {"roles_here": ["monitoring"]},
             "backend": {"roles_here": ["backend_env"], "minio_config_backend_access_key": "",
                         "minio_config_backend_secret_key": ""}}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 **{k: v for k, v in GOOD.items() if not k.startswith("minio_server_root")}},
        "hosts": hosts}}))
    playbook = tmp_path / "alone.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Consumers alone", "hosts": "all", "gather_facts": False,
                                         "tasks": [validate_task(role) for role in CONSUMERS]}], sort_keys=False))
    result = run_playbook(playbook, inventory=str(inventory), json_output=False)
    text = " ".join(result.stdout.split())
    assert result.rc != 0 and "changed=1" not in text
    for message in ("minio_config has no MinIO to talk to: minio_config_access_key, minio_config_secret_key empty",
                    "which needs monitoring_minio_admin_access_key, monitoring_minio_admin_secret_key (empty",
                    "STORAGE_PROVIDER=s3 needs backend_env_s3_access_key, backend_env_s3_secret_key:"):
        assert message in text, text[-3000:]
    assert "minio_server_root_user / minio_server_root_password" in text
