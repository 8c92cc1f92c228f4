#!/usr/bin/python
# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: minio_bucket
short_description: Manage a MinIO bucket and its settings
version_added: 0.1.0
description:
  - Create or delete a bucket on a MinIO server and manage its versioning, object lock, default
    retention, hard quota, anonymous access or bucket policy, tags, lifecycle and default encryption.
  - Every setting is a separate facet. An option left unset is not managed, so the module never
    touches what you did not ask for.
  - The module reads the bucket once, compares each managed facet, and writes only the facets that
    differ. Invalid input (bucket name, quota, policy JSON, conflicting options, object lock on an
    existing bucket without it, SSE-S3 on a server without KMS) fails before any write.
author:
  - KoproGo contributors (@koprogo)
options:
  name:
    description:
      - Name of the bucket. It must follow the S3 naming rules (3 to 63 lowercase letters, digits,
        hyphens and dots, starting and ending with a letter or digit, not an IP address, no V(..),
        no V(xn--) prefix, no V(-s3alias) suffix).
    type: str
    required: true
    aliases: [bucket]
  state:
    description:
      - V(present) creates the bucket if needed and applies the managed facets.
      - V(absent) deletes the bucket. A bucket that still holds objects is not deleted unless O(force=true).
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), delete every object version and delete marker first, then the bucket.
      - Objects under a GOVERNANCE retention are deleted too (governance bypass); objects under
        COMPLIANCE retention cannot be deleted and make the task fail.
    type: bool
    default: false
  versioning:
    description:
      - V(enabled) keeps every version of every object. V(suspended) stops creating new versions.
      - A bucket that was never versioned counts as V(suspended), so it is left as it is.
      - A bucket with object lock is always versioned; V(suspended) is refused for it.
    type: str
    choices: [enabled, suspended]
  object_lock:
    description:
      - Create the bucket with object lock (which also enables versioning).
      - Object lock can only be chosen when the bucket is created. The task fails, before any
        change, if V(true) is asked for an existing bucket without object lock, or V(false) for one
        that has it.
    type: bool
  object_lock_retention:
    description:
      - Default retention applied to new objects of a bucket with object lock.
      - Set V({}) or O(object_lock_retention.mode=null) to remove the default retention.
    type: dict
    suboptions:
      mode:
        description:
          - V(GOVERNANCE) (users with C(s3:BypassGovernanceRetention) may still delete) or
            V(COMPLIANCE) (nobody can delete until the retention ends).
        type: str
      days:
        description: Retention period in days (at least 1). Required with O(object_lock_retention.mode).
        type: int
  quota:
    description:
      - Hard quota of the bucket. Writes that would exceed it are refused.
      - A number of bytes, or a text with a unit; V(KB), V(MB), V(GB), V(TB) are decimal and V(KiB),
        V(MiB), V(GiB), V(TiB) binary, for example V(10GiB) or V(500MB).
      - V(0) or an empty string removes the quota.
      - Needs admin rights (the quota is managed through the MinIO admin API).
    type: raw
  anonymous_access:
    description:
      - What anonymous (unauthenticated) clients may do, written as a bucket policy shaped like the
        one C(mc anonymous set) writes.
      - V(private) (nothing; V(none) is accepted as in C(mc anonymous set none)), V(download) (list and
        read), V(upload) (write and delete, no read) or V(public) (both) for the whole bucket.
      - Or a list of rules, each a dict with C(prefix) (a key prefix such as V(public/)) and C(access)
        (one of the levels above), to open only parts of the bucket. Prefixes not listed stay private.
      - The module compares the grants, not the text, so a policy written by C(mc anonymous set) with
        the same meaning is not rewritten. A policy that grants anything else is reported as V(custom)
        and replaced.
      - Mutually exclusive with O(policy).
    type: raw
  policy:
    description:
      - Full bucket policy, as a dict or JSON text. Every Resource must be in this bucket.
      - 'Compared canonically, so statement order, a string versus a one-element list, a missing
        Version or C("Principal": "*") versus C({"AWS": ["*"]}) make no difference.'
      - Set V({}) or an empty string to remove the bucket policy.
      - Mutually exclusive with O(anonymous_access).
    type: raw
  tags:
    description:
      - Bucket tags (at most 50; keys up to 128 and values up to 256 characters).
      - With O(purge_tags=true), tags not listed are removed; V({}) removes every tag.
    type: dict
  purge_tags:
    description:
      - Remove tags that are not listed in O(tags). Has no effect when O(tags) is not set.
    type: bool
    default: true
  lifecycle:
    description:
      - Lifecycle settings. A key left unset is not managed.
      - Lifecycle rules of other kinds, or with filters, are kept as they are and listed in
        RV(bucket.lifecycle.other_rules).
    type: dict
    suboptions:
      noncurrent_version_expiration_days:
        description:
          - Delete noncurrent object versions this many days after they become noncurrent.
          - Managed as one whole-bucket lifecycle rule (ID V(noncurrent-version-expiration)); an
            equivalent rule made by another tool (for example C(mc ilm rule add --noncurrent-expire-days))
            is recognised and not duplicated.
          - V(0) removes that rule.
        type: int
      abort_incomplete_multipart_upload_days:
        description:
          - Abort incomplete multipart uploads after at most this many days (at least 1).
          - MinIO ignores C(AbortIncompleteMultipartUpload) in bucket lifecycle rules. It aborts
            stale uploads of B(all) buckets after its server-wide C(api stale_uploads_expiry)
            setting (24 hours by default). The module therefore checks that setting, and when it is
            longer than this value, lowers it to this many days, which affects every bucket. It
            never raises it.
        type: int
  encryption:
    description:
      - Default encryption of new objects. V(sse-s3) encrypts with the server's KMS key;
        V(none) removes the default encryption.
      - V(sse-s3) needs a KMS on the server (C(MINIO_KMS_SECRET_KEY) or KES). Without one the task
        fails, before any change, with a message naming the missing KMS.
    type: str
    choices: [sse-s3, none]
