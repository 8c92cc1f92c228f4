"""Restore objects from their blobs with their metadata and tags, then verify every one against
the manifest (and compare the manifest with the live source bucket)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from . import container, s3
from . import manifest as mf
from .common import (
    EXIT_CONFIG,
    EXIT_OFFSITE,
    EXIT_OK,
    EXIT_RESTORE_INCOMPLETE,
    EXIT_SOURCE,
    BackupError,
    atomic_write,
    load_json,
    log,
    printable,
)
from .rclone import Rclone, write_list
from .run import NETWORK_ERRORS


def read_manifest(path: str) -> dict:
    try:
        with open(path, "rb") as handle:
            return mf.loads(handle.read())
    except (OSError, ValueError) as exc:
        raise BackupError(EXIT_CONFIG, f"{path} is not a decrypted manifest: {exc}") from None


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(s3.CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def credentials(args, cfg: dict) -> tuple:
    access = os.environ.get("KOPROGO_RESTORE_ACCESS_KEY")
    secret = os.environ.get("KOPROGO_RESTORE_SECRET_KEY")
    if args.credentials_file:
        creds = load_json(args.credentials_file, None)
        if not isinstance(creds, dict) or not creds.get("access_key") or not creds.get("secret_key"):
            raise BackupError(EXIT_CONFIG, f"{args.credentials_file} must hold JSON with access_key and secret_key")
        access, secret = creds["access_key"], creds["secret_key"]
    if access and secret:
        return access, secret
    return cfg["source"]["access_key"], cfg["source"]["secret_key"]


def observed(mc, bucket: str, key: str) -> dict:
    """What the server holds now: bytes hashed, headers and tags (None when absent)."""
    try:
        info = s3.read_object(mc, bucket, key, None, None)
        info["tags"] = s3.read_tags(mc, bucket, key)
        return info
    except S3Error as exc:
        if s3.error_code(exc) in s3.GONE:
            return None
        raise


class Restore:
    def __init__(self, cfg: dict, args):
        self.cfg, self.args = cfg, args
        src = cfg["source"]
        src["endpoint"] = container.source_endpoint(cfg)
        self.mc = s3.client(src["endpoint"], *credentials(args, cfg), src["region"])
        self.rclone = Rclone(cfg)

    def fetch(self, blobs: set, work: str) -> str:
        """Download blobs from vault:blobs into a local directory (names are hex digests)."""
        folder = os.path.join(work, "blobs")
        os.makedirs(folder, exist_ok=True)
        if blobs:
            listing = os.path.join(work, "fetch-list")
            write_list(listing, sorted(blobs))
            self.rclone.run("copy", "vault:blobs", folder, "--files-from-raw", listing, "--no-traverse",
                            *self.rclone.transfer_flags())
        return folder

    def __call__(self) -> int:
        args = self.args
        manifest = read_manifest(args.manifest)
        selected = [o for o in manifest["objects"]
                    if (not args.bucket or o["bucket"] in args.bucket) and o["key"].startswith(args.prefix or "")]
        buckets = sorted({o["bucket"] for o in selected})
        multi = bool(args.target_bucket) and len(buckets) > 1
        report = {"manifest_run": manifest["run"], "selected": len(selected), "restored": 0, "already_present": 0,
                  "verified": 0, "kept_newer": [], "missing": [], "corrupt": [], "metadata_mismatch": [],
                  "targets": {}, "live_vs_manifest": {}}
        os.makedirs(self.cfg["staging_dir"], mode=0o700, exist_ok=True)
        work = tempfile.mkdtemp(prefix="koprogo-restore-", dir=self.cfg["staging_dir"])
        try:
            for bucket in buckets:
                self.restore_bucket(bucket, [o for o in selected if o["bucket"] == bucket], multi, report, work)
        except NETWORK_ERRORS as exc:
            raise BackupError(EXIT_SOURCE, f"MinIO stopped answering during the restore: {exc}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        ok = not (report["missing"] or report["corrupt"] or report["metadata_mismatch"])
        report["result"] = "ok" if ok else "incomplete"
        report["target_dropped"] = False
        if ok and args.drop_target_when_verified and args.target_bucket not in buckets:
            drop_bucket(self.mc, args.target_bucket)
            report["target_dropped"] = True
        text = json.dumps(report, indent=2)
        if args.report:
            atomic_write(args.report, text.encode())
        print(text, flush=True)
        log(f"restore {report['result']}: {report['verified']} of {report['selected']} verified "
            f"(bytes, metadata, tags), {report['restored']} restored, {len(report['missing'])} missing, "
            f"{len(report['corrupt'])} corrupt, {len(report['metadata_mismatch'])} with other metadata, "
            f"{len(report['kept_newer'])} kept newer")
        return EXIT_OK if ok else EXIT_RESTORE_INCOMPLETE

    def restore_bucket(self, bucket: str, objects: list, multi: bool, report: dict, work: str) -> None:
        args = self.args
        target = args.target_bucket or bucket
        report["targets"][bucket] = target + (f"/{bucket}/" if multi else "")
        try:
            if not self.mc.bucket_exists(target):
                self.mc.make_bucket(target)
            existing = s3.list_latest(self.mc, target, prefix=f"{bucket}/" if multi else None)
        except S3Error as exc:
            raise BackupError(EXIT_SOURCE, f"cannot create or list bucket {target}: {exc}") from None
        pending, checked = [], {}
        for entry in objects:
            key = mf.target_key(entry["key"], bucket, multi)
            if key not in existing:
                pending.append(entry)
                continue
            # already there: identical bytes, headers and tags need no restore
            have = observed(self.mc, target, key)
            if have is not None and not mf.differences(entry, have):
                report["already_present"] += 1
                checked[key] = have
            elif have is not None and not args.overwrite and \
                    (existing[key]["last_modified"] or "") > (entry["last_modified"] or ""):
                report["kept_newer"].append(f"{bucket}/{entry['key']}")
            else:
                pending.append(entry)
        log(f"{bucket}: {len(objects)} selected, {len(pending)} to restore into {target}")
        folder = self.fetch({e["sha256"] for e in pending}, work)
        for entry in pending:
            key = mf.target_key(entry["key"], bucket, multi)
            path = os.path.join(folder, entry["sha256"])
            if not os.path.exists(path):
                log(f"MISSING {bucket}/{printable(entry['key'])}: blob {entry['sha256']} not found offsite")
                continue
            if file_sha256(path) != entry["sha256"]:
                # never write bytes that are not the backed-up ones
                log(f"CORRUPT {bucket}/{printable(entry['key'])}: blob {entry['sha256']} has other content")
                report["corrupt"].append(f"{bucket}/{entry['key']}")
                continue
            try:
                s3.put_object(self.mc, target, key, path, entry)
                report["restored"] += 1
            except (S3Error, ValueError) as exc:
                log(f"ERROR cannot restore {bucket}/{printable(entry['key'])}: {exc}")
        # verify every selected object that was not deliberately kept
        kept = set(report["kept_newer"])
        for entry in objects:
            name = f"{bucket}/{entry['key']}"
            if name in kept or name in report["corrupt"]:
                continue
            key = mf.target_key(entry["key"], bucket, multi)
            have = checked.get(key) or observed(self.mc, target, key)
            if have is None:
                report["missing"].append(name)
                continue
            diff = mf.differences(entry, have)
            if "sha256" in diff or "size" in diff:
                report["corrupt"].append(name)
            elif diff:
                report["metadata_mismatch"].append({"object": name, "fields": diff})
                log(f"{printable(name)}: restored with other {', '.join(diff)}")
            else:
                report["verified"] += 1
        self.compare_live(bucket, objects, report)

    def compare_live(self, bucket: str, objects: list, report: dict) -> None:
        """The manifest against the live source bucket, when it exists (after an in-place restore the
        target; during a drill the bucket the backup was taken from)."""
        try:
            if not self.mc.bucket_exists(bucket):
                return
            live = s3.list_latest(self.mc, bucket, prefix=self.args.prefix or None)
        except S3Error as exc:
            log(f"WARNING cannot list {bucket} to compare it with the manifest: {exc}")
            return
        comparison = mf.compare_live({o["key"]: o for o in objects}, live)
        report["live_vs_manifest"][bucket] = {name: len(keys) for name, keys in comparison.items()}
        report["live_vs_manifest"][bucket]["only_in_manifest_keys"] = comparison["only_in_manifest"][:100]


def drop_bucket(mc, bucket: str) -> None:
    """Remove a drill's scratch bucket: every object version and delete marker, then the bucket."""
    doomed = [DeleteObject(o.object_name, o.version_id)
              for o in mc.list_objects(bucket, recursive=True, include_version=True)]
    errors = list(mc.remove_objects(bucket, doomed))
    if errors:
        raise BackupError(EXIT_SOURCE, f"cannot empty {bucket}: {errors[0]}")
    mc.remove_bucket(bucket)
    log(f"removed the scratch bucket {bucket}")


