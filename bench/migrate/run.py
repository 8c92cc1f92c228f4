"""Benchmark: koprogo.storage.s3_sync (copy + verify) vs a plain `rclone sync` of the same documents.

Two MinIO servers on 127.0.0.1 (tests/helpers/minio_server.py): the source holds N documents of mixed
sizes under documents/ (some with Content-Disposition and user metadata); both tools copy them into
their own bucket on the target, in the same run (s3_sync with its default verify: etag, every copied
object checked on both sides without reading it back). Then 1% of the documents change and both run again:
s3_sync's delta run (compare: etag, as migrate.yml runs it while the backend is stopped) is the
backend's write freeze at cutover, less the smoke test and the env switch (a few seconds).
Results: bench/results/migrate.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))
CACHE = Path(os.environ.get("KOPROGO_CACHE", ROOT / ".cache"))
sys.path.insert(0, str(CACHE / "collections"))

from helpers.ansible_run import run_tasks  # noqa: E402
from helpers.minio_server import MinioServer  # noqa: E402

RCLONE = Path(sys.executable).parent / "rclone"
BUCKET = "koprogo-documents"


def sizes(count, rng):
    """85% 2-16 KiB, 14% 16-256 KiB, 1% 1-4 MiB (scans)."""
    result = []
    for number in range(count):  # noqa: B007 - only a count
        draw = rng.random()
        low, high = (2, 16) if draw < 0.85 else (16, 256) if draw < 0.99 else (1024, 4096)
        result.append(rng.randint(low * 1024, high * 1024))
    return result


def populate(server, count, rng):
    sdk = server.sdk()[0]
    sdk.make_bucket(BUCKET)
    blob = rng.randbytes(4 * 1024 * 1024 + 1)

    def put(item):
        index, size = item
        key = f"documents/b-{index % 40}/{index:05d}_document {index}.pdf"
        metadata = None
        if index % 3:
            metadata = {"Content-Disposition": "attachment", "x-amz-meta-building": f"b-{index % 40}"}
        start = index % 1024
        sdk.put_object(BUCKET, key, io.BytesIO(blob[start:start + size]), size, content_type="application/pdf",
                       metadata=metadata)
        return key, size
    with ThreadPoolExecutor(16) as pool:
        return dict(pool.map(put, enumerate(sizes(count, rng))))


def change(server, keys, rng):
    sdk = server.sdk()[0]
    for key in keys:
        data = rng.randbytes(rng.randint(2048, 16384))
        sdk.put_object(BUCKET, key, io.BytesIO(data), len(data), content_type="application/pdf")


def s3_sync(source, target, bucket, workers, tmp, compare="full"):
    task = {"name": "sync", "koprogo.storage.s3_sync": {
        "source": {**source.connection, "bucket": BUCKET, "prefix": "documents"},
        "target": {**target.connection, "bucket": bucket, "prefix": "documents"},
        "target_create_bucket": True, "workers": workers, "compare": compare}}
    start = time.perf_counter()
    result = run_tasks([task], tmp_path=tmp)
    seconds = time.perf_counter() - start
    outcome = result.tasks.get("sync", {})
    if result.rc != 0:
        raise RuntimeError(f"s3_sync failed: {outcome.get('msg') or result.stdout[-2000:]}")
    return seconds, outcome


def rclone_sync(source, target, bucket, workers):
    env = dict(os.environ)
    for name, server in (("SRC", source), ("DST", target)):
        env.update({f"RCLONE_CONFIG_{name}_TYPE": "s3", f"RCLONE_CONFIG_{name}_PROVIDER": "Minio",
                    f"RCLONE_CONFIG_{name}_ENDPOINT": server.endpoint,
                    f"RCLONE_CONFIG_{name}_ACCESS_KEY_ID": server.access_key,
                    f"RCLONE_CONFIG_{name}_SECRET_ACCESS_KEY": server.secret_key})
    cmd = [str(RCLONE), "sync", f"SRC:{BUCKET}/documents", f"DST:{bucket}/documents", "--transfers", str(workers),
           "--checkers", str(workers * 2), "--s3-no-check-bucket", "--config", "/dev/null"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"rclone sync failed: {proc.stderr[-2000:]}")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--changed-percent", type=float, default=1.0)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "migrate.json"))
    args = parser.parse_args()
    rng = random.Random(44)
    source, target = MinioServer().start(), MinioServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-migrate-") as tmp:
            objects = populate(source, args.docs, rng)
            target.sdk()[0].make_bucket("rclone-copy")
            ours, outcome = s3_sync(source, target, "s3sync-copy", args.workers, Path(tmp))
            theirs = rclone_sync(source, target, "rclone-copy", args.workers)
            changed = rng.sample(sorted(objects), max(1, int(args.docs * args.changed_percent / 100)))
            change(source, changed, rng)
            freeze, delta = s3_sync(source, target, "s3sync-copy", args.workers, Path(tmp), compare="etag")
            theirs_delta = rclone_sync(source, target, "rclone-copy", args.workers)
    finally:
        source.stop()
        target.stop()
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": platform.machine(),
        "cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2), "documents": args.docs,
        "bytes": sum(objects.values()), "workers": args.workers,
        "s3_sync_copy_s": round(ours, 1), "rclone_sync_copy_s": round(theirs, 1),
        "copy_ratio": round(ours / theirs, 2), "s3_sync_verify": "etag", "s3_sync_verified": outcome.get("verified"),
        "changed": len(changed), "s3_sync_delta_s": round(freeze, 1), "delta_copied": delta.get("copied"),
        "delta_verified": delta.get("verified"),
        "delta_unchanged_by_etag": delta.get("unchanged_by_etag"), "rclone_sync_delta_s": round(theirs_delta, 1),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