extends_documentation_fragment:
  - koprogo.storage.minio
  - koprogo.storage.minio.attributes
attributes:
  action_group:
    description: Use C(group/koprogo.storage.minio) in C(module_defaults) to set the connection options.
    support: full
    membership: [koprogo.storage.minio]
seealso:
  - module: koprogo.storage.minio_policy
  - module: koprogo.storage.minio_info
notes:
  - The returned RV(changed_facets) lists what differed; in check mode it is a drift report.
"""

EXAMPLES = r"""
- name: Private, versioned document bucket with quota, lifecycle and encryption
  koprogo.storage.minio_bucket:
    endpoint: http://127.0.0.1:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    name: koprogo-documents
    versioning: enabled
    quota: 50GiB
    anonymous_access: private
    tags:
      app: koprogo
      data: documents
    lifecycle:
      noncurrent_version_expiration_days: 30
      abort_incomplete_multipart_upload_days: 1
    encryption: sse-s3

- name: Connection options set once for the whole play
  hosts: storage
  module_defaults:
    group/koprogo.storage.minio:
      endpoint: http://127.0.0.1:9000
      access_key: "{{ minio_root_user }}"
      secret_key: "{{ minio_root_password }}"
  tasks:
    - name: Public read on one prefix only
      koprogo.storage.minio_bucket:
        name: koprogo-public
        anonymous_access:
          - prefix: logos/
            access: download

    - name: Write-once archive bucket (object lock is only possible at creation)
      koprogo.storage.minio_bucket:
        name: koprogo-archive
        object_lock: true
        object_lock_retention:
          mode: GOVERNANCE
          days: 365

    - name: Custom bucket policy from a file
      koprogo.storage.minio_bucket:
        name: koprogo-exports
        policy: "{{ lookup('ansible.builtin.file', 'exports-policy.json') }}"

    - name: Report drift without changing anything
      koprogo.storage.minio_bucket:
        name: koprogo-documents
        versioning: enabled
        encryption: sse-s3
      check_mode: true
      register: drift

    - name: Delete a bucket and everything in it
      koprogo.storage.minio_bucket:
        name: koprogo-scratch
        state: absent
        force: true
