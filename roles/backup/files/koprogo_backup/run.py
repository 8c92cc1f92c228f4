"""One backup run: list MinIO, read what changed, store new blobs offsite, write the manifest,
check the counts, then (only after all that succeeded) prune."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import urllib3
from minio.error import S3Error

from . import container, retention, s3
from . import manifest as mf
from .common import (
    EXIT_MANIFEST,
    EXIT_OFFSITE,
    EXIT_PRUNE,
    EXIT_SOURCE,
    EXIT_TRANSFER,
    BackupError,
    atomic_write,
    load_json,
    log,
    printable,
)
from .rclone import Rclone, write_list

STATE_FORMAT = 2
STAMP_FILE = "last-run-stamp"   # in state_dir: stamp of the latest run, also of failed ones
NETWORK_ERRORS = (urllib3.exceptions.HTTPError, OSError)
READ_ATTEMPTS = 3


def source_error(exc: BaseException, what: str) -> BackupError:
    return BackupError(EXIT_SOURCE, f"source MinIO stopped answering while {what}: {exc}")


class Run:
    def __init__(self, cfg: dict, lock_fd: int):
        self.cfg = cfg
        src, off = cfg["source"], cfg["offsite"]
        # compose mode: the container's address now (the manifest records the URL read)
        src["endpoint"] = container.source_endpoint(cfg)
        self.src = s3.client(src["endpoint"], src["access_key"], src["secret_key"], src["region"])
        self.off = s3.client(off["endpoint"], off["access_key"], off["secret_key"], off["region"])
        self.rclone = Rclone(cfg, keep_fds=(lock_fd,))
        self.state_path = os.path.join(cfg["state_dir"], "state.json")
        self.workers = max(int(cfg["checkers"]), 1)

    # ------------------------------------------------------------------ steps

    def stamp(self, state: dict) -> str:
        previous = [state.get("run")]
        try:
            with open(os.path.join(self.cfg["state_dir"], STAMP_FILE), encoding="utf-8") as handle:
                previous.append(handle.read().strip())
        except OSError:
            pass
        if os.path.isdir(self.cfg["manifest_dir"]):
            previous += [m.group(1) for n in os.listdir(self.cfg["manifest_dir"])
                         if (m := retention.MANIFEST_NAME.match(n))]
        stamp, wait = retention.next_stamp(previous, dt.datetime.now(dt.timezone.utc))
        if wait > 2:
            log(f"WARNING the clock is behind the previous run: this run uses stamp {stamp}")
        elif wait:
            time.sleep(wait + 0.01)
        atomic_write(os.path.join(self.cfg["state_dir"], STAMP_FILE), stamp.encode())
        return stamp

    def offsite_blobs(self) -> set:
        names = self.rclone.list_names("vault:blobs", EXIT_OFFSITE)
        return {n for n in names if retention.BLOB_NAME.match(n)}

    def list_source(self, with_tags: bool = False) -> dict:
        try:
            buckets = self.cfg["source"]["buckets"] or sorted(b.name for b in self.src.list_buckets())
            return {bucket: s3.list_latest(self.src, bucket, with_tags=with_tags) for bucket in buckets}
        except S3Error as exc:
            raise BackupError(EXIT_SOURCE, f"cannot list the source: {exc}") from None
        except NETWORK_ERRORS as exc:
            raise source_error(exc, "listing") from None

    def read(self, bucket: str, key: str, listed: dict, work: str) -> tuple:
        """Read one object into work/partial. Returns (entry or None when deleted meanwhile, path)."""
        etag = listed["etag"]
        for _attempt in range(READ_ATTEMPTS):
            path = os.path.join(work, "partial", uuid.uuid4().hex)
            try:
                info = s3.read_object(self.src, bucket, key, etag, path)
                return {**listed, **info}, path
            except S3Error as exc:
                if s3.error_code(exc) in s3.GONE:
                    return None, None
                if s3.error_code(exc) not in s3.CHANGED:
                    raise BackupError(EXIT_SOURCE, f"cannot read {bucket}/{printable(key)}: {exc}") from None
            except NETWORK_ERRORS as exc:
                raise source_error(exc, f"reading {bucket}/{key}") from None
            # replaced since the listing: back up the version that is there now
            try:
                stat = self.src.stat_object(bucket, key)
            except S3Error as exc:
                if s3.error_code(exc) in s3.GONE:
                    return None, None
                raise BackupError(EXIT_SOURCE, f"cannot read {bucket}/{printable(key)}: {exc}") from None
            etag = (stat.etag or "").strip('"')
            listed = {**listed, "etag": etag, "size": stat.size,
                      "last_modified": stat.last_modified.isoformat() if stat.last_modified else None}
        raise BackupError(EXIT_SOURCE, f"{bucket}/{printable(key)} kept changing while it was read")

    def upload(self, stage: str, names: list, work: str) -> None:
        if not names:
            return
        listing = os.path.join(work, "upload-list")
        write_list(listing, names)
        off = self.cfg["offsite"]["endpoint"]
        proc = self.rclone.run("copy", stage, "vault:blobs", "--files-from-raw", listing, "--no-check-dest",
                               *self.rclone.transfer_flags(), watch=((off, EXIT_OFFSITE, "offsite"),))
        if proc.returncode != 0:
            raise BackupError(EXIT_TRANSFER, f"rclone could not store {len(names)} blob(s) offsite "
                                             f"(exit code {proc.returncode}); nothing was deleted offsite")
        for name in names:
            os.unlink(os.path.join(stage, name))

    def collect(self, listing: dict, previous: dict, known: set, work: str) -> tuple:
        """Entries for every listed object: from the previous state when key, ETag, size and
        last-modified are unchanged and the blob is offsite, else read now. New blobs are staged and
        uploaded in batches of at most staging_max_bytes. Returns (entries, gone)."""
        stage = os.path.join(work, "stage")
        os.makedirs(os.path.join(work, "partial"))
        os.makedirs(stage)
        entries: dict = {b: {} for b in listing}
        gone: dict = {b: set() for b in listing}
        todo = []
        for bucket, objects in listing.items():
            cached = previous.get(bucket, {})
            for key, obj in objects.items():
                old = cached.get(key)
                if old and all(old.get(f) == obj[f] for f in ("etag", "size", "last_modified")) \
                        and old.get("sha256") in known:
                    entries[bucket][key] = dict(old)
                else:
                    todo.append((bucket, key, obj))
        log(f"{len(todo)} object(s) to read, {sum(map(len, entries.values()))} unchanged")
        staged: set = set()
        limit = int(self.cfg["staging_max_bytes"])
        pool = ThreadPoolExecutor(self.workers)
        try:
            start = 0
            while start < len(todo):
                batch, size = [], 0
                while start < len(todo) and (not batch or size + todo[start][2]["size"] <= limit):
                    batch.append(todo[start])
                    size += todo[start][2]["size"]
                    start += 1
                results = list(pool.map(lambda item: (item, self.read(item[0], item[1], item[2], work)), batch))
                for (bucket, key, _obj), (entry, path) in results:
                    if entry is None:
                        log(f"{bucket}/{key} was deleted during the run")
                        gone[bucket].add(key)
                        continue
                    entries[bucket][key] = entry
                    blob = entry["sha256"]
                    if blob in known or blob in staged:
                        os.unlink(path)
                    else:
                        os.replace(path, os.path.join(stage, blob))
                        staged.add(blob)
                self.upload(stage, sorted(os.listdir(stage)), work)
                known |= staged
            # tags can change without any other change: an unchanged object keeps its recorded tags
            # only when the listing shows the same tags; every other object's tags are read
            items = [(b, k) for b in entries for k in entries[b]
                     if not mf.same_listed_tags(entries[b][k], listing[b].get(k))]
            log(f"reading the tags of {len(items)} object(s); the listing shows the others' tags unchanged")
            for (bucket, key), tags in zip(items, pool.map(lambda item: self.tags(*item), items)):
                if tags is None:
                    gone[bucket].add(key)
                    del entries[bucket][key]
                else:
                    entries[bucket][key]["tags"] = tags
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return entries, gone

    def tags(self, bucket: str, key: str):
        try:
            return s3.read_tags(self.src, bucket, key)
        except S3Error as exc:
            if s3.error_code(exc) in s3.GONE:
                log(f"{bucket}/{key} was deleted during the run")
                return None
            hint = " (the backup user needs s3:GetObjectTagging)" if s3.error_code(exc) == "AccessDenied" else ""
            raise BackupError(EXIT_SOURCE, f"cannot read the tags of {bucket}/{printable(key)}{hint}: {exc}") from None
        except NETWORK_ERRORS as exc:
            raise source_error(exc, f"reading tags of {bucket}/{key}") from None

    def verify(self, listing: dict, entries: dict, gone: dict, blobs_now: set) -> dict:
        """No silent loss: every listed object is in the manifest or was deleted during the run, every
        manifest blob is offsite, and the source listed again agrees. Returns counts for the log."""
        problems = mf.count_problems({b: set(o) for b, o in listing.items()},
                                     {b: set(e) for b, e in entries.items()}, gone)
        if problems:
            names = ", ".join(f"{b}/{printable(k)}" for b, k in problems[:20])
            raise BackupError(EXIT_TRANSFER, f"{len(problems)} listed object(s) not backed up: {names}")
        absent = [(b, k) for b in entries for k, e in entries[b].items() if e["sha256"] not in blobs_now]
        if absent:
            names = ", ".join(f"{b}/{printable(k)}" for b, k in absent[:20])
            raise BackupError(EXIT_TRANSFER, f"{len(absent)} object(s) have no blob offsite: {names}")
        now = self.list_source()
        created = sum(len(set(now.get(b, {})) - set(listing[b])) for b in listing)
        deleted = sum(len(set(entries[b]) - set(now.get(b, {}))) for b in entries)
        return {"listed": sum(map(len, listing.values())), "deleted_during_run": sum(map(len, gone.values())),
                "created_during_run": created, "deleted_after_reading": deleted}

    def write_manifest(self, stamp: str, entries: dict, work: str) -> str:
        manifest = mf.build(stamp, dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                            self.cfg["source"]["endpoint"], entries)
        data = mf.dumps(manifest)
        if len(mf.loads(data)["objects"]) != sum(map(len, entries.values())):
            raise BackupError(EXIT_MANIFEST, "the manifest does not read back with every object")
        plain = os.path.join(work, "manifest.json.gz")
        with open(plain, "wb") as handle:
            handle.write(data)
        os.makedirs(self.cfg["manifest_dir"], mode=0o700, exist_ok=True)
        name = f"manifest-{stamp}.json.gz.gpg"
        encrypted = os.path.join(self.cfg["manifest_dir"], name)
        gpg_encrypt(self.cfg, plain, encrypted + ".part")
        os.replace(encrypted + ".part", encrypted)
        try:
            self.off.fput_object(self.cfg["offsite"]["bucket"], self.rclone.offsite_key("manifests", name), encrypted,
                                 content_type="application/octet-stream")
        except (S3Error, *NETWORK_ERRORS) as exc:
            raise BackupError(EXIT_MANIFEST, f"manifest upload failed: {exc}") from None
        return name

    def prune(self, last_seen: dict, referenced: set, work: str) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        failed = False
        doomed = retention.blobs_to_prune(last_seen, referenced, now, float(self.cfg["retention_days"]))
        if doomed:
            log(f"prune {len(doomed)} blob(s) no manifest of the last {self.cfg['retention_days']} days needs")
            listing = os.path.join(work, "prune-list")
            write_list(listing, doomed)
            failed |= self.rclone.run("delete", "vault:blobs", "--files-from-raw", listing,
                                      *self.rclone.transfer_flags()).returncode != 0
        bucket, prefix = self.cfg["offsite"]["bucket"], self.rclone.offsite_key("manifests") + "/"
        try:
            names = [o.object_name[len(prefix):] for o in self.off.list_objects(bucket, prefix=prefix)]
            for name in retention.manifests_to_prune(names, now, float(self.cfg["retention_days"])):
                log(f"prune offsite manifest {name}")
                self.off.remove_object(bucket, prefix + name)
        except (S3Error, *NETWORK_ERRORS) as exc:
            log(f"WARNING cannot prune offsite manifests: {exc}")
            failed = True
        local = os.listdir(self.cfg["manifest_dir"])
        for name in retention.manifests_to_prune(local, now, float(self.cfg["manifest_keep_days"])):
            os.unlink(os.path.join(self.cfg["manifest_dir"], name))
        if failed:
            raise BackupError(EXIT_PRUNE, "pruning old blobs or manifests failed (the backup itself is complete)")

    # ------------------------------------------------------------------ the run

    def __call__(self) -> tuple:
        cfg = self.cfg
        os.makedirs(cfg["state_dir"], mode=0o700, exist_ok=True)
        remove_leftovers(cfg)
        state = load_json(self.state_path, {})
        if state.get("format") != STATE_FORMAT:
            state = {}
        stamp = self.stamp(state)
        os.makedirs(cfg["staging_dir"], mode=0o700, exist_ok=True)
        work = tempfile.mkdtemp(prefix="koprogo-backup-", dir=cfg["staging_dir"])
        try:
            try:
                if not self.off.bucket_exists(cfg["offsite"]["bucket"]):
                    raise BackupError(EXIT_OFFSITE, f"offsite bucket {cfg['offsite']['bucket']} does not exist")
            except (S3Error, *NETWORK_ERRORS) as exc:
                raise BackupError(EXIT_OFFSITE, f"offsite unreachable: {exc}") from None
            known = self.offsite_blobs()
            listing = self.list_source(with_tags=True)
            total = sum(len(v) for v in listing.values())
            log(f"run {stamp}: {len(listing)} bucket(s), {total} object(s), {len(known)} blob(s) offsite")
            if total == 0 and known:
                # a new, still empty server: its empty manifest would become the "latest" one
                raise BackupError(EXIT_TRANSFER, f"the source is empty but {len(known)} blob(s) are offsite: no "
                                                 "empty manifest is written (restore first; see the runbook)")
            entries, gone = self.collect(listing, state.get("objects", {}), set(known), work)
            blobs_now = self.offsite_blobs()
            counts = self.verify(listing, entries, gone, blobs_now)
            name = self.write_manifest(stamp, entries, work)
            objects = sum(len(e) for e in entries.values())
            size = sum(e["size"] for b in entries.values() for e in b.values())
            log(f"manifest {name}: {objects} object(s), {size} byte(s); source listed {counts['listed']}, "
                f"{counts['deleted_during_run']} deleted during the run, {counts['created_during_run']} created "
                "during the run (next run)")
            referenced = {e["sha256"] for b in entries.values() for e in b.values()}
            last_seen = retention.refresh_last_seen(state.get("blobs", {}), blobs_now, referenced, stamp)
            # only now record the state: the next run trusts it for unchanged objects
            atomic_write(self.state_path, json.dumps({"format": STATE_FORMAT, "run": stamp, "objects": entries,
                                                      "blobs": last_seen}).encode())
            self.prune(last_seen, referenced, work)
            return objects, size
        finally:
            shutil.rmtree(work, ignore_errors=True)


def remove_leftovers(cfg: dict) -> None:
    """Work files of a run that was killed (we hold the lock, so nobody else uses them), and the
    obscured crypt password file older versions kept."""
    for directory, prefixes in ((cfg["state_dir"], ("koprogo-backup-", ".tmp-", "crypt-obscured.json")),
                                (cfg["staging_dir"], ("koprogo-backup-", "koprogo-restore-")),
                                (cfg["manifest_dir"], (".tmp-",))):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if name.startswith(prefixes) or name.endswith(".part"):
                log(f"removing leftover {path} of an interrupted run")
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)


def gpg_encrypt(cfg: dict, plain: str, output: str) -> None:
    home = tempfile.mkdtemp(prefix="koprogo-backup-gnupg-")
    try:
        os.chmod(home, 0o700)
        proc = subprocess.run(
            [cfg["gpg"], "--batch", "--no-options", "--homedir", home, "--trust-model", "always", "--yes",
             "--recipient-file", cfg["recipient_file"], "--output", output, "--encrypt", plain],
            capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BackupError(EXIT_MANIFEST, f"gpg encryption failed: {proc.stderr.strip()[-500:]}")
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)
