#!/usr/bin/python
# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: minio_info
short_description: Read a MinIO server's state (buckets, policies, users, access keys)
version_added: 0.1.0
description:
  - Reports the server version and mode, and every bucket with the same facets
    M(koprogo.storage.minio_bucket) manages, every IAM policy, user and service account.
  - It never returns a secret.
  - Its output is stable and keyed by name, so two runs can be compared as a drift report.
options:
  gather:
    description:
      - Which parts to read. Fewer parts means fewer API calls.
    type: list
    elements: str
    choices: [server, buckets, policies, users, service_accounts]
    default: [server, buckets, policies, users, service_accounts]
  buckets:
    description:
      - Only read these buckets. All buckets when unset.
    type: list
    elements: str
  include_builtin_policies:
    description:
      - Also list MinIO's built-in policies (V(readwrite), V(readonly), V(writeonly), V(diagnostics),
        V(consoleAdmin)).
    type: bool
    default: false
extends_documentation_fragment:
  - koprogo.storage.minio
  - koprogo.storage.minio.attributes_read_only
author:
  - KoproGo contributors (@koprogo)
seealso:
  - module: koprogo.storage.minio_bucket
  - module: koprogo.storage.minio_policy
  - module: koprogo.storage.minio_user
  - module: koprogo.storage.minio_service_account
"""

EXAMPLES = r"""
- name: Read everything
  koprogo.storage.minio_info:
    endpoint: http://127.0.0.1:9000
    access_key: "{{ minio_server_root_user }}"
    secret_key: "{{ minio_server_root_password }}"
  register: minio_state

- name: Fail when the documents bucket became public
  ansible.builtin.assert:
    that: minio_state.buckets['koprogo-documents'].anonymous_access == 'private'

- name: Only the buckets, for a quick drift report
  koprogo.storage.minio_info:
    gather: [buckets]
    buckets: [koprogo-documents]
  register: buckets_now
"""

RETURN = r"""
server:
  description: Server facts. Empty when V(server) is not gathered.
  returned: always
  type: dict
  contains:
    mode:
      description: V(online) when the server has quorum.
      type: str
      sample: online
    deployment_id:
      description: The deployment's identifier.
      type: str
    versions:
      description:
        - The versions the server nodes report (a release tag such as V(RELEASE.2025-10-15T17-29-55Z),
          or a development string for builds from source), sorted, without duplicates.
        - Compare it with the advisory list of the C(koprogo.storage.minio_server) role
          (C(vars/advisories.yml)) to know which known advisories the running server carries.
      type: list
      elements: str
      sample: [DEVELOPMENT.GOGET]
    commit_ids:
      description: The source commits the server nodes report, sorted, without duplicates.
      type: list
      elements: str
      sample: [DEVELOPMENT.GOGET]
    nodes:
      description: Number of server nodes.
      type: int
      sample: 1
    drives_online:
      description: Drives reported online.
      type: int
      sample: 1
    drives_offline:
      description: Drives reported offline.
      type: int
      sample: 0
    buckets:
      description: Number of buckets.
      type: int
    objects:
      description: Number of objects (from the last data usage scan).
      type: int
buckets:
  description:
    - Bucket name to its facets, as M(koprogo.storage.minio_bucket) returns them in its C(bucket) value.
  returned: always
  type: dict
  sample:
    koprogo-documents:
      exists: true
      versioning: enabled
      object_lock: false
      object_lock_retention: {}
      quota: 0
      anonymous_access: private
      policy: null
      tags: {}
      lifecycle:
        noncurrent_version_expiration_days: 90
        abort_incomplete_multipart_upload_days: 1
        other_rules: []
      encryption: none
policies:
  description: Policy name to its canonical document and where it is attached.
  returned: always
  type: dict
  sample:
    koprogo-backend:
      document: {Version: "2012-10-17", Statement: []}
      attached_users: [koprogo-backend]
      attached_groups: []
