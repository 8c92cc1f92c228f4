#!/usr/bin/python
# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: s3_sync
short_description: Copy a bucket or a directory to a bucket (or a bucket to a directory), verifying every object
version_added: 0.2.0
description:
  - Copies every object under a source prefix (a bucket on MinIO or any S3 service, or a local directory
    such as KoproGo's E(UPLOAD_DIR)) to a target bucket and prefix, with its bytes, Content-Type,
    Content-Encoding, Content-Disposition, Cache-Control, Content-Language, user metadata and tags.
  - Only objects missing at the target or different from the source are copied; a second run copies
    nothing and reports no change. For a versioned source, the current version of each object is copied
    (older versions and delete markers are not).
  - Every copied object is verified on both sides, see O(verify). By default the bytes are hashed (sha256,
    MD5) while they stream from the source into the upload, the MD5 is checked against the source's ETag,
    and the target's ETag must be the MD5 (or multipart MD5) of those bytes; size, the headers above, user
    metadata and tags are compared with what the target reports. Objects already present are compared before
    deciding, see O(compare). The module fails, naming the keys, when an object is missing or differs.
  - On MinIO, headers, user metadata and tags are taken from the listings (MinIO's C(metadata=true)
    extension), which saves two requests per object; other servers are asked object by object.
  - A local directory can also be the target of a bucket (O(target.path)), to roll KoproGo back to its
    E(UPLOAD_DIR). Each object becomes the file at its key below the source prefix; only the bytes are kept
    and verified (size and sha256 of the file written against the bytes read), see RV(not_preserved).
  - Nothing is ever deleted at the source. Objects at the target that the source does not have are only
    reported, unless O(delete_extra=true).
  - Keys may hold any UTF-8 character (spaces, accents, tabs, control characters); listings use
    C(encoding-type=url).
  - Talks S3 through the minio Python SDK, so it works against MinIO and other S3 services (Scaleway, OVH,
    Backblaze B2, AWS). It never runs C(mc).
author:
  - KoproGo contributors (@koprogo)
options:
  source:
    description:
      - Where the objects come from. Either O(source.path) (a local directory on the host that runs the
        module) or O(source.endpoint), O(source.bucket) and credentials.
    type: dict
    required: true
    suboptions: &location
      path:
        description:
          - Absolute path of a local directory.
          - As the source, each regular file becomes the object whose key is O(target.prefix) followed by its
            path relative to the directory, with C(/) separators (for KoproGo's C(UPLOAD_DIR),
            C(<building>/<uuid>_<name>), the value its database stores). Symbolic links, special files and
            names that are not UTF-8 fail the run before any write.
          - As the target (the source must then be a bucket), each object is written to the file at its key
            below the source prefix, through a temporary file in the same directory that is flushed to disk
            and renamed over the final name, so no file is ever half-written under its name. Missing
            directories are created (mode 0750, owned as O(target.owner) and O(target.group)). The directory
            itself must exist. Keys that are absolute, have an empty, C(.) or C(..) segment, or are also the
            directory of another key are refused, listed, before any write.
          - A file keeps the bytes only; Content-* headers, user metadata and tags are lost (RV(not_preserved)).
            Files are compared and verified by size and sha256; existing identical files are left alone
            (their owner and mode too), files the source does not have are left alone and reported in
            RV(extra_keys) (O(delete_extra) is refused).
        type: path
      owner:
        description:
          - Local directory target only. Owner (name or uid) of the files and directories written, for
            example V(1000), the uid KoproGo's backend runs as in its container, so it can read them.
        type: str
      group:
        description: Local directory target only. Group (name or gid) of the files and directories written.
        type: str
      mode:
        description:
          - Local directory target only. Mode of the files written, in octal (V('0640') when unset, so the owner,
            the backend, reads and writes them). Directories created get V('0750').
        type: raw
      endpoint:
        description:
          - URL of the S3 API, with scheme and optional port and no path, for example
            V(http://127.0.0.1:9000) or V(https://s3.fr-par.scw.cloud).
        type: str
      bucket:
        description: Bucket name.
        type: str
      prefix:
        description:
          - Key prefix. Only keys under it are read (source) or written and compared (target); the source prefix
            is replaced by the target prefix in each key. V(documents) and V(documents/) are the same.
        type: str
        default: ''
      access_key:
        description: Access key.
        type: str
      secret_key:
        description: Secret key. Never logged, scrubbed from error messages.
        type: str
      region:
        description:
          - Region used to sign requests (V(fr-par) on Scaleway, V(gra) or V(sbg) on OVH, V(us-east-1) on
            MinIO), and the region a bucket is created in with O(target_create_bucket).
        type: str
        default: us-east-1
      addressing_style:
        description:
          - V(path) sends C(https://host/bucket/key); V(virtual) sends C(https://bucket.host/key).
          - V(auto) uses virtual-hosted style for Amazon host names and path style elsewhere.
        type: str
        choices: [auto, path, virtual]
        default: auto
      validate_certs:
        description: Verify the server's TLS certificate.
        type: bool
        default: true
      ca_path:
        description: PEM file of the certificate authority that signed the server certificate.
        type: path
      timeout:
        description: Connection timeout in seconds; reads may take three times longer.
        type: float
        default: 30.0
  target:
    description:
      - Where the objects go, an S3 bucket or, from a bucket, a local directory (O(target.path)).
    type: dict
    required: true
    suboptions: *location
  target_create_bucket:
    description:
      - Create the target bucket when it does not exist. Off by default because many providers do not let
        application keys create buckets; the module then fails before copying.
    type: bool
    default: false
  delete_extra:
    description:
      - Delete objects under the target prefix that the source does not have (after the copy succeeded).
      - Objects at the source are never deleted. Refused for a local directory target.
    type: bool
    default: false
  guess_content_type:
    description:
      - For a local directory source, set each object's Content-Type from its file name (V(false) sends
        C(application/octet-stream), like KoproGo's S3 provider).
    type: bool
    default: true
  tags:
    description:
      - Copy and compare object tags (on servers other than MinIO, each costs one request per object and
        side).
      - V(false) for keys without C(s3:GetObjectTagging) and C(s3:PutObjectTagging), such as the KoproGo
        backend's least-privilege key; tags are then neither copied nor compared.
    type: bool
    default: true
  compare:
    description:
      - How an object present on both sides is found unchanged.
      - V(full) reads it on both sides and compares size, sha256, the Content-* headers, user metadata and
        tags.
      - V(etag) takes it as unchanged, without reading it, when the listings show the same size and the same
        single-part ETag (the MD5 of the bytes; for a local file, its MD5 computed locally), and falls back
        to V(full) otherwise. Metadata-only or tag-only changes are then not seen. Meant for the delta sync
        during a write freeze (KoproGo only writes new objects), after a V(full) run.
      - Objects copied by the run are always verified, see O(verify).
    type: str
    choices: [full, etag]
    default: full
  verify:
    description:
      - How each object copied by the run is verified.
      - V(etag) hashes the bytes as they stream from the source to the target, checks their MD5 against the
        source's ETag when it is a single-part MD5, and requires the ETag the target computed on receipt to
        be the MD5 of the bytes sent (for a multipart upload, the MD5 of the part MD5s followed by
        C(-<parts>), computed from the part size); it compares size, Content-* headers, user metadata and
        tags with what the target reports (its listing on MinIO, else a HEAD and a tagging request). The
        bytes are not read back. This proves the target stored the bytes read at the source, as far as
        MD5 can tell them apart (accidental corruption, not an adversary).
      - V(full) also reads every copied object back from the target and compares sha256 computed on both
        sides, which doubles the reads. Use it when the target's ETags are not MD5s (server-side
        encryption with KMS or customer keys, some gateways); with V(etag) such a target fails the run
        naming the objects, it never passes silently.
    type: str
    choices: [etag, full]
    default: etag
  part_size_mib:
    description:
      - Multipart part size in MiB for large objects (objects up to this size are sent in one request).
      - Between 5 and 5120 (S3's limits); some providers accept fewer parts or smaller maximum sizes.
    type: int
    default: 64
  workers:
    description:
      - How many objects are read, compared or copied in parallel (between 1 and 32), each over its own
        kept-open connection to each side. The work waits mostly on the network and the servers, so more
        workers than CPUs pay off.
    type: int
    default: 8
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Returns the keys that would be copied or deleted, with the reason.
    support: full
notes:
  - With O(compare=full), a run reads every object on both sides, so its duration grows with the data;
    O(compare=etag) reads only what the listings show as new or different.
  - An object written at the source during a run may or may not be copied by it; run the module again
    (the delta sync right before switching the application) to pick it up.
requirements:
  - minio >= 7.2.14, < 8 (the Python SDK) on the host that runs the module.
seealso:
  - module: koprogo.storage.minio_bucket
"""

EXAMPLES = r"""
- name: Roll back to KoproGo's local uploads (keys below documents/ become files under documents/)
  koprogo.storage.s3_sync:
    source:
      endpoint: http://127.0.0.1:9000
      bucket: koprogo-documents
      access_key: "{{ vault_minio_root_user }}"
      secret_key: "{{ vault_minio_root_password }}"
    target:
      path: /srv/koprogo-data/uploads
      owner: "1000"
      group: "1000"

- name: KoproGo's local uploads into the collection's MinIO (keys as the database stores them)
  koprogo.storage.s3_sync:
    source:
      path: /srv/koprogo-data/uploads
    target:
      endpoint: http://127.0.0.1:9000
      bucket: koprogo-documents
      access_key: "{{ vault_minio_root_user }}"
      secret_key: "{{ vault_minio_root_password }}"

- name: MinIO to Scaleway Object Storage, then delete what the source no longer has
  koprogo.storage.s3_sync:
    source:
      endpoint: http://127.0.0.1:9000
      bucket: koprogo-documents
      prefix: documents
      access_key: "{{ vault_minio_root_user }}"
      secret_key: "{{ vault_minio_root_password }}"
    target:
      endpoint: https://s3.fr-par.scw.cloud
      region: fr-par
      addressing_style: virtual
      bucket: koprogo-documents-prod
      prefix: documents
      access_key: "{{ vault_scw_access_key }}"
      secret_key: "{{ vault_scw_secret_key }}"
    delete_extra: true
    part_size_mib: 100
"""

RETURN = r"""
source_objects:
  description: Objects listed at the source.
  returned: always
  type: int
  sample: 1204
copied:
  description: Objects copied (in check mode, that would be copied).
  returned: always
  type: int
  sample: 12
copied_keys:
  description: Target keys copied (or that would be), sorted.
  returned: always
  type: list
  elements: str
bytes_copied:
  description: Bytes copied.
  returned: always
  type: int
unchanged:
  description: Objects already identical at the target (compared field by field, bytes included, or by ETag).
  returned: always
  type: int
unchanged_by_etag:
  description: Of RV(unchanged), the objects taken as identical from their listed size and ETag (O(compare=etag)).
  returned: always
  type: int
verified:
  description: Objects found identical on both sides after the run (0 in check mode).
  returned: always
  type: int
deleted_keys:
  description: Target keys deleted (or that would be) because of O(delete_extra).
  returned: always
  type: list
  elements: str
extra_keys:
  description: Target keys the source does not have, left in place (O(delete_extra=false)).
  returned: always
  type: list
  elements: str
vanished_keys:
  description:
    - Target keys whose source object was deleted between the listing and its copy (for example by the backend
      while the copy ran). They are neither copied nor counted as missing; listed here so that nothing is
      skipped silently. A later run (the delta sync) no longer sees them at the source.
  returned: always
  type: list
  elements: str
missing:
  description:
    - Source objects (target keys) absent at the target after the run. In check mode, before it.
  returned: always
  type: list
  elements: str
mismatched:
  description:
    - Objects that differ between the source and the target after the run, with the differing fields.
      In check mode, before it.
  returned: always
  type: list
  elements: dict
  sample: [{"key": "documents/b1/x.pdf", "fields": ["sha256", "content_type"]}]
not_preserved:
  description:
    - What the target cannot keep of each object, for a local directory target (the Content-* headers, user
      metadata and tags, which a plain file does not hold); empty for a bucket target.
  returned: always
  type: list
  elements: str
  sample: [content_type, content_encoding, content_disposition, cache_control, content_language, metadata, tags]
failures:
  description: Objects whose copy failed, with the error (the run then fails).
  returned: always
  type: list
  elements: dict
"""

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.koprogo.storage.plugins.module_utils._minio import MinioError, require_minio, scrub
from ansible_collections.koprogo.storage.plugins.module_utils._sync import (
    ETAG_FIELDS,
    FIDELITY_FIELDS,
    LOCAL_FIELDS,
    LOCAL_NOT_PRESERVED,
    differences,
    failure_message,
    local_target_problems,
    map_key,
    normalize_prefix,
    parse_mode,
    plain_etag,
    plan,
    same_by_etag,
    same_place,
    validate_local_target,
    validate_location,
    validate_part_size,
    verification,
)
from ansible_collections.koprogo.storage.plugins.module_utils._sync_state import (
    bucket_exists,
    connect,
    copy_local,
    copy_s3,
    copy_to_local,
    delete_keys,
    head_s3,
    list_bucket,
    list_directory,
    local_md5,
    make_bucket,
    read_local,
    read_s3,
    resolve_owner,
)

MIB = 1024 * 1024
MAX_WORKERS = 32
# after a copy, the target is listed again (one request per 1000 objects) to verify from MinIO's listing
# extension rather than object by object, when at least this share of the prefix was copied
LIST_AFTER_COPY_SHARE = 50


class SyncParameters:
    """Options, checked before any request (every error reported at once)."""

    def __init__(self, params):
        self.source, self.target = params["source"], params["target"]
        self.local = bool(self.source.get("path"))
        self.local_target = bool(self.target.get("path"))
        self.errors = (validate_location(self.source, "source", True)
                       + validate_location(self.target, "target", not self.local)
                       + validate_local_target(self.source, self.target, params["delete_extra"]))
        self.check(validate_part_size(params["part_size_mib"]))
        if params["workers"] < 1 or params["workers"] > MAX_WORKERS:
            self.errors.append(f"workers must be between 1 and {MAX_WORKERS}, got {params['workers']}")
        if not self.errors and same_place(self.source, self.target):
            self.errors.append("source and target are the same bucket with overlapping prefixes")
        self.secrets = [loc.get("secret_key") for loc in (self.source, self.target) if loc.get("secret_key")]
        if not self.errors:
            self.source_prefix = "" if self.local else normalize_prefix(self.source.get("prefix"))
            self.target_prefix = "" if self.local_target else normalize_prefix(self.target.get("prefix"))
        self.mode = parse_mode(self.target.get("mode"))[0]
        self.part_size = params["part_size_mib"] * MIB
        self.workers = params["workers"]
        self.delete_extra = params["delete_extra"]
        self.create_bucket = params["target_create_bucket"]
        self.guess_type = params["guess_content_type"]
        # a file cannot keep tags: not read for a local target
        self.tags = params["tags"] and not self.local_target
        self.compare = params["compare"]
        self.verify = params["verify"]

    def check(self, message):
        if message:
            self.errors.append(message)


class SyncManager:
    def __init__(self, module, params):
        self.module, self.p = module, params
        self.check_mode = module.check_mode
        secrets = params.secrets
        self.src = None if params.local else connect(params.source, secrets, params.workers)
        self.dst = None if params.local_target else connect(params.target, secrets, params.workers)
        self.src_bucket = params.source.get("bucket")
        self.dst_bucket = params.target.get("bucket")
        self.root = params.target.get("path")
        self.owner = resolve_owner(params.target.get("owner"), params.target.get("group")) if self.root else None
        self.fields = LOCAL_FIELDS if self.root else FIDELITY_FIELDS
        self.by_etag = 0

    # --- reading -----------------------------------------------------------------

    def list_source(self):
        if self.p.local:
            files, problems = list_directory(self.p.source["path"])
            if problems:
                shown = "; ".join(problems[:5])
                raise MinioError(f"{len(problems)} files in {self.p.source['path']} cannot be copied, nothing was "
                                 f"written: {shown}")
            return files
        if not bucket_exists(self.src, self.src_bucket):
            raise MinioError(f"source bucket {self.src_bucket} does not exist on {self.src.endpoint}")
        return list_bucket(self.src, self.src_bucket, self.p.source_prefix, with_metadata=self.p.tags)

    def read_source(self, key, listed=None):
        if self.p.local:
            return read_local(self.p.source["path"], key, self.p.guess_type, self.p.tags)
        return read_s3(self.src, self.src_bucket, key, self.p.tags, listed)

    def copy(self, source_key, target_key, listed=None):
        if self.root:
            return copy_to_local(self.src, self.src_bucket, source_key, self.root, target_key, self.owner,
                                 self.p.mode, check_etag=self.p.verify == "etag")
        if self.p.local:
            return copy_local(self.p.source["path"], source_key, self.dst, self.dst_bucket, target_key,
                              self.p.part_size, self.p.guess_type, self.p.tags)
        return copy_s3(self.src, self.src_bucket, source_key, self.dst, self.dst_bucket, target_key, self.p.part_size,
                       self.p.tags, listed, check_etag=self.p.verify == "etag")

    def read_target(self, key, listed=None):
        """The target's entry to verify a copy with: its listing entry or a HEAD (verify=etag), or its bytes
        read back (verify=full); tags from the listing when the server listed them. A local target file is
        always read back (size and sha256)."""
        if self.root:
            return read_local(self.root, key, False, False)
        if self.p.verify == "full":
            return read_s3(self.dst, self.dst_bucket, key, self.p.tags, listed)
        if listed is not None:
            return dict(listed, tags=dict(listed["tags"]) if self.p.tags else None)
        return head_s3(self.dst, self.dst_bucket, key, self.p.tags)

    def etag_equal(self, source_key, target_key, source_listed, target_listed):
        if self.root and target_listed.get("size") == source_listed.get("size") and plain_etag(
                source_listed.get("etag")):
            target_listed = dict(target_listed, etag=local_md5(self.root, target_key))
        if self.p.local and target_listed.get("size") == source_listed.get("size") and plain_etag(
                target_listed.get("etag")):
            source_listed = dict(source_listed, etag=local_md5(self.p.source["path"], source_key))
        return same_by_etag(source_listed, target_listed)

    def compare(self, mapping, keys, source_listing, target_listing):
        """{target_key: [differing fields]} for keys, reading both sides in parallel (or, with compare=etag,
        only the keys whose listings do not show the same bytes)."""
        def one(key):
            if self.p.compare == "etag" and self.etag_equal(mapping[key], key, source_listing[mapping[key]],
                                                            target_listing[key]):
                return key, [], True
            source = self.read_source(mapping[key], source_listing[mapping[key]].get("listed"))
            if self.root:
                target = read_local(self.root, key, False, False)
            else:
                target = read_s3(self.dst, self.dst_bucket, key, self.p.tags, target_listing[key].get("listed"))
            if source is None or target is None:
                return key, None if source is None else ["missing"], False
            return key, differences(source, target, self.fields), False
        with ThreadPoolExecutor(self.p.workers) as pool:
            results = list(pool.map(one, keys))
        self.by_etag = sum(1 for _key, _fields, quick in results if quick)
        return {key: fields for key, fields, _quick in results if fields is not None}

    # --- the run -----------------------------------------------------------------

    def list_target(self, mapping):
        """(target exists, {key: {size, etag}}); for a local directory, refuses keys that would escape it."""
        if self.root:
            problems = local_target_problems(mapping)
            if problems:
                shown = "; ".join(f"{key!r}: {why}" for key, why in problems[:10])
                raise MinioError(f"{len(problems)} source objects cannot be written under {self.root}, nothing was "
                                 f"written: {shown}")
            if not os.path.isdir(self.root):
                raise MinioError(f"target directory {self.root} does not exist or is not a directory")
            # files the module cannot name (links, non-UTF-8 names) are not source keys: left alone
            return True, list_directory(self.root)[0]
        exists = bucket_exists(self.dst, self.dst_bucket)
        if not exists and not self.p.create_bucket:
            raise MinioError(f"target bucket {self.dst_bucket} does not exist on {self.dst.endpoint}; create it "
                             "(koprogo.storage.minio_bucket or the provider's console) or set target_create_bucket")
        return exists, list_bucket(self.dst, self.dst_bucket, self.p.target_prefix, self.p.tags) if exists else {}

    def run(self):
        source_keys = self.list_source()
        mapping = {map_key(key, self.p.source_prefix, self.p.target_prefix): key for key in source_keys}
        exists, target_keys = self.list_target(mapping)
        common = sorted(set(mapping) & set(target_keys))
        before = self.compare(mapping, common, source_keys, target_keys)
        todo = plan(mapping, target_keys, before, self.p.delete_extra)
        copy_keys = [key for key, _reason in todo["copy"]]
        result = dict(
            changed=bool(copy_keys or todo["delete"]), source_objects=len(mapping), copied=len(copy_keys),
            copied_keys=copy_keys, bytes_copied=sum(source_keys[mapping[key]]["size"] for key in copy_keys),
            unchanged=len(todo["unchanged"]), unchanged_by_etag=self.by_etag, verified=0, deleted_keys=todo["delete"],
            extra_keys=todo["extra"], vanished_keys=[],
            not_preserved=list(LOCAL_NOT_PRESERVED) if self.root else [],
            failures=[], **verification(mapping, target_keys, before))
        if self.module._diff:
            result["diff"] = dict(
                before="".join(f"{key}: {reason}\n" for key, reason in todo["copy"])
                + "".join(f"{key}: not at the source\n" for key in todo["delete"]),
                after="".join(f"{key}: as at the source\n" for key in copy_keys)
                + "".join(f"{key}: deleted\n" for key in todo["delete"]))
        if self.check_mode or not result["changed"]:
            result["verified"] = 0 if self.check_mode else len(todo["unchanged"])
            return result
        if not exists:
            make_bucket(self.dst, self.dst_bucket, self.p.target["region"])
        copied, failures, after = self.copy_all(mapping, copy_keys, source_keys)
        result.update(copied=len(copied), copied_keys=sorted(copied), failures=failures,
                      bytes_copied=sum(entry["size"] for entry in copied.values()))
        if failures:
            result["missing"], result["mismatched"] = [], []
            self.module.fail_json(msg=self.scrub(failure_message(len(copied), len(copy_keys), failures, [], [])),
                                  **result)
        # a source object that vanished during the run is neither copied nor missing
        vanished = [key for key in copy_keys if key not in copied]
        for key in vanished:
            mapping.pop(key)
        result["vanished_keys"] = vanished
        result["copied_keys"] = sorted(copied)
        if todo["delete"]:
            delete_keys(self.dst, self.dst_bucket, todo["delete"])
        target_now = set(target_keys) - set(todo["delete"]) | set(copied)
        result.update(verification(mapping, target_now, {**{k: v for k, v in before.items() if k in mapping},
                                                         **after}))
        result["verified"] = len(mapping) - len(result["missing"]) - len(result["mismatched"])
        if result["missing"] or result["mismatched"]:
            self.module.fail_json(msg=self.scrub(failure_message(len(copied), len(copy_keys), [], result["missing"],
                                                                 result["mismatched"])), **result)
        return result

    def copy_all(self, mapping, keys, source_listing):
        """Copy the keys, then verify each copied object; stops starting new copies after the first failure."""
        copied, failures = {}, []

        def one(key):
            if failures:
                return key, None
            try:
                return key, self.copy(mapping[key], key, source_listing[mapping[key]].get("listed"))
            except (MinioError, OSError) as exc:
                failures.append({"key": key, "error": self.scrub(str(exc))})
                return key, None
        with ThreadPoolExecutor(self.p.workers) as pool:
            for key, entry in pool.map(one, keys):
                if entry is not None:
                    copied[key] = entry
        after = self.verify_copies(copied, len(mapping), failures)
        failures.sort(key=lambda failure: failure["key"])
        return copied, failures, after

    def verify_copies(self, copied, expected_objects, failures):
        """{key: [differing fields]} of the copied objects, as the target now reports them."""
        listing = {}
        if copied and not failures and not self.root and len(copied) * LIST_AFTER_COPY_SHARE >= expected_objects:
            # on failure each object is read on its own, and its error reported with its key
            with suppress(MinioError):
                listing = list_bucket(self.dst, self.dst_bucket, self.p.target_prefix, with_metadata=True)
        fields = FIDELITY_FIELDS if self.p.verify == "full" else ETAG_FIELDS
        if self.root:
            fields = LOCAL_FIELDS
        earlier = len(failures)

        def one(key):
            if len(failures) > earlier:  # the target stopped answering: the run fails, the re-run compares
                return key, ["not verified"]
            try:
                target = self.read_target(key, listing.get(key, {}).get("listed"))
            except (MinioError, OSError) as exc:
                failures.append({"key": key, "error": self.scrub(str(exc))})
                return key, ["missing"]
            return key, ["missing"] if target is None else differences(copied[key], target, fields)
        with ThreadPoolExecutor(self.p.workers) as pool:
            return dict(pool.map(one, sorted(copied)))

    def scrub(self, text):
        return scrub(text, self.p.secrets)


def location_spec():
    return dict(
        path=dict(type="path"),
        endpoint=dict(type="str"), bucket=dict(type="str"), prefix=dict(type="str", default=""),
        owner=dict(type="str"), group=dict(type="str"), mode=dict(type="raw"),
        access_key=dict(type="str", no_log=False), secret_key=dict(type="str", no_log=True),
        region=dict(type="str", default="us-east-1"),
        addressing_style=dict(type="str", default="auto", choices=["auto", "path", "virtual"]),
        validate_certs=dict(type="bool", default=True), ca_path=dict(type="path"),
        timeout=dict(type="float", default=30.0),
    )


def argument_spec():
    return dict(
        source=dict(type="dict", required=True, options=location_spec()),
        target=dict(type="dict", required=True, options=location_spec()),
        target_create_bucket=dict(type="bool", default=False),
        delete_extra=dict(type="bool", default=False),
        guess_content_type=dict(type="bool", default=True),
        tags=dict(type="bool", default=True),
        compare=dict(type="str", default="full", choices=["full", "etag"]),
        verify=dict(type="str", default="etag", choices=["etag", "full"]),
        part_size_mib=dict(type="int", default=64),
        workers=dict(type="int", default=8),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    require_minio(module)
    params = SyncParameters(module.params)
    if params.errors:
        module.fail_json(msg="; ".join(params.errors), changed=False)
    try:
        result = SyncManager(module, params).run()
    except MinioError as exc:
        module.fail_json(msg=scrub(str(exc), params.secrets), changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
