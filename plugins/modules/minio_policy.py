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
from ansible_collections.koprogo.storage.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.koprogo.storage.plugins.module_utils._iam import (
    BUILTIN_POLICIES,
    load_desired_policy,
    read_policy,
    validate_policy_name,
)
from ansible_collections.koprogo.storage.plugins.module_utils._minio import (
    MinioConnection,
    MinioError,
    connection_argument_spec,
    require_minio,
)
from ansible_collections.koprogo.storage.plugins.module_utils._policy import PolicyError, canonical_policy


def _canonical_or_raw(document):
    try:
        return canonical_policy(document)
    except PolicyError:
        return document


class PolicyManager:
    """Reads the policy once, compares it with the desired state and applies the difference."""

    def __init__(self, module):
        self.module = module
        self.check_mode = module.check_mode
        self.name = module.params["name"]
        self.state = module.params["state"]
        self.detach = module.params["detach"]
        self.desired = None
        self.diff = DifferenceTracker()
        self.validate()
        self.conn = MinioConnection.from_module(module)
        self.existing = read_policy(self.conn, self.name)
        if self.existing:
            self.existing["document"] = _canonical_or_raw(self.existing["document"])

    def fail(self, msg):
        self.module.fail_json(msg=msg, changed=False)

    def validate(self):
        error = validate_policy_name(self.name)
        if error:
            self.fail(error)
        if self.name in BUILTIN_POLICIES:
            self.fail(f"'{self.name}' is a policy MinIO creates itself; it cannot be changed or deleted. "
                      "Create a policy with another name.")
        if self.state == "present":
            try:
                self.desired = load_desired_policy(self.module.params["policy"])
            except PolicyError as exc:
                self.fail(str(exc))

    def present(self):
        if self.existing is None:
            self.diff.add("state", "absent", "present")
        elif self.existing["document"] != self.desired:
            self.diff.add("document", self.existing["document"], self.desired)
        if self.diff and not self.check_mode:
            self.conn.call(f"write policy {self.name}", self.conn.admin.policy_add,
                           policy_name=self.name, policy=self.desired)
        if self.diff and self.check_mode:
            base = self.existing or dict(name=self.name, attached_users=[], attached_groups=[])
            return dict(base, document=self.desired)
        return read_policy(self.conn, self.name) if self.diff else self.existing

    def absent(self):
        if self.existing is None:
            return None
        users, groups = self.existing["attached_users"], self.existing["attached_groups"]
        if (users or groups) and not self.detach:
            holders = [f"{kind} {', '.join(names)}" for kind, names in (("users", users), ("groups", groups)) if names]
            self.fail(f"policy '{self.name}' is still attached to {' and '.join(holders)}; nothing was deleted. "
                      "Detach it first, or set detach: true")
        if users or groups:
            self.diff.add("attachments", dict(users=users, groups=groups), dict(users=[], groups=[]))
        self.diff.add("state", "present", "absent")
        if not self.check_mode:
            for user in users:
                self.conn.call(f"detach policy {self.name} from user {user}", self.conn.admin.detach_policy,
                               policies=[self.name], user=user)
            for group in groups:
                self.conn.call(f"detach policy {self.name} from group {group}", self.conn.admin.detach_policy,
                               policies=[self.name], group=group)
            self.conn.call(f"delete policy {self.name}", self.conn.admin.policy_remove, policy_name=self.name)
        return None

    def run(self):
        result = self.present() if self.state == "present" else self.absent()
        self.module.exit_json(**self.diff.module_result("policy", self.existing, result, self.module._diff))


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        name=dict(type="str", required=True),
        policy=dict(type="raw"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        detach=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[("state", "present", ["policy"])])
    require_minio(module)
    try:
        PolicyManager(module).run()
    except MinioError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
