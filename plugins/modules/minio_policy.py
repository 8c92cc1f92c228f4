#!/usr/bin/python
# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: minio_policy
short_description: Manage a MinIO IAM policy
version_added: 0.1.0
description:
  - Create, update or delete a named IAM policy on a MinIO server (what C(mc admin policy create) and
    C(mc admin policy remove) do), idempotently.
  - The policy document is compared canonically, the way MinIO reads it (statement order, a string
    versus a one-element list, duplicate entries and a missing C(Version) make no difference), so an
    unchanged policy is never rewritten.
  - Attach policies to users with M(koprogo.storage.minio_user).
author:
  - KoproGo contributors (@koprogo)
extends_documentation_fragment:
  - koprogo.storage.minio
  - koprogo.storage.minio.attributes
options:
  name:
    description:
      - Name of the policy.
      - Must not be empty, contain C(,), C(/) or a backslash, or start or end with white space.
      - The policies MinIO creates itself (V(consoleAdmin), V(diagnostics), V(readonly), V(readwrite),
        V(writeonly)) cannot be changed or deleted with this module.
    type: str
    required: true
  policy:
    description:
      - The policy document, as a dictionary or as JSON text.
      - C(Version) defaults to V(2012-10-17) when left out.
      - Required when O(state=present). Malformed JSON or a document that is not shaped like a policy
        fails before anything is written.
    type: raw
  state:
    description:
      - V(present) creates the policy or updates its document.
      - V(absent) deletes it. A policy still attached to users or groups is not deleted; the module
        fails and names them, unless O(detach=true).
    type: str
    choices: [present, absent]
    default: present
  detach:
    description:
      - With O(state=absent), first detach the policy from every user and group it is attached to,
        then delete it.
    type: bool
    default: false
seealso:
  - module: koprogo.storage.minio_user
  - module: koprogo.storage.minio_service_account
  - name: MinIO policy-based access control
    description: The actions, resources and conditions a MinIO policy can use.
    link: https://min.io/docs/minio/linux/administration/identity-access-management/policy-based-access-control.html
"""

EXAMPLES = r"""
- name: Read and write access to the documents bucket
  koprogo.storage.minio_policy:
    endpoint: http://127.0.0.1:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    name: koprogo-documents-rw
    policy:
      Statement:
        - Effect: Allow
          Action: [s3:GetObject, s3:PutObject, s3:DeleteObject]
          Resource: arn:aws:s3:::koprogo-documents/*
        - Effect: Allow
          Action: s3:ListBucket
          Resource: arn:aws:s3:::koprogo-documents

- name: Policy from a JSON file, connection options set once for the group
  module_defaults:
    group/koprogo.storage.minio:
      endpoint: http://127.0.0.1:9000
      access_key: "{{ minio_root_user }}"
      secret_key: "{{ minio_root_password }}"
  block:
    - name: Read-only backup policy
      koprogo.storage.minio_policy:
        name: backup-read
        policy: "{{ lookup('ansible.builtin.file', 'backup-read.json') }}"

    - name: Delete an old policy, detaching it from its users and groups first
      koprogo.storage.minio_policy:
        name: legacy-rw
        state: absent
        detach: true
"""

RETURN = r"""
policy:
  description:
    - The policy as the server reports it after the task (in check mode, as it would be).
    - V(null) when the policy does not exist.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the policy.
      type: str
      sample: koprogo-documents-rw
    document:
      description: The policy document, in canonical form.
      type: dict
      sample: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"],
               "Resource": ["arn:aws:s3:::koprogo-documents/*"]}]}
    attached_users:
      description: Users the policy is attached to.
      type: list
      elements: str
      sample: [koprogo-backend]
    attached_groups:
      description: Groups the policy is attached to.
      type: list
      elements: str
      sample: []
changed_facets:
  description:
    - What differed from the desired state, so the task output doubles as a drift report.
    - V(state) when the policy was created or deleted, V(document) when its document changed,
      V(attachments) when it was detached from users or groups before deletion.
  returned: always
  type: list
  elements: str
  sample: [document]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.koprogo.storage.plugins.module_utils._iam import (
    BUILTIN_POLICIES,
    load_desired_policy,
    validate_policy_name,
)
from ansible_collections.koprogo.storage.plugins.module_utils._iam_state import read_policy
from ansible_collections.koprogo.storage.plugins.module_utils._manager import Manager, Parameters, run_module
from ansible_collections.koprogo.storage.plugins.module_utils._minio import connection_argument_spec
from ansible_collections.koprogo.storage.plugins.module_utils._policy import PolicyError, canonical_or_raw


class PolicyParameters(Parameters):
    """minio_policy options, parsed and validated before connecting (the first error wins)."""

    def __init__(self, params):
        super().__init__(params)
        self.name = params["name"]
        self.detach = params["detach"]
        self.desired = None
        error = validate_policy_name(self.name)
        if error:
            self.errors.append(error)
        elif self.name in BUILTIN_POLICIES:
            self.errors.append(f"'{self.name}' is a policy MinIO creates itself; it cannot be changed or deleted. "
                               "Create a policy with another name.")
        elif self.state == "present":
            self.desired = self.parse(load_desired_policy, params["policy"], PolicyError)


class PolicyManager(Manager):
    """Reads the policy once, compares it with the desired state and applies the difference."""

    resource_key = "policy"

    def read(self):
        existing = read_policy(self.conn, self.p.name)
        if existing:
            existing["document"] = canonical_or_raw(existing["document"])
        return existing

    def present(self):
        name, desired = self.p.name, self.p.desired
        if self.existing is None:
            self.diff.add("state", "absent", "present")
        elif self.existing["document"] != desired:
            self.diff.add("document", self.existing["document"], desired)
        if not self.diff:
            return self.existing
        self.changes.append(lambda: self.conn.call(f"write policy {name}", self.conn.admin.policy_add,
                                                   policy_name=name, policy=desired))
        base = self.existing or dict(name=name, attached_users=[], attached_groups=[])
        return self.apply(dict(base, document=desired), lambda: read_policy(self.conn, name))

    def absent(self):
        if self.existing is None:
            return None
        name = self.p.name
        users, groups = self.existing["attached_users"], self.existing["attached_groups"]
        if (users or groups) and not self.p.detach:
            holders = [f"{kind} {', '.join(names)}" for kind, names in (("users", users), ("groups", groups)) if names]
            self.fail(f"policy '{name}' is still attached to {' and '.join(holders)}; nothing was deleted. "
                      "Detach it first, or set detach: true")
        if users or groups:
            self.diff.add("attachments", dict(users=users, groups=groups), dict(users=[], groups=[]))
        self.diff.add("state", "present", "absent")
        for user in users:
            self.changes.append(lambda user=user: self.conn.call(
                f"detach policy {name} from user {user}", self.conn.admin.detach_policy, policies=[name], user=user))
        for group in groups:
            self.changes.append(lambda group=group: self.conn.call(
                f"detach policy {name} from group {group}", self.conn.admin.detach_policy, policies=[name],
                group=group))
        self.changes.append(lambda: self.conn.call(f"delete policy {name}", self.conn.admin.policy_remove,
                                                   policy_name=name))
        return self.apply(None, lambda: None)


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        policy=dict(type="raw"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        detach=dict(type="bool", default=False),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=[("state", "present", ["policy"])])
    run_module(module, PolicyParameters, PolicyManager)


if __name__ == "__main__":
    main()
