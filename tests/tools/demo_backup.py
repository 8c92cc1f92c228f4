"""The backup and monitoring part of `make demo` (called by demo.sh after the converge).

1. Puts a few sample documents into koprogo-documents (once): PDFs, a scan, an invoice with
   Content-Type, Content-Disposition, Cache-Control, user metadata and tags, and a key with a
   file name as KoproGo users type them (spaces, accents, a typographic apostrophe).
2. Runs playbooks/backup_now.yml: the same program and settings as the nightly timer, to the
   second MinIO that stands in for Backblaze B2.
3. Runs playbooks/restore.yml as a restore drill into a scratch bucket: the manifest is fetched
   from offsite, decrypted on this machine with the operator's key (.cache/demo/gnupg), every
   object restored and verified (sha256, Content-*, metadata, tags), then the scratch bucket is
   removed.
4. Asks the Prometheus the monitoring role installed: every scrape target up, the alert rules
   loaded, and the backup's own metrics as node exporter serves them.

Prints one line per check and never a secret; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import ansible_run  # noqa: E402 (the tests' playbook runner, next to this folder)

BUCKET = "koprogo-documents"
PREFIX = "documents/demo-samples/"
DRILL_BUCKET = "koprogo-restore-drill"
SAMPLES = [
    # key (below PREFIX), size, Content-Type, extra headers, user metadata, tags
    ("building-1/pv-ag-2026-06-12.pdf", 180_000, "application/pdf",
     {"ContentDisposition": 'attachment; filename="PV AG 2026-06-12.pdf"'}, {"document-type": "minutes"},
     "kind=minutes&year=2026"),
    ("building-1/d\u00e9compte charges 2025 \u2013 l\u2019immeuble.pdf", 95_000, "application/pdf",
     {"CacheControl": "private, max-age=0"}, {"document-type": "statement", "uploaded-by": "syndic"},
     "kind=statement"),
    ("building-2/facture-0042.xml", 12_000, "application/xml",
     {"ContentEncoding": "identity"}, {"supplier": "ascenseurs-sa"}, "kind=invoice"),
    ("building-2/scan-contrat.jpg", 400_000, "image/jpeg", {}, {}, ""),
]


def run_playbook(root: Path, playbook: str, extra: dict | None = None):
    """ansible-playbook with the json callback (the tests' runner; extra vars go through a 0600 file)."""
    return ansible_run.run_playbook(root / "playbooks" / playbook, inventory=str(root / "inventories" / "local"),
                                    extra_vars=extra)


def prometheus(url: str, path: str, **params) -> dict:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(url)
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}/api/v1/{path}?{query}", timeout=20) as resp:  # noqa: S310 (loopback)
        return json.loads(resp.read())["data"]


def wait_for(predicate, attempts: int = 90):
    """Poll once a second; bounded by attempts, not by a clock assertion."""
    value = predicate()
    for _attempt in range(attempts):
        if value:
            break
        time.sleep(1)
        value = predicate()
    return value


def seed(s3) -> int:
    added = 0
    for name, size, ctype, headers, meta, tags in SAMPLES:
        key = PREFIX + name
        try:
            s3.head_object(Bucket=BUCKET, Key=key)
            continue
        except ClientError as err:
            if err.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                raise
        extra = dict(headers, ContentType=ctype, Metadata=meta)
        if tags:
            extra["Tagging"] = tags
        s3.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(size), **extra)
        added += 1
    return added


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--demo-dir", required=True)
    ap.add_argument("--direct-url", required=True)
    ap.add_argument("--prometheus-url", required=True)
    ap.add_argument("--root-user", default="koprogo-admin")
    args = ap.parse_args()
    root, demo = Path(args.root), Path(args.demo_dir)
    ok = True

    s3 = boto3.client("s3", endpoint_url=args.direct_url, aws_access_key_id=args.root_user,
                      aws_secret_access_key=(demo / "minio_root_password").read_text().strip(),
                      region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    added = seed(s3)
    total = sum(len(page.get("Contents", [])) for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET))
    print(f"  ok   {len(SAMPLES)} sample documents under {BUCKET}/{PREFIX} ({added} added now; "
          f"Content-Type, Content-Disposition, Cache-Control, metadata, tags); {total} objects in the bucket")

    doc = run_playbook(root, "backup_now.yml")
    result = doc.tasks.get("Read the result", {}).get("ansible_facts", {}).get("backup_now_result", {})
    good = doc.rc == 0 and result.get("exit_code") == 0 and result.get("objects") == total
    ok = ok and good
    print(f"  {'ok  ' if good else 'FAIL'} backup_now.yml: exit {result.get('exit_code', '?')} "
          f"({result.get('meaning', 'no result')}), {result.get('objects', '?')} objects, "
          f"{result.get('bytes', '?')} bytes in {result.get('duration_seconds', '?')} s to the B2 stand-in "
          f"(rclone crypt; manifest encrypted to the operator's GPG key)")

    report_dir = demo / "restore-drill"
    report_dir.mkdir(mode=0o700, exist_ok=True)
    doc = run_playbook(root, "restore.yml", {
        "backup_restore_gnupghome": str(demo / "gnupg"),
        "backup_restore_buckets": [BUCKET],
        "backup_restore_target_bucket": DRILL_BUCKET,
        "backup_restore_drop_target_bucket": True,
        "backup_restore_report_dir": str(report_dir),
    })
    reports = sorted(report_dir.glob("restore-report-*.json"))
    report = json.loads(reports[-1].read_text()) if reports else {}
    good = (doc.rc == 0 and report.get("result") == "ok" and report.get("selected") == total
            and report.get("verified") == total and report.get("target_dropped") is True)
    ok = ok and good
    print(f"  {'ok  ' if good else 'FAIL'} restore drill (restore.yml into {DRILL_BUCKET}): "
          f"{report.get('verified', '?')}/{report.get('selected', '?')} verified (sha256, Content-*, metadata, "
          f"tags), missing {len(report.get('missing', []))}, corrupt {len(report.get('corrupt', []))}, other "
          f"metadata {len(report.get('metadata_mismatch', []))}; live bucket vs manifest "
          f"{report.get('live_vs_manifest', {})}; scratch bucket removed: {report.get('target_dropped')}")
    print(f"       report: {reports[-1] if reports else report_dir}")

    url = args.prometheus_url

    def targets_up():
        active = prometheus(url, "targets", state="active")["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in active}
        return health if health and all(h == "up" for h in health.values()) else None

    health = wait_for(targets_up)
    ok = ok and bool(health)
    shown = health or {t["labels"]["job"]: t["health"]
                       for t in prometheus(url, "targets", state="active")["activeTargets"]}
    print(f"  {'ok  ' if health else 'FAIL'} Prometheus {url}: scrape targets {shown}")
    rules = [r for g in prometheus(url, "rules")["groups"] for r in g["rules"] if r["type"] == "alerting"]
    firing = sorted(r["name"] for r in rules if r["state"] == "firing")
    print(f"  {'ok  ' if rules else 'FAIL'} {len(rules)} alert rules loaded; firing now: {firing or 'none'}")
    ok = ok and bool(rules)

    def backup_metric():
        data = prometheus(url, "query", query="koprogo_backup_objects")["result"]
        return data[0]["value"][1] if data else None

    seen = wait_for(backup_metric)
    good = seen is not None and int(float(seen)) == total
    ok = ok and good
    print(f"  {'ok  ' if good else 'FAIL'} koprogo_backup_objects = {seen} in Prometheus (node exporter textfile)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
