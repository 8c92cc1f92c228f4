#!/usr/bin/python
# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: minio_user
short_description: Manage a MinIO user, its secret, status and attached policies
version_added: 0.1.0
description:
  - Create, update or delete a user of MinIO's built-in identity provider, idempotently.
  - The secret key can be checked without reading it back (MinIO never returns it) by
    authenticating as the user, see O(update_password).
  - Attached policies are compared with what the server reports for the user, and only the
    difference is attached or detached.
  - An option left unset is not managed.
author:
  - KoproGo contributors (@koprogo)
extends_documentation_fragment:
  - koprogo.storage.minio
  - koprogo.storage.minio.attributes
attributes:
  idempotent:
    description: A second run with the same arguments reports no change.
    support: partial
    details:
      - With O(update_password=always) on a disabled user the secret cannot be checked (MinIO refuses
        a disabled user's requests before it checks the signature), so it is set again on every run
        and the module warns.
options:
  name:
    description:
      - The user's access key (user name).
      - 3 to 128 characters, without C(=), C(,) or white space; it must differ from the access key
        the module connects with.
    type: str
    required: true
  password:
    description:
      - The user's secret key, at least 8 characters. Never logged; shown as V(<redacted>) in diffs.
      - Required to create the user. Whether an existing user's secret is changed depends on
        O(update_password).
    type: str
  update_password:
    description:
      - V(on_create) sets O(password) only when the user is created.
      - V(always) authenticates as the user with O(password) (a signed S3 request) and sets it only
        when MinIO refuses the signature, so an unchanged secret reports no change.
    type: str
    choices: [on_create, always]
    default: on_create
  status:
    description:
      - V(enabled) or V(disabled). A disabled user keeps its policies and secret but MinIO refuses
        its requests.
      - New users are enabled when this is not set.
    type: str
    choices: [enabled, disabled]
  policies:
    description:
      - Names of the policies attached directly to the user (not through a group).
      - Listed policies that are not attached are attached; they must exist (see
        M(koprogo.storage.minio_policy)), else the module fails before any write. In check mode a
        missing policy only gives a warning, since an earlier task may be about to create it.
      - Others stay attached unless O(exclusive=true).
      - Use V([]) with O(exclusive=true) to detach every policy.
    type: list
    elements: str
  exclusive:
    description:
      - Detach the policies attached to the user that O(policies) does not list.
      - Ignored when O(policies) is not set.
    type: bool
    default: false
  state:
    description:
      - V(present) creates or updates the user; V(absent) deletes it.
      - Deleting a user also deletes its service accounts (MinIO does this).
    type: str
    choices: [present, absent]
    default: present
notes:
  - MinIO has one call to set a user's secret, and it also re-enables the user; when the secret
    changes on a disabled user, the module disables it again right after.
  - MinIO cannot attach or detach policies of a disabled user. The module changes the policies
    before it disables a user, and fails (before any write) when asked to change the policies of a
    user that stays disabled.
seealso:
  - module: koprogo.storage.minio_policy
  - module: koprogo.storage.minio_service_account
"""

EXAMPLES = r"""
- name: Backend user with the documents policy (connection options from module_defaults)
  koprogo.storage.minio_user:
    name: koprogo-backend
    password: "{{ vault_minio_backend_secret }}"
    update_password: always
    policies: [koprogo-documents-rw]
    exclusive: true

- name: Disable a user without deleting it
  koprogo.storage.minio_user:
    endpoint: http://127.0.0.1:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    name: former-contractor
    status: disabled

- name: Delete a user (and its service accounts)
  koprogo.storage.minio_user:
    name: former-contractor
    state: absent
"""

RETURN = r"""
user:
  description:
    - The user as the server reports it after the task (in check mode, as it would be).
      The secret key is never returned.
    - V(null) when the user does not exist.
  returned: always
  type: dict
  contains:
    name:
      description: The user's access key.
      type: str
      sample: koprogo-backend
    status:
      description: V(enabled) or V(disabled).
      type: str
      sample: enabled
    policies:
      description: Policies attached directly to the user, sorted.
      type: list
      elements: str
      sample: [koprogo-documents-rw]
changed_facets:
  description:
    - What differed from the desired state, so the task output doubles as a drift report.
    - One or more of V(state), V(password), V(status), V(policies).
  returned: always
  type: list
  elements: str
  sample: [status, policies]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.koprogo.storage.plugins.module_utils._iam import (
    policy_attachment_changes,
    resulting_policies,
    secret_needs_update,
    status_change,
    validate_policy_name,
    validate_secret,
    validate_user_name,
)
from ansible_collections.koprogo.storage.plugins.module_utils._iam_state import (
    policy_exists,
    probe_secret,
    read_user,
)
from ansible_collections.koprogo.storage.plugins.module_utils._manager import Manager, Parameters, run_module
from ansible_collections.koprogo.storage.plugins.module_utils._minio import connection_argument_spec


class UserParameters(Parameters):
    """minio_user options, parsed and validated before connecting."""

    def __init__(self, params):
        super().__init__(params)
        self.name = params["name"]
        self.password = params["password"]
        self.secrets = [self.password]
        self.update_mode = params["update_password"]
        self.status = params["status"]
        self.policies = sorted(set(params["policies"])) if params["policies"] is not None else None
        self.exclusive = params["exclusive"]
        self.check(validate_user_name(self.name, params["access_key"]))
        self.check(validate_secret("password", self.password))
        for name in self.policies or ():
            self.check(validate_policy_name(name))


class UserManager(Manager):
    """Reads the user once, compares it facet by facet with the desired state and applies the difference."""

    resource_key = "user"

    def read(self):
        return read_user(self.conn, self.p.name)

    def require_policies_exist(self, names):
        missing = [name for name in names if not policy_exists(self.conn, name)]
        if missing and self.check_mode:
            # An earlier task of the same check run may only have predicted their creation.
            self.module.warn(f"policies {missing} do not exist on {self.conn.endpoint} yet; a real run fails "
                             "unless an earlier task creates them")
        elif missing:
            self.fail(f"policies {missing} do not exist on {self.conn.endpoint}; "
                      "create them first with koprogo.storage.minio_policy")

    def secret_check(self):
        """match, differs or unverifiable (None when not needed)."""
        p = self.p
        if self.existing is None or p.password is None or p.update_mode != "always":
            return None
        return probe_secret(self.conn, "user", p.name, p.password, self.existing["status"], self.module.warn)

    def present(self):
        p = self.p
        current = self.existing or dict(name=p.name, status="enabled", policies=[])
        if self.existing is None:
            if p.password is None:
                self.fail(f"user '{p.name}' does not exist; password is required to create it")
            self.diff.add("state", "absent", "present")

        check = self.secret_check()
        set_secret = secret_needs_update(self.existing is not None, p.password, p.update_mode, check)
        if set_secret and self.existing is not None:
            self.diff.add("password", "current", "new", secret=True)

        new_status = status_change(current["status"], p.status)
        if new_status and self.existing is not None:
            self.diff.add("status", current["status"], new_status)
        final_status = new_status or current["status"]

        to_attach, to_detach = policy_attachment_changes(current["policies"], p.policies, p.exclusive)
        final_policies = resulting_policies(current["policies"], to_attach, to_detach)
        if (to_attach or to_detach) and self.existing is not None:
            self.diff.add("policies", current["policies"], final_policies)
        if to_attach:
            self.require_policies_exist(to_attach)
        if (to_attach or to_detach) and current["status"] == "disabled" and final_status == "disabled" \
                and not set_secret:
            self.fail(f"MinIO cannot attach or detach policies of a disabled user ('{p.name}'); "
                      "enable it (status: enabled) to change its policies")

        if not self.diff:
            return self.existing
        self.queue_writes(current["status"], final_status, set_secret, to_attach, to_detach)
        return self.apply(dict(name=p.name, status=final_status, policies=final_policies),
                          lambda: read_user(self.conn, p.name))

    def queue_writes(self, status_now, final_status, set_secret, to_attach, to_detach):
        # Order matters: user_add sets the secret but also enables the user, and MinIO only
        # attaches or detaches policies of an enabled user; so disable last.
        name, admin, call = self.p.name, self.conn.admin, self.conn.call
        if set_secret:
            self.changes.append(lambda: call(f"write user {name}", admin.user_add, access_key=name,
                                             secret_key=self.p.password))
            status_now = "enabled"
        if final_status == "enabled" and status_now == "disabled":
            self.changes.append(lambda: call(f"enable user {name}", admin.user_enable, access_key=name))
            status_now = "enabled"
        if to_attach:
            self.changes.append(lambda: call(f"attach policies {to_attach} to user {name}", admin.attach_policy,
                                             policies=to_attach, user=name))
        if to_detach:
            self.changes.append(lambda: call(f"detach policies {to_detach} from user {name}", admin.detach_policy,
                                             policies=to_detach, user=name))
        if final_status == "disabled" and status_now == "enabled":
            self.changes.append(lambda: call(f"disable user {name}", admin.user_disable, access_key=name))

    def absent(self):
        name = self.p.name
        return self.remove(f"delete user {name}", self.conn.admin.user_remove, access_key=name)


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        password=dict(type="str", no_log=True),
        update_password=dict(type="str", default="on_create", choices=["on_create", "always"], no_log=False),
        status=dict(type="str", choices=["enabled", "disabled"]),
        policies=dict(type="list", elements="str"),
        exclusive=dict(type="bool", default=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module, UserParameters, UserManager)


if __name__ == "__main__":
    main()
