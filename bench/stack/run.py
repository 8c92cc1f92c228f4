"""Stack benchmark: 1 MiB PUT/GET latency through Traefik TLS, directly to MinIO, and the disk floor.

Converges the real roles (minio_server, minio_config, traefik, backend_env) onto a throwaway
Debian 12 systemd container (host network, everything on 127.0.0.1), then measures with boto3
configured from the rendered backend env file:

- `traefik_tls`: https://s3.<test domain>:<port> through Traefik, trusting the generated CA;
- `direct`: http://127.0.0.1:<MinIO API port>;
- `local_fs`: inside the container, on the file system that holds MinIO's data: write + fsync
  (the durable floor) and read back, same size and count.

The two S3 paths alternate operation by operation so machine load hits both alike. Idle RSS of
MinIO and Traefik is read from /proc before any load. Writes bench/results/stack.json and the
"Stack" section of docs/benchmarks.md (other sections are left alone).

Usage: bench/stack/run.py [--ops 200] [--warmup 20] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.edge_stack import BUCKET, ONE_MIB, S3_HOST, Stack, resolve_to_loopback  # noqa: E402
from helpers.systemd_host import SystemdHost  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "stack.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- stack:begin -->", "<!-- stack:end -->"
GOAL_P50_MS = 100.0
GOAL_RATIO = 1.25

FLOOR_SCRIPT = r"""
import json, os, sys, time
n, size, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(folder, exist_ok=True)
payload = os.urandom(size)
put, get = [], []
for i in range(n):
    path = os.path.join(folder, "obj-%d" % i)
    start = time.perf_counter()
    with open(path, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    put.append(time.perf_counter() - start)
for i in range(n):
    start = time.perf_counter()
    with open(os.path.join(folder, "obj-%d" % i), "rb") as fh:
        fh.read()
    get.append(time.perf_counter() - start)
for i in range(n):
    os.unlink(os.path.join(folder, "obj-%d" % i))
print(json.dumps({"put": put, "get": get}))
"""


def percentiles(samples: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"n": len(ms), "p50": round(cuts[49], 2), "p95": round(cuts[94], 2), "p99": round(cuts[98], 2),
            "mean": round(statistics.fmean(ms), 2), "min": round(ms[0], 2), "max": round(ms[-1], 2)}


def rss_mib(stack: Stack, unit: str) -> float:
    pid = stack.host.exec(["systemctl", "show", "-p", "MainPID", "--value", unit]).stdout.strip()
    status = stack.host.exec(["cat", f"/proc/{pid}/status"]).stdout
    kib = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
    return round(kib / 1024, 1)


def measure_s3(stack: Stack, ops: int, warmup: int) -> dict:
    payload = secrets.token_bytes(ONE_MIB)
    with resolve_to_loopback(S3_HOST):
        clients = {"traefik_tls": stack.backend_s3(verify=str(stack.ca_file)),
                   "direct": stack.backend_s3(endpoint=stack.direct_endpoint())}
        timings = {path: {"put": [], "get": []} for path in clients}
        for i in range(warmup + ops):
            for path, client in clients.items():
                key = f"documents/bench/{path}/{i % 50}.bin"  # the backend's account may write only under its prefix
                start = time.perf_counter()
                client.put_object(Bucket=BUCKET, Key=key, Body=payload)
                put = time.perf_counter() - start
                start = time.perf_counter()
                body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                get = time.perf_counter() - start
                if body != payload:
                    raise RuntimeError(f"{path}: object bytes differ")
                if i >= warmup:
                    timings[path]["put"].append(put)
                    timings[path]["get"].append(get)
    return timings


def measure_floor(stack: Stack, ops: int) -> dict:
    out = stack.host.exec(["python3", "-c", FLOOR_SCRIPT, str(ops), str(ONE_MIB), "/srv/koprogo-data/bench-floor"])
    return json.loads(out.stdout)


def write_doc(result: dict) -> None:
    lat = result["latency_ms"]
    rows = []
    for op in ("put", "get"):
        for path, label in (("traefik_tls", "Traefik TLS -> MinIO"), ("direct", "MinIO direct (HTTP)"),
                            ("local_fs", "local file system (write+fsync / read)")):
            m = lat[op][path]
            rows.append(f"| {op.upper()} 1 MiB | {label} | {m['p50']} | {m['p95']} | {m['p99']} | {m['n']} |")
    goals = result["goals"]
    rss = result["idle_rss_mib"]
    meta = result["meta"]
    section = "\n".join([
        BEGIN,
        "## Stack",
        "",
        "`bench/stack/run.py` converges minio_server, minio_config, traefik and backend_env onto a",
        "throwaway Debian 12 systemd container (host network, loopback only) and times 1 MiB objects",
        "with boto3 configured from the rendered backend env file. Traefik and direct requests alternate,",
        "after a warm-up; the floor is the same write (with fsync) and read on MinIO's file system.",
        "",
        f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, load average"
        f" {meta['loadavg_before']} before the run), Traefik {meta['traefik_version']}, {meta['ops']} operations"
        " per row.",
        "",
        "| Operation | Path | p50 ms | p95 ms | p99 ms | n |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Idle RSS: MinIO {rss['minio']} MiB, Traefik {rss['traefik']} MiB"
        f" (after the load: MinIO {result['after_load_rss_mib']['minio']} MiB,"
        f" Traefik {result['after_load_rss_mib']['traefik']} MiB).",
        "",
        "| Goal | Value | Met |",
        "|---|---|---|",
        f"| PUT p50 through Traefik < {GOAL_P50_MS:.0f} ms | {lat['put']['traefik_tls']['p50']} ms"
        f" | {'yes' if goals['put_p50_under_100ms'] else 'NO'} |",
        f"| PUT p50 Traefik / direct <= {GOAL_RATIO} | {goals['put_p50_ratio']}"
        f" | {'yes' if goals['put_p50_ratio_ok'] else 'NO'} |",
        "",
        "Raw numbers: `bench/results/stack.json`. A shared, loaded machine inflates every figure; compare",
        "the rows of one run with each other rather than runs on different machines.",
        END,
    ])
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--ops", type=int, default=200, help="measured operations per path (>= 200 for the report)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="leave the container running")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    if args.ops < 2:
        parser.error("--ops must be at least 2")

    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"koprogo-bench-stack-{secrets.token_hex(3)}"
    workdir.mkdir(parents=True)
    loadavg = os.getloadavg()[0]
    host = SystemdHost("kp-bench-stack-" + secrets.token_hex(3))
    print(f"bench/stack: starting {host.name}", flush=True)
    host.start()
    try:
        stack = Stack(host, workdir)
        started = time.monotonic()
        converge = stack.run()
        if converge.rc != 0:
            print(converge.stdout[-4000:], converge.stderr[-2000:], sep="\n")
            return 1
        converge_s = round(time.monotonic() - started, 1)
        print(f"bench/stack: converged in {converge_s} s; idle 10 s", flush=True)
        time.sleep(10)
        idle = {"minio": rss_mib(stack, "minio"), "traefik": rss_mib(stack, "traefik")}
        print(f"bench/stack: {args.ops} x 1 MiB PUT+GET per path", flush=True)
        s3 = measure_s3(stack, args.ops, args.warmup)
        floor = measure_floor(stack, args.ops)
        after = {"minio": rss_mib(stack, "minio"), "traefik": rss_mib(stack, "traefik")}
        traefik_version = stack.host.exec(["/usr/local/bin/traefik", "version"]).stdout
        version = re.search(r"Version:\s+(\S+)", traefik_version)
    finally:
        if args.keep:
            print(f"bench/stack: kept container {host.name}")
        else:
            host.stop()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)

    latency = {op: {"traefik_tls": percentiles(s3["traefik_tls"][op]), "direct": percentiles(s3["direct"][op]),
                    "local_fs": percentiles(floor[op])} for op in ("put", "get")}
    ratio = round(latency["put"]["traefik_tls"]["p50"] / latency["put"]["direct"]["p50"], 2)
    result = {
        "meta": {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "machine": platform.machine(), "cpus": os.cpu_count(), "loadavg_before": round(loadavg, 2),
                 "ops": args.ops, "warmup": args.warmup, "object_bytes": ONE_MIB, "converge_seconds": converge_s,
                 "traefik_version": version.group(1) if version else "unknown"},
        "latency_ms": latency,
        "idle_rss_mib": idle,
        "after_load_rss_mib": after,
        "goals": {"put_p50_under_100ms": latency["put"]["traefik_tls"]["p50"] < GOAL_P50_MS,
                  "put_p50_ratio": ratio, "put_p50_ratio_ok": ratio <= GOAL_RATIO},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_doc:
        write_doc(result)
    print(json.dumps({"latency_ms": latency, "idle_rss_mib": idle, "goals": result["goals"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
