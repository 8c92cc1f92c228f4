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
from ansible_collections.koprogo.storage.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.koprogo.storage.plugins.module_utils._iam import (
    MISSING_POLICY,
    policy_attachment_changes,
    probe_secret,
    read_user,
    resulting_policies,
    secret_needs_update,
    status_change,
    validate_password,
    validate_policy_name,
    validate_user_name,
)
from ansible_collections.koprogo.storage.plugins.module_utils._minio import (
    MinioConnection,
    MinioError,
    connection_argument_spec,
    require_minio,
)


class UserManager:
    """Reads the user once, compares it facet by facet with the desired state and applies the difference."""

    def __init__(self, module):
        self.module = module
        self.check_mode = module.check_mode
        p = module.params
        self.name = p["name"]
        self.password = p["password"]
        self.update_mode = p["update_password"]
        self.status = p["status"]
        self.policies = sorted(set(p["policies"])) if p["policies"] is not None else None
        self.exclusive = p["exclusive"]
        self.state = p["state"]
        self.diff = DifferenceTracker()
        self.validate()
        self.conn = MinioConnection.from_module(module, extra_secrets=[self.password] if self.password else [])
        self.existing = read_user(self.conn, self.name)

    def fail(self, msg):
        self.module.fail_json(msg=msg, changed=False)

    def validate(self):
        errors = [validate_user_name(self.name, self.module.params["access_key"]),
                  validate_password("password", self.password)]
        errors += [validate_policy_name(name) for name in self.policies or ()]
        errors = [e for e in errors if e]
        if errors:
            self.fail("; ".join(errors))

    def require_policies_exist(self, names):
        missing = [name for name in names
                   if self.conn.try_call(f"read policy {name}", self.conn.admin.policy_info, policy_name=name,
                                         missing=MISSING_POLICY, default=None) is None]
        if missing and self.check_mode:
            # An earlier task of the same check run may only have predicted their creation.
            self.module.warn(f"policies {missing} do not exist on {self.conn.endpoint} yet; a real run fails "
                             "unless an earlier task creates them")
        elif missing:
            self.fail(f"policies {missing} do not exist on {self.conn.endpoint}; "
                      "create them first with koprogo.storage.minio_policy")

    def secret_check(self):
        """match, differs or unverifiable (None when not needed)."""
        if self.existing is None or self.password is None or self.update_mode != "always":
            return None
        return probe_secret(self.module, self.conn, "user", self.name, self.password, self.existing["status"])

    def present(self):
        current = self.existing or dict(name=self.name, status="enabled", policies=[])
        if self.existing is None:
            if self.password is None:
                self.fail(f"user '{self.name}' does not exist; password is required to create it")
            self.diff.add("state", "absent", "present")

        check = self.secret_check()
        set_secret = secret_needs_update(self.existing is not None, self.password, self.update_mode, check)
        if set_secret and self.existing is not None:
            self.diff.add("password", "current", "new", secret=True)

        new_status = status_change(current["status"], self.status)
        if new_status and self.existing is not None:
            self.diff.add("status", current["status"], new_status)
        final_status = new_status or current["status"]

        to_attach, to_detach = policy_attachment_changes(current["policies"], self.policies, self.exclusive)
        final_policies = resulting_policies(current["policies"], to_attach, to_detach)
        if (to_attach or to_detach) and self.existing is not None:
            self.diff.add("policies", current["policies"], final_policies)
        if to_attach:
            self.require_policies_exist(to_attach)
        if (to_attach or to_detach) and current["status"] == "disabled" and final_status == "disabled" \
                and not set_secret:
            self.fail(f"MinIO cannot attach or detach policies of a disabled user ('{self.name}'); "
                      "enable it (status: enabled) to change its policies")

        if not self.diff:
            return self.existing
        if self.check_mode:
            return dict(name=self.name, status=final_status, policies=final_policies)

        # Order matters: user_add sets the secret but also enables the user, and MinIO only
        # attaches or detaches policies of an enabled user; so disable last.
        status_now = current["status"]
        if set_secret:
            self.conn.call(f"write user {self.name}", self.conn.admin.user_add,
                           access_key=self.name, secret_key=self.password)
            status_now = "enabled"
        if final_status == "enabled" and status_now == "disabled":
            self.conn.call(f"enable user {self.name}", self.conn.admin.user_enable, access_key=self.name)
            status_now = "enabled"
        if to_attach:
            self.conn.call(f"attach policies {to_attach} to user {self.name}", self.conn.admin.attach_policy,
                           policies=to_attach, user=self.name)
        if to_detach:
            self.conn.call(f"detach policies {to_detach} from user {self.name}", self.conn.admin.detach_policy,
                           policies=to_detach, user=self.name)
        if final_status == "disabled" and status_now == "enabled":
            self.conn.call(f"disable user {self.name}", self.conn.admin.user_disable, access_key=self.name)
        return read_user(self.conn, self.name)

    def absent(self):
        if self.existing is None:
            return None
        self.diff.add("state", "present", "absent")
        if not self.check_mode:
            self.conn.call(f"delete user {self.name}", self.conn.admin.user_remove, access_key=self.name)
        return None

    def run(self):
        result = self.present() if self.state == "present" else self.absent()
        self.module.exit_json(**self.diff.module_result("user", self.existing, result, self.module._diff))


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        name=dict(type="str", required=True),
        password=dict(type="str", no_log=True),
        update_password=dict(type="str", default="on_create", choices=["on_create", "always"], no_log=False),
        status=dict(type="str", choices=["enabled", "disabled"]),
        policies=dict(type="list", elements="str"),
        exclusive=dict(type="bool", default=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_minio(module)
    try:
        UserManager(module).run()
    except MinioError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