def manifest_prefix(cfg: dict) -> str:
    return "/".join(p.strip("/") for p in (cfg["offsite"]["prefix"], "manifests") if p.strip("/")) + "/"


def fetch_manifest(cfg: dict, name: str, output: str) -> str:
    off = cfg["offsite"]
    mc = s3.client(off["endpoint"], off["access_key"], off["secret_key"], off["region"])
    prefix = manifest_prefix(cfg)
    try:
        if name == "latest":
            names = list_manifests(cfg)
            if not names:
                raise BackupError(EXIT_OFFSITE, "no manifest found offsite")
            name = names[-1]
        mc.fget_object(off["bucket"], prefix + name, output)
    except (S3Error, *NETWORK_ERRORS) as exc:
        raise BackupError(EXIT_OFFSITE, f"cannot download manifest {name}: {exc}") from None
    return name


def list_manifests(cfg: dict) -> list:
    off = cfg["offsite"]
    mc = s3.client(off["endpoint"], off["access_key"], off["secret_key"], off["region"])
    prefix = manifest_prefix(cfg)
    try:
        return sorted(o.object_name[len(prefix):] for o in mc.list_objects(off["bucket"], prefix=prefix)
                      if o.object_name[len(prefix):].startswith("manifest-"))
    except (S3Error, *NETWORK_ERRORS) as exc:
        raise BackupError(EXIT_OFFSITE, f"cannot list manifests offsite: {exc}") from None
