# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with a MinIO access key and secret key, by the rules the modules apply.

The roles check credentials before any change (pre-flight); the modules check them again when
they run. Both use module_utils/_iam.py, so a key a role accepts is a key the module accepts.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: minio_credential_problems
short_description: Problems of a MinIO access key and secret key, as the modules see them
version_added: 0.1.0
description:
  - Returns a list of readable problems (empty when the pair is fine). The secret is never part of a message.
  - Applies MinIO's limits for the I(kind) of account (the rules of M(koprogo.storage.minio_user) and
    M(koprogo.storage.minio_service_account)), then the collection's strength policy for secrets the roles
    generate or take from the vault (I(min_secret_length), and no well-known default value).
options:
  _input:
    description: The access key (user name or service account key id).
    type: str
    required: true
  secret_key:
    description: The secret key. Omitted (null) = only the access key is checked; empty is a problem.
    type: str
  kind:
    description: C(service_account) (3-20 character keys, 8-40 character secrets) or C(user).
    type: str
    default: service_account
    choices: [service_account, user]
  min_secret_length:
    description: Shortest secret the roles accept (stricter than MinIO's own minimum of 8).
    type: int
    default: 20
"""

EXAMPLES = r"""
- name: Check the backend's credentials before any change
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join('; ') }}"
  vars:
    __problems: "{{ backend_key | koprogo.storage.minio_credential_problems(backend_secret) }}"
"""

RETURN = r"""
_value:
  description: The problems found, each a sentence naming the setting; empty when there is none.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.koprogo.storage.plugins.module_utils._iam import (
    SERVICE_ACCOUNT_SECRET_LENGTH,
    validate_access_key,
    validate_secret,
    validate_service_account_key,
    validate_service_account_secret,
)

# Values found in examples and default configurations: never accepted as a secret.
WEAK_SECRETS = frozenset({"minioadmin", "changeme", "change-me", "CHANGE_ME", "password", "secret"})


def minio_credential_problems(access_key, secret_key=None, kind="service_account", min_secret_length=20):
    if kind not in ("service_account", "user"):
        raise AnsibleFilterError(f"minio_credential_problems: kind must be service_account or user, not {kind!r}")
    if not isinstance(access_key, str) or not access_key:
        return ["the access key is empty"]
    problems = []
    key_error = validate_service_account_key(access_key) if kind == "service_account" else \
        validate_access_key("access key", access_key)
    if key_error:
        problems.append(key_error)
    if secret_key is not None and not secret_key:
        problems.append("the secret key is empty")
    elif secret_key:
        secret_error = validate_service_account_secret(secret_key) if kind == "service_account" else \
            validate_secret("secret key", secret_key)
        # MinIO refuses secrets longer than 40 characters for users too (the user module leaves that to the server).
        if not secret_error and len(secret_key) > SERVICE_ACCOUNT_SECRET_LENGTH[1]:
            secret_error = f"the secret key must be at most {SERVICE_ACCOUNT_SECRET_LENGTH[1]} characters"
        if secret_error:
            problems.append(secret_error)
        elif len(secret_key) < int(min_secret_length):
            problems.append(f"the secret key must be at least {min_secret_length} characters")
        if secret_key in WEAK_SECRETS:
            problems.append("the secret key is a well-known default value")
    return problems


class FilterModule:
    def filters(self):
        return {"minio_credential_problems": minio_credential_problems}
