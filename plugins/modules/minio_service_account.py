#!/usr/bin/python
# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: minio_service_account
short_description: Manage a MinIO service account (access key) for an application
version_added: 0.1.0
description:
  - Create, update or delete a MinIO service account, also called an access key (what
    C(mc admin accesskey create), C(edit) and C(rm) do), idempotently.
  - A service account belongs to a parent user and can never do more than its parent. An inline
    O(policy) restricts it further, for example to one bucket for the KoproGo backend.
  - The secret can be checked without reading it back (MinIO never returns it) by authenticating
    with it, see O(update_secret).
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
      - With O(update_secret=always) on a disabled service account the secret cannot be checked
        (MinIO refuses a disabled key before it checks the signature), so it is set again on every run
        and the module warns.
options:
  key_id:
    description:
      - The service account's access key, 3 to 20 characters (MinIO's limit for service accounts),
        without C(=), C(,) or white space.
    type: str
    required: true
  key_secret:
    description:
      - The service account's secret key, 8 to 40 characters. Never logged; shown as
        V(<redacted>) in diffs.
      - Required to create the service account. Whether an existing account's secret is changed
        depends on O(update_secret).
    type: str
  update_secret:
    description:
      - V(on_create) sets O(key_secret) only when the service account is created.
      - V(always) authenticates with O(key_id) and O(key_secret) (a signed S3 request) and sets the
        secret only when MinIO refuses the signature, so an unchanged secret reports no change.
    type: str
    choices: [on_create, always]
    default: on_create
  parent_user:
    description:
      - The user the service account belongs to (a MinIO user, or the root user). Required to create it.
      - It must exist and be enabled (MinIO's rule); in check mode a missing or disabled parent only
        gives a warning, since an earlier task may be about to create or enable it.
      - A service account cannot move to another parent; the module fails if it differs.
    type: str
  policy:
    description:
      - Inline policy of the service account (dictionary or JSON text), compared canonically. It can
        only narrow what the parent user may do. At most 4096 bytes.
      - When not set, the inline policy is not managed. A new service account then has none, so it
        inherits the parent user's policies; MinIO reports that inherited ("implied") policy, which
        the module does not mistake for the account's own.
      - V({}) (or an empty string) removes the inline policy, so the account inherits its parent's
        policies again.
    type: raw
  display_name:
    description:
      - Name shown for the service account, up to 32 ASCII letters, digits, C(_) or C(-), starting
        with a letter.
      - MinIO cannot clear it once set.
    type: str
    aliases: [name]
  description:
    description:
      - Free text description, at most 256 bytes. MinIO cannot clear it once set.
    type: str
  expiration:
    description:
      - When the service account stops working, as an ISO-8601 date or date-time
        (V(2027-06-30) or V(2027-06-30T12:00:00Z); a time without zone is UTC), between 15 minutes
        and 365 days ahead (MinIO's limits).
      - V(never) removes the expiration. When not set, the expiration is not managed.
    type: str
  status:
    description:
      - V(enabled) or V(disabled). New service accounts are enabled when this is not set.
    type: str
    choices: [enabled, disabled]
  state:
    description:
      - V(present) creates or updates the service account; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
notes:
  - MinIO drops a service account's inline policy on any update that does not resend it. The module
    always sends the policy with an update (the desired one, or the current one when O(policy) is
    not set), so changing, for example, the status keeps the policy.
seealso:
  - module: koprogo.storage.minio_user
  - module: koprogo.storage.minio_policy
"""

EXAMPLES = r"""
- name: Access key for the KoproGo backend, limited to the documents bucket
  koprogo.storage.minio_service_account:
    parent_user: koprogo-backend
    key_id: koprogo-backend-app
    key_secret: "{{ vault_koprogo_backend_s3_secret }}"
    update_secret: always
    display_name: koprogo-backend
    description: KoproGo backend document storage
    policy:
      Statement:
        - Effect: Allow
          Action: [s3:GetObject, s3:PutObject, s3:DeleteObject]
          Resource: arn:aws:s3:::koprogo-documents/*

- name: Temporary access key that expires, disabled for now
  koprogo.storage.minio_service_account:
    endpoint: http://127.0.0.1:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    parent_user: auditor
    key_id: auditor-2027
    key_secret: "{{ vault_auditor_secret }}"
    expiration: "2027-03-31T00:00:00Z"
    status: disabled

- name: Remove an access key
  koprogo.storage.minio_service_account:
    key_id: auditor-2027
    state: absent
"""

RETURN = r"""
service_account:
  description:
    - The service account as the server reports it after the task (in check mode, as it would be).
      The secret key is never returned.
    - V(null) when it does not exist.
  returned: always
  type: dict
  contains:
    key_id:
      description: The access key.
      type: str
      sample: koprogo-backend-app
    parent_user:
      description: The user it belongs to.
      type: str
      sample: koprogo-backend
    policy:
      description: Its own inline policy in canonical form, or V(null) when it inherits its parent's policies.
      type: dict
      sample: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"],
               "Resource": ["arn:aws:s3:::koprogo-documents/*"]}]}
    display_name:
      description: Its display name (empty when unset).
      type: str
      sample: koprogo-backend
    description:
      description: Its description (empty when unset).
      type: str
      sample: KoproGo backend document storage
    expiration:
      description: Expiry time in UTC (C(YYYY-MM-DDTHH:MM:SSZ)), or V(never).
      type: str
      sample: never
    status:
      description: V(enabled) or V(disabled).
      type: str
      sample: enabled
changed_facets:
  description:
    - What differed from the desired state, so the task output doubles as a drift report.
    - One or more of V(state), V(key_secret), V(policy), V(display_name), V(description),
      V(expiration), V(status).
  returned: always
  type: list
  elements: str
  sample: [policy]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.koprogo.storage.plugins.module_utils._iam import (
    desired_inline_policy,
    inline_policy_differs,
    normalize_expiration,
    secret_needs_update,
    service_account_update_args,
    status_change,
    text_change,
    validate_description,
    validate_expiration,
    validate_service_account_key,
    validate_service_account_name,
    validate_service_account_secret,
)
from ansible_collections.koprogo.storage.plugins.module_utils._iam_state import (
    add_service_account,
    probe_secret,
    read_service_account,
    read_user,
)
from ansible_collections.koprogo.storage.plugins.module_utils._manager import Manager, Parameters, run_module
from ansible_collections.koprogo.storage.plugins.module_utils._minio import connection_argument_spec
from ansible_collections.koprogo.storage.plugins.module_utils._policy import PolicyError


class ServiceAccountParameters(Parameters):
    """minio_service_account options, parsed and validated before connecting."""

    def __init__(self, params):
        super().__init__(params)
        self.key_id = params["key_id"]
        self.secret = params["key_secret"]
        self.secrets = [self.secret]
        self.update_mode = params["update_secret"]
        self.parent_user = params["parent_user"]
        self.display_name = params["display_name"]
        self.description = params["description"]
        self.status = params["status"]
        self.connecting_user = params["access_key"]
        self.check(validate_service_account_key(self.key_id))
        self.check(validate_service_account_secret(self.secret))
        self.check(validate_service_account_name(self.display_name))
        self.check(validate_description(self.description))
        if self.key_id == self.connecting_user:
            self.errors.append(f"key_id '{self.key_id}' is the access key this module connects with")
        self.policy_mode, self.policy = self.parse(desired_inline_policy, params["policy"], PolicyError) \
            or ("unmanaged", None)
        self.expiration = self.parse(normalize_expiration, params["expiration"], ValueError)


class ServiceAccountManager(Manager):
    """Reads the service account once, compares it facet by facet and applies the difference in one update."""

    resource_key = "service_account"

    def read(self):
        return read_service_account(self.conn, self.p.key_id)

    def read_back(self):
        return read_service_account(self.conn, self.p.key_id)

    def require_parent(self):
        p = self.p
        if p.parent_user is None:
            self.fail(f"service account '{p.key_id}' does not exist; parent_user is required to create it")
        if p.secret is None:
            self.fail(f"service account '{p.key_id}' does not exist; key_secret is required to create it")
        if p.parent_user != p.connecting_user:
            parent = read_user(self.conn, p.parent_user)
            problem = None
            if parent is None:
                problem = (f"parent user '{p.parent_user}' does not exist on {self.conn.endpoint}; "
                           "create it first with koprogo.storage.minio_user")
            elif parent["status"] == "disabled":
                problem = (f"parent user '{p.parent_user}' is disabled; MinIO cannot create a service account "
                           "for a disabled user")
            if problem and self.check_mode:
                # An earlier task of the same check run may only have predicted the parent's creation.
                self.module.warn(f"{problem} (a real run fails unless an earlier task fixes it)")
            elif problem:
                self.fail(problem)

    def check_expiration(self):
        error = validate_expiration(self.p.expiration)
        if error:
            self.fail(error)

    def present(self):
        return self.create() if self.existing is None else self.update()

    def create(self):
        p = self.p
        self.require_parent()
        self.check_expiration()
        self.diff.add("state", "absent", "present")
        inline = p.policy if p.policy_mode == "inline" else None
        predicted = dict(key_id=p.key_id, parent_user=p.parent_user, policy=inline,
                         display_name=p.display_name or "", description=p.description or "",
                         expiration=p.expiration or "never", status=p.status or "enabled")
        self.changes.append(lambda: add_service_account(
            self.conn, p.parent_user, p.key_id, p.secret, policy=inline, name=p.display_name,
            description=p.description, expiration=p.expiration))
        if p.status == "disabled":
            self.changes.append(self.disable_created)
        return self.apply(predicted, self.read_back)

    def disable_created(self):
        # MinIO creates service accounts enabled; the status needs an update, which resends the policy.
        p = self.p
        args = service_account_update_args(self.read_back(), {"status": "disabled"}, p.policy_mode, p.policy)
        self.conn.call(f"disable service account {p.key_id}", self.conn.admin.update_service_account,
                       access_key=p.key_id, **args)

    def update(self):
        p, current = self.p, self.existing
        if p.parent_user is not None and p.parent_user != current["parent_user"]:
            self.fail(f"service account '{p.key_id}' belongs to '{current['parent_user']}', not "
                      f"'{p.parent_user}'; MinIO cannot move it: delete it first (state: absent)")
        changes = {}
        check = None
        if p.secret is not None and p.update_mode == "always":
            check = probe_secret(self.conn, "service account", p.key_id, p.secret, current["status"],
                                 self.module.warn)
        if secret_needs_update(True, p.secret, p.update_mode, check):
            changes["secret"] = p.secret
            self.diff.add("key_secret", "current", "new", secret=True)
        if inline_policy_differs(current["policy"], p.policy_mode, p.policy):
            self.diff.add("policy", current["policy"], p.policy)
        for facet, desired in (("display_name", p.display_name), ("description", p.description)):
            changed, error = text_change(current[facet], desired, facet)
            if error:
                self.fail(error)
            if changed:
                changes[facet] = desired
                self.diff.add(facet, current[facet], desired)
        if p.expiration is not None and p.expiration != current["expiration"]:
            self.check_expiration()
            changes["expiration"] = p.expiration
            self.diff.add("expiration", current["expiration"], p.expiration)
        new_status = status_change(current["status"], p.status)
        if new_status:
            changes["status"] = new_status
            self.diff.add("status", current["status"], new_status)

        args = service_account_update_args(current, changes, p.policy_mode, p.policy)
        if args is None:
            return current
        predicted = dict(current, **{k: v for k, v in changes.items() if k != "secret"})
        if p.policy_mode != "unmanaged":
            predicted["policy"] = p.policy
        self.changes.append(lambda: self.conn.call(f"update service account {p.key_id}",
                                                   self.conn.admin.update_service_account,
                                                   access_key=p.key_id, **args))
        return self.apply(predicted, self.read_back)

    def absent(self):
        key_id = self.p.key_id
        return self.remove(f"delete service account {key_id}", self.conn.admin.delete_service_account,
                           access_key=key_id)


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        key_id=dict(type="str", required=True, no_log=False),
        key_secret=dict(type="str", no_log=True),
        update_secret=dict(type="str", default="on_create", choices=["on_create", "always"], no_log=False),
        parent_user=dict(type="str"),
        policy=dict(type="raw"),
        display_name=dict(type="str", aliases=["name"]),
        description=dict(type="str"),
        expiration=dict(type="str"),
        status=dict(type="str", choices=["enabled", "disabled"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module, ServiceAccountParameters, ServiceAccountManager)


if __name__ == "__main__":
    main()