"""

RETURN = r"""
changed_facets:
  description:
    - Names of the facets that differed from the requested state (V(state) when the bucket was
      created or deleted). In check mode this is a drift report.
  returned: always
  type: list
  elements: str
  sample: [versioning, tags]
bucket:
  description:
    - The bucket as the server reports it after the task (read back after changes; predicted in check mode).
    - After O(state=absent) only RV(bucket.name) and RV(bucket.exists=false).
  returned: always
  type: dict
  contains:
    name:
      description: Bucket name.
      type: str
      sample: koprogo-documents
    exists:
      description: Whether the bucket exists.
      type: bool
    versioning:
      description: V(enabled), V(suspended) or V(off) (never versioned).
      type: str
      sample: enabled
    object_lock:
      description: Whether the bucket has object lock.
      type: bool
    object_lock_retention:
      description: Default retention, V({}) when none. Has C(mode) and C(days) (or C(years) if set so by another tool).
      type: dict
      sample: {mode: GOVERNANCE, days: 30}
    quota:
      description: Hard quota in bytes, V(0) when none, null when the credentials cannot read it.
      type: int
      sample: 53687091200
    anonymous_access:
      description:
        - V(private), V(download), V(upload) or V(public) for the whole bucket, a list of
          C({prefix, access}) rules, or V(custom) when the bucket policy grants anything else.
      type: raw
      sample: private
    policy:
      description: The bucket policy document, null when none.
      type: dict
    tags:
      description: Bucket tags.
      type: dict
      sample: {app: koprogo}
    lifecycle:
      description: Lifecycle facets.
      type: dict
      contains:
        noncurrent_version_expiration_days:
          description: Days of the whole-bucket noncurrent version expiration rule, null when none.
          type: int
        abort_incomplete_multipart_upload_days:
          description:
            - Server-wide days after which MinIO aborts incomplete uploads (C(api stale_uploads_expiry)).
            - Null unless the task manages O(lifecycle.abort_incomplete_multipart_upload_days) (reading
              it costs a slow, encrypted admin call).
          type: float
        other_rules:
          description: IDs of the lifecycle rules the module does not manage (kept as they are).
          type: list
          elements: str
    encryption:
      description: Default encryption, V(none), V(sse-s3) or V(sse-kms).
      type: str
      sample: sse-s3
diff:
  description: Before and after state of the bucket, when run with C(--diff).
  returned: when diff mode is on
  type: dict
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.koprogo.storage.plugins.module_utils._bucket import (
    PolicyError,
    abort_multipart_matches,
    access_policy,
    classify_policy,
    desired_tags,
    noncurrent_matches,
    normalize_access_rules,
    normalize_retention,
    parse_size,
    report_access_rules,
    validate_bucket_name,
    validate_bucket_policy,
    validate_lifecycle,
    validate_tags,
    versioning_matches,
)
from ansible_collections.koprogo.storage.plugins.module_utils._bucket_state import (
    NO_KMS_MESSAGE,
    READ,
    create_bucket,
    first_object,
    kms_available,
    read_state,
    remove_bucket,
    set_encryption,
    set_noncurrent_expiration,
    set_policy,
    set_quota,
    set_retention,
    set_stale_upload_days,
    set_tags,
    set_versioning,
)
from ansible_collections.koprogo.storage.plugins.module_utils._manager import Manager, Parameters, run_module
from ansible_collections.koprogo.storage.plugins.module_utils._minio import connection_argument_spec
from ansible_collections.koprogo.storage.plugins.module_utils._policy import policies_equal


