"""Every secret role variable is `no_log` in its role's argument spec, and this is the list of them.

A new option whose name looks like a secret fails here until it is marked `no_log: true` and added
to SECRETS (or to NOT_SECRETS with the reason).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LOOKS_SECRET = re.compile(r"password|secret|token$|passphrase|_key$")

SECRETS = {
    "artifact": set(),
    "backend_env": {"backend_env_s3_secret_key", "backend_env_minio_root_password"},
    "backup": {"backup_source_access_key", "backup_source_secret_key", "backup_offsite_access_key",
               "backup_offsite_secret_key", "backup_crypt_password", "backup_crypt_password2"},
    "luks_volume": set(),
    "minio_config": {"minio_config_secret_key", "minio_config_backend_user_password",
                     "minio_config_backend_secret_key"},
    "minio_server": {"minio_server_root_user", "minio_server_root_password",
                     "minio_server_container_console_password"},
    "monitoring": {"monitoring_minio_admin_secret_key", "monitoring_minio_prometheus_secret_key"},
    "traefik": {"traefik_console_password"},
}
# Names that look like secrets but are not: access keys are identifiers (shown in MinIO's own
# listings and logs); the GPG key is the operator's public key.
NOT_SECRETS = {"backend_env_s3_access_key", "minio_config_access_key", "minio_config_backend_access_key",
               "monitoring_minio_admin_access_key", "backup_gpg_recipient_key"}


def entry_points(role: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


def test_every_role_is_listed():
    assert set(SECRETS) == {p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml")}


@pytest.mark.parametrize("role", sorted(SECRETS))
def test_secret_options_are_no_log(role):
    for name, spec in entry_points(role).items():
        options = spec.get("options") or {}
        marked = {option for option, o in options.items() if o.get("no_log")}
        assert marked == SECRETS[role] & set(options), f"{role} entry point {name}: no_log options {sorted(marked)}"
        unlisted = {o for o in options if LOOKS_SECRET.search(o) and options[o].get("type", "str") == "str"}
        assert unlisted <= SECRETS[role] | NOT_SECRETS, f"{role}: secret-looking options {sorted(unlisted)}"