users:
  description: User name to its status and attached policies.
  returned: always
  type: dict
  sample:
    koprogo-backend: {status: enabled, policies: [koprogo-backend]}
service_accounts:
  description:
    - Access key to its settings, for the service accounts of every user and of the connecting account.
    - Each C(policy) is the account's own policy, or V(null) when it inherits its parent's.
  returned: always
  type: dict
  sample:
    koprogo-backend-app:
      parent_user: koprogo-backend
      status: enabled
      display_name: backend
      description: ""
      expiration: never
      policy: null
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.koprogo.storage.plugins.module_utils._bucket_state import (
    read_bucket,
    read_stale_upload_days,
)
from ansible_collections.koprogo.storage.plugins.module_utils._iam import BUILTIN_POLICIES
from ansible_collections.koprogo.storage.plugins.module_utils._iam_state import (
    list_policies,
    list_service_accounts,
    list_users,
    policy_attachments,
)
from ansible_collections.koprogo.storage.plugins.module_utils._minio import (
    MinioConnection,
    MinioError,
    connection_argument_spec,
    require_minio,
)
from ansible_collections.koprogo.storage.plugins.module_utils._policy import canonical_or_raw

PARTS = ["server", "buckets", "policies", "users", "service_accounts"]


def server_summary(info):
    """Pure: the parts of the admin `info` answer a drift report needs."""
    servers = info.get("servers") or []
    drives = [d for s in servers for d in (s.get("drives") or [])]
    return dict(
        mode=info.get("mode"),
        deployment_id=info.get("deploymentID"),
        versions=sorted({s.get("version") for s in servers if s.get("version")}),
        commit_ids=sorted({s.get("commitID") for s in servers if s.get("commitID")}),
        nodes=len(servers),
        drives_online=sum(1 for d in drives if d.get("state") == "ok"),
        drives_offline=sum(1 for d in drives if d.get("state") != "ok"),
        buckets=(info.get("buckets") or {}).get("count"),
        objects=(info.get("objects") or {}).get("count"),
    )


class InfoReader:
    def __init__(self, module, conn):
        self.module = module
        self.conn = conn
        self.gather = set(module.params["gather"])

    def server(self):
        return server_summary(self.conn.admin_json("read server info", self.conn.admin.info))

    def buckets(self):
        names = self.module.params["buckets"]
        if names is None:
            names = [b.name for b in self.conn.call("list buckets", self.conn.s3.list_buckets)]
        stale_days = read_stale_upload_days(self.conn)
        return {name: read_bucket(self.conn, name, stale_upload_days=stale_days) for name in sorted(names)}

    def policies(self):
        out = {}
        for name, document in sorted(list_policies(self.conn).items()):
            if name in BUILTIN_POLICIES and not self.module.params["include_builtin_policies"]:
                continue
            users, groups = policy_attachments(self.conn, name)
            out[name] = dict(document=canonical_or_raw(document), attached_users=users, attached_groups=groups)
        return out

    def service_accounts(self, users):
        out = {}
        for owner in sorted({*users, self.module.params["access_key"]}):
            for account in list_service_accounts(self.conn, owner):
                key_id = account.pop("key_id")
                out[key_id] = account
        return out

    def run(self):
        result = {part: {} for part in PARTS}
        if "server" in self.gather:
            result["server"] = self.server()
        if "buckets" in self.gather:
            result["buckets"] = self.buckets()
        if "policies" in self.gather:
            result["policies"] = self.policies()
        users = list_users(self.conn) if self.gather & {"users", "service_accounts"} else {}
        if "users" in self.gather:
            result["users"] = users
        if "service_accounts" in self.gather:
            result["service_accounts"] = self.service_accounts(users)
        return result


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        gather=dict(type="list", elements="str", choices=PARTS, default=list(PARTS)),
        buckets=dict(type="list", elements="str"),
        include_builtin_policies=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_minio(module)
    try:
        conn = MinioConnection.from_module(module)
        result = InfoReader(module, conn).run()
    except MinioError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