class BucketParameters(Parameters):
    """minio_bucket options, parsed and validated before connecting."""

    def __init__(self, params):
        super().__init__(params)
        self.name = params["name"]
        self.force = params["force"]
        self.versioning = params["versioning"]
        self.object_lock = params["object_lock"]
        self.purge_tags = params["purge_tags"]
        self.encryption = params["encryption"]

        self.check(validate_bucket_name(self.name))
        self.quota = self.parse(parse_size, params["quota"], ValueError) if params["quota"] is not None else None
        self.retention = None
        if params["object_lock_retention"] is not None:
            self.retention = self.parse(normalize_retention, params["object_lock_retention"], ValueError)
        self.access_rules = None
        if params["anonymous_access"] is not None:
            self.access_rules = self.parse(normalize_access_rules, params["anonymous_access"], ValueError)
        self.policy = None
        self.manage_policy = params["policy"] is not None
        if self.manage_policy and params["policy"] not in ("", {}):
            self.policy = self.parse(lambda p: validate_bucket_policy(self.name, p), params["policy"], PolicyError)
        self.tags = self.parse(validate_tags, params["tags"], ValueError)
        self.lifecycle = self.parse(validate_lifecycle, params["lifecycle"], ValueError)
        if self.object_lock is False and self.retention:
            self.errors.append("object_lock_retention needs a bucket with object lock, but object_lock is false")
        if self.object_lock and self.versioning == "suspended":
            self.errors.append("versioning cannot be suspended on a bucket with object lock")


def new_bucket_baseline(name, object_lock, stale_days):
    """What a bucket looks like right after creation (the 'current' state to compare against)."""
    return {
        "name": name, "exists": True, "versioning": "enabled" if object_lock else "off",
        "object_lock": bool(object_lock), "object_lock_retention": {}, "quota": 0,
        "anonymous_access": "private", "policy": None, "tags": {},
        "lifecycle": {"noncurrent_version_expiration_days": None,
                      "abort_incomplete_multipart_upload_days": stale_days, "other_rules": []},
        "encryption": "none",
    }


