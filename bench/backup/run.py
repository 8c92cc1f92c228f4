"""Benchmark: koprogo-backup full and incremental runs vs a plain `mc mirror` of the same data.

A source MinIO holds N small objects plus a few large ones; a second MinIO stands in for
Backblaze B2 (both on 127.0.0.1, tests/helpers/minio_server.py). Timed:
  1. our full backup, then 1% of the objects change (half of them same-size edits), then our
     incremental backup (goal: incremental <= 15% of full);
  2. `mc mirror` into a plain bucket of the offsite server (full), the same 1% change, and
     `mc mirror --overwrite` again (incremental).
Afterwards the offsite copies are checked: our backup (restored into a scratch bucket and compared
by sha256) has every edit; mc's mirror misses the same-size edits (mc compares names and sizes).
Results: bench/results/backup.json, a table on stdout and the "Backup" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
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

from helpers.gpg import make_key  # noqa: E402
from helpers.minio_server import MC_BIN, MinioServer  # noqa: E402

PACKAGE_DIR = ROOT / "roles" / "backup" / "files"  # holds the koprogo_backup package
OURS_ENV = {**os.environ, "PYTHONPATH": str(PACKAGE_DIR)}
RCLONE = Path(sys.executable).parent / "rclone"
SECTION = "## Backup"
BUCKET = "koprogo-documents"


def put_many(server, items, workers=16):
    s3 = server.boto3()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket=BUCKET, Key=kv[0], Body=kv[1]), items))


def timed(cmd, env=None):
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return seconds, proc


def make_gpg(tmp: Path):
    home = tmp / "gnupg"
    home.mkdir()
    recipient = tmp / "recipient.asc"
    recipient.write_text(make_key(home, "bench <bench@koprogo.invalid>")[1])
    return home, recipient


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10000, help="number of small objects")
    parser.add_argument("--large", type=int, default=3, help="number of large objects")
    parser.add_argument("--large-mib", type=int, default=16, help="size of each large object")
    parser.add_argument("--changed-percent", type=float, default=1.0)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "backup.json"))
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--show-log", action="store_true", help="print koprogo-backup's log at the end")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="koprogo-bench-backup-"))
    source, offsite = MinioServer().start(), MinioServer().start()
    load = os.getloadavg()[0]
    try:
        offsite.mc("mb", "t/offsite", "t/mc-mirror")
        source.boto3().create_bucket(Bucket=BUCKET)
        rng = secrets.SystemRandom()
        small = {f"b-{i % 50:02d}/{i:05d}_doc.pdf": os.urandom(rng.randint(1024, 8192)) for i in range(args.small)}
        large = {f"scans/large-{i}.bin": os.urandom(args.large_mib << 20) for i in range(args.large)}
        put_many(source, list(small.items()) + list(large.items()))
        total_bytes = sum(map(len, small.values())) + sum(map(len, large.values()))

        home, recipient = make_gpg(tmp)
        config = {
            "source": {"endpoint": source.endpoint, "access_key": source.access_key,
                       "secret_key": source.secret_key, "buckets": [BUCKET]},
            "offsite": {"endpoint": offsite.endpoint, "bucket": "offsite", "prefix": "koprogo",
                        "access_key": offsite.access_key, "secret_key": offsite.secret_key},
            "crypt": {"password": secrets.token_urlsafe(30), "password2": secrets.token_urlsafe(30)},
            "recipient_file": str(recipient), "rclone": str(RCLONE), "state_dir": str(tmp / "state"),
            "textfile_dir": str(tmp / "textfile"), "log_file": str(tmp / "backup.log"),
            "lock_file": str(tmp / "backup.lock"), "transfers": 8, "checkers": 16,
        }
        config_path = tmp / "config.json"
        config_path.write_text(json.dumps(config))
        config_path.chmod(0o600)
        ours = [sys.executable, "-m", "koprogo_backup", "--config", str(config_path), "run"]
        mc_env = dict(source.mc_env("src"))
        mc_env.update({k: v for k, v in offsite.mc_env("dst").items() if k.startswith("MC_HOST_")})
        mc_full = [str(MC_BIN), "--no-color", "--quiet", "mirror", f"src/{BUCKET}", "dst/mc-mirror"]
        mc_incr = [*mc_full[:4], "--overwrite", *mc_full[4:]]

        full_ours, _full_proc = timed(ours, env=OURS_ENV)
        full_mc, _mc_proc = timed(mc_full, env=mc_env)

        # change 1%: half same-size edits, half edits that change the size
        keys = sorted(small)
        changed = rng.sample(keys, max(2, int(len(keys) * args.changed_percent / 100)))
        same_size, resized = changed[: len(changed) // 2], changed[len(changed) // 2:]
        updates = {k: os.urandom(len(small[k])) for k in same_size}
        updates.update({k: os.urandom(len(small[k]) + 100) for k in resized})
        put_many(source, list(updates.items()))

        incr_ours, proc = timed(ours, env=OURS_ENV)
        result_line = json.loads(proc.stdout.strip().splitlines()[-1])
        # a plain `mc mirror` (no flags) first: it refuses to overwrite changed objects
        dst = offsite.boto3()

        def mc_missed():
            return (sum(dst.get_object(Bucket="mc-mirror", Key=k)["Body"].read() != updates[k] for k in same_size),
                    sum(dst.get_object(Bucket="mc-mirror", Key=k)["Body"].read() != updates[k] for k in resized))

        start = time.perf_counter()
        plain_proc = subprocess.run(mc_full, env=mc_env, capture_output=True, text=True, check=False)
        incr_mc_plain = time.perf_counter() - start
        mc_plain_missed, mc_plain_missed_resized = mc_missed()
        incr_mc, _mc_proc = timed(mc_incr, env=mc_env)
        mc_missed_same, mc_missed_resized = mc_missed()
        manifest_path = sorted((tmp / "state" / "manifests").glob("manifest-*.gpg"))[-1]
        plain = subprocess.run(["gpg", "--batch", "--homedir", str(home), "--decrypt", str(manifest_path)],
                               check=True, capture_output=True).stdout
        manifest = json.loads(gzip.decompress(plain))
        manifest["objects"] = [o for o in manifest["objects"] if o["key"] in updates]
        manifest_file = tmp / "changed-manifest.json"
        manifest_file.write_text(json.dumps(manifest))
        restore_cmd = [sys.executable, "-m", "koprogo_backup", "--config", str(config_path), "restore", "--manifest",
                       str(manifest_file), "--target-bucket", "drill"]
        _restore_seconds, proc = timed(restore_cmd, env=OURS_ENV)
        restore_report = json.loads(proc.stdout[proc.stdout.index("{"):])
        src = source.boto3()
        ours_missed = sum(hashlib.sha256(src.get_object(Bucket="drill", Key=k)["Body"].read()).digest()
                          != hashlib.sha256(updates[k]).digest() for k in updates)

        result = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "load_average": round(load, 2),
            "data": {"small_objects": args.small, "large_objects": args.large, "large_mib": args.large_mib,
                     "bytes": total_bytes, "changed": len(changed), "same_size_edits": len(same_size)},
            "seconds": {"ours_full": round(full_ours, 2), "ours_incremental": round(incr_ours, 2),
                        "mc_full": round(full_mc, 2), "mc_incremental": round(incr_mc, 2),
                        "mc_incremental_plain": round(incr_mc_plain, 2)},
            "ratios": {"ours_incremental_over_full": round(incr_ours / full_ours, 3),
                       "ours_full_over_mc_full": round(full_ours / full_mc, 2),
                       "ours_incremental_over_mc_incremental": round(incr_ours / incr_mc, 2)},
            "missed_edits": {"ours_same_size": ours_missed, "mc_overwrite_same_size": mc_missed_same,
                             "mc_overwrite_resized": mc_missed_resized, "mc_plain_same_size": mc_plain_missed,
                             "mc_plain_resized": mc_plain_missed_resized,
                             "mc_plain_exit_code": plain_proc.returncode},
            "restore_check": {k: restore_report[k] if not isinstance(restore_report[k], list)
                              else len(restore_report[k]) for k in ("verified", "missing", "corrupt")},
            "incremental_result": result_line,
            "goal_incremental_le_15_percent": incr_ours / full_ours <= 0.15,
            "versions": {"rclone": subprocess.run([str(RCLONE), "version"], capture_output=True,
                                                  text=True, check=True).stdout.split()[1],
                         "python": platform.python_version()},
        }
        if args.show_log:
            print((tmp / "backup.log").read_text(), file=sys.stderr)
    finally:
        source.stop()
        offsite.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    table = render_table(result)
    print(table)
    if not args.no_docs:
        update_docs(result, table)
    return 0


def render_table(r):
    s, q = r["seconds"], r["ratios"]
    m = r["missed_edits"]
    d = r["data"]
    return "\n".join([
        "| run | koprogo-backup s | mc mirror --overwrite s | ours / mc |",
        "|---|---:|---:|---:|",
        f"| full ({d['small_objects']} small + {d['large_objects']} x {d['large_mib']} MiB) | {s['ours_full']} | "
        f"{s['mc_full']} | {q['ours_full_over_mc_full']} |",
        f"| incremental ({d['changed']} changed, {d['same_size_edits']} same-size) | {s['ours_incremental']} | "
        f"{s['mc_incremental']} | {q['ours_incremental_over_mc_incremental']} |",
        f"| **incremental / full (ours)** | **{q['ours_incremental_over_full']}** | | |",
        f"| same-size edits missed | {m['ours_same_size']} of {d['same_size_edits']} | "
        f"{m['mc_overwrite_same_size']} of {d['same_size_edits']} | |",
        "",
        f"A plain `mc mirror` (no `--overwrite`) took {s['mc_incremental_plain']} s for the incremental run, "
        f"exited {m['mc_plain_exit_code']} and missed {m['mc_plain_same_size']} of {d['same_size_edits']} "
        f"same-size edits (and {m['mc_plain_resized']} of {d['changed'] - d['same_size_edits']} resized ones).",
    ])


def update_docs(r, table):
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nMeasured with `make bench`.\n"
    goal = "met" if r["goal_incremental_le_15_percent"] else "NOT met"
    body = (
        f"{SECTION}\n\n"
        "`bench/backup/run.py`: `koprogo-backup` (rclone crypt to a second MinIO standing in for B2, sha256\n"
        "manifest encrypted with GPG) against a plain `mc mirror` of the same bucket into the same server.\n"
        "After the full runs, 1% of the small objects change (half of them same-size edits), then both\n"
        "run again (`mc mirror --overwrite`). Our offsite copy is checked by a verified restore of the\n"
        "changed objects into a scratch bucket; mc's mirror is read back directly.\n\n"
        f"{table}\n\n"
        f"Measured {r['date']} on {r['machine']} (load average {r['load_average']} at start), rclone "
        f"{r['versions']['rclone']}. Goal: incremental <= 15% of full ({goal}).\n"
        "Our run does more than mc's per object (sha256 for the manifest, encryption of contents and\n"
        "names, the tags of new or re-tagged objects, a count check against a second listing), so it is slower; the\n"
        "incremental run reads only objects whose key, ETag, size or last-modified changed and uploads\n"
        "each new content once (blobs named by sha256; a replaced object's old blob stays for the\n"
        "retention). A plain `mc mirror` never overwrites a changed object. With `--overwrite`, this mc\n"
        "build (the archived repository's last commit) also compares modification times, so it catches a\n"
        "same-size edit when the source object is newer than the mirror's copy; it still misses an edit\n"
        "made while the object was being mirrored or hidden by clock skew between the two servers, which\n"
        "an ETag comparison does not (read from mc's cmd/difference.go, not measured here).\n"
    )
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |^<!-- |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: body + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + body
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