class BucketManager(Manager):
    """Read the bucket once, compare every managed facet, write only what differs."""

    def _stale(self):
        """Read the slow server-wide stale upload setting only when the task manages it."""
        lifecycle = self.p.lifecycle or {}
        return READ if "abort_incomplete_multipart_upload_days" in lifecycle else None

    def run(self):
        state = read_state(self.conn, self.p.name, stale_upload_days=self._stale())
        before = copy.deepcopy(state.report)
        after = self.present(state) if self.p.state == "present" else self.absent(state)
        self.results["changed"] = bool(self.diff)
        self.results["changed_facets"] = self.diff.changed_facets
        self.results["bucket"] = after
        if self.module._diff:
            self.results["diff"] = {"before": before, "after": after}

    # --- state: present ---------------------------------------------------------

    def present(self, state):
        p = self.p
        name = p.name
        if state.exists:
            current = state.report
            has_lock = current["object_lock"]
            if p.object_lock and not has_lock:
                self.fail(f"bucket '{name}' exists without object lock; object lock can only be enabled when a "
                          "bucket is created (create a new bucket with object_lock: true and copy the data)")
            if p.object_lock is False and has_lock:
                self.fail(f"bucket '{name}' has object lock, which cannot be turned off")
        else:
            has_lock = bool(p.object_lock)
            current = new_bucket_baseline(name, has_lock, state.stale_upload_days)
            self.diff.add("state", "absent", "present")
            self.changes.append(lambda: create_bucket(self.conn, name, has_lock))
        if p.retention and not has_lock:
            self.fail(f"object_lock_retention needs object lock, and bucket '{name}' "
                      + ("has none" if state.exists else "would be created without it (set object_lock: true)"))
        if p.versioning == "suspended" and has_lock:
            self.fail(f"versioning cannot be suspended on bucket '{name}': it has object lock")

        after = copy.deepcopy(current)
        self._encryption(current, after)  # first: it may fail on a server without KMS
        self._versioning(current, after)
        self._retention(current, after)
        self._quota(current, after)
        self._access(current, after)
        self._tags(current, after)
        self._lifecycle(current, after, state)

        if not self.changes or self.module.check_mode:
            return after
        for change in self.changes:
            change()
        return read_state(self.conn, name, stale_upload_days=self._stale()).report

    def _facet(self, current, after, facet, want, write, same=lambda have, want: have == want):
        """One facet set by one write: queue write(conn, name, want) when want is managed and differs."""
        if want is not None and not same(current[facet], want):
            self.diff.add(facet, current[facet], want)
            after[facet] = want
            self.changes.append(lambda: write(self.conn, self.p.name, want))

    def _versioning(self, current, after):
        self._facet(current, after, "versioning", self.p.versioning, set_versioning, same=versioning_matches)

    def _retention(self, current, after):
        self._facet(current, after, "object_lock_retention", self.p.retention, set_retention)

    def _quota(self, current, after):
        self._facet(current, after, "quota", self.p.quota, set_quota)

    def _access(self, current, after):
        name = self.p.name
        if self.p.access_rules is not None:
            want = self.p.access_rules
            if classify_policy(name, current["policy"]) != want:
                policy = access_policy(name, want)
                self.diff.add("anonymous_access", current["anonymous_access"], report_access_rules(want))
                after["anonymous_access"] = report_access_rules(want)
                after["policy"] = policy
                self.changes.append(lambda: set_policy(self.conn, name, policy))
        elif self.p.manage_policy:
            want = self.p.policy
            if not policies_equal(current["policy"], want):
                self.diff.add("policy", current["policy"], want)
                after["policy"] = want
                rules = classify_policy(name, want)
                after["anonymous_access"] = rules if rules == "custom" else report_access_rules(rules)
                self.changes.append(lambda: set_policy(self.conn, name, want))

    def _tags(self, current, after):
        if self.p.tags is None:
            return
        want = desired_tags(current["tags"], self.p.tags, self.p.purge_tags)
        if want != current["tags"]:
            self.diff.add("tags", current["tags"], want)
            after["tags"] = want
            self.changes.append(lambda: set_tags(self.conn, self.p.name, want))

    def _lifecycle(self, current, after, state):
        want = self.p.lifecycle
        if not want:
            return
        cur = current["lifecycle"]
        new = dict(cur)
        writes = []
        days = want.get("noncurrent_version_expiration_days")
        if days is not None and not noncurrent_matches(state.lifecycle_summaries, days):
            new["noncurrent_version_expiration_days"] = days or None
            writes.append(lambda: set_noncurrent_expiration(self.conn, state, days))
        abort = want.get("abort_incomplete_multipart_upload_days")
        if abort is not None and not abort_multipart_matches(cur["abort_incomplete_multipart_upload_days"], abort):
            new["abort_incomplete_multipart_upload_days"] = abort
            writes.append(lambda: set_stale_upload_days(self.conn, abort))
        if writes:
            self.diff.add("lifecycle", cur, new)
            after["lifecycle"] = new
            self.changes.extend(writes)

    def _encryption(self, current, after):
        want = self.p.encryption
        if want is None or current["encryption"] == want:
            return
        if want == "sse-s3" and kms_available(self.conn) is False:
            self.fail(f"cannot set encryption sse-s3 on bucket '{self.p.name}': "
                      + NO_KMS_MESSAGE.format(endpoint=self.conn.endpoint) + "; nothing was changed")
        self.diff.add("encryption", current["encryption"], want)
        after["encryption"] = want
        self.changes.append(lambda: set_encryption(self.conn, self.p.name, want))

    # --- state: absent ----------------------------------------------------------

    def absent(self, state):
        name = self.p.name
        gone = {"name": name, "exists": False}
        if not state.exists:
            return gone
        first = first_object(self.conn, name)
        if first is not None and not self.p.force:
            self.fail(f"bucket '{name}' is not empty (it holds '{first}' and maybe more); nothing was deleted. "
                      "Set force: true to delete every object version and then the bucket")
        self.diff.add("state", "present", "absent")
        if not self.module.check_mode:
            remove_bucket(self.conn, name, purge=first is not None)
        return gone


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        name=dict(type="str", required=True, aliases=["bucket"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        force=dict(type="bool", default=False),
        versioning=dict(type="str", choices=["enabled", "suspended"]),
        object_lock=dict(type="bool"),
        object_lock_retention=dict(type="dict", options=dict(mode=dict(type="str"), days=dict(type="int"))),
        quota=dict(type="raw"),
        anonymous_access=dict(type="raw"),
        policy=dict(type="raw"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
        lifecycle=dict(type="dict", options=dict(
            noncurrent_version_expiration_days=dict(type="int"),
            abort_incomplete_multipart_upload_days=dict(type="int"),
        )),
        encryption=dict(type="str", choices=["sse-s3", "none"]),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[("anonymous_access", "policy")])
    run_module(module, BucketParameters, BucketManager)


if __name__ == "__main__":
    main()
