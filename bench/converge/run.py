"""Converge benchmark: first converge vs a no-change converge of playbooks/site.yml, per connection.

For each connection, on a fresh disposable Debian 12 systemd container (host network, every
service on 127.0.0.1 on ports of its own, never the demo's):

- `docker`: the community.docker.docker connection the tests and `make demo` use
  (container `koprogo-bench-docker`);
- `ssh`: OpenSSH with pipelining and ControlPersist to sshd inside the container
  (`koprogo-bench-ssh`), listening on 127.0.0.1 only. The shared systemd image has no sshd
  (every test container shares the host network, so an sshd in the image would start in all of
  them): openssh-server is installed into this container alone from the apt mirror its sources
  name, with service starts blocked until sshd is told to listen on 127.0.0.1:<port>.

Each container gets `site.yml` with an inventory like inventories/local (the core stack of
`make demo`: LUKS, backup and monitoring off; other ports; secrets made for the run), converged
four times in a row: the first converge, then three runs with nothing to change (the median one is
reported, with the range), all with the `ansible.posix.profile_tasks` callback. The containers run
one after the other (one converge at a time). Wall time is the whole `ansible-playbook` process.
Writes bench/results/converge.json, the raw output of every run in bench/results/converge/ and the
"Converge (first vs no-change)" section of docs/benchmarks.md.

Usage: bench/converge/run.py [--connection docker --connection ssh] [--keep] [--no-doc]
                             [--baseline OLD.json] [--doc-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD_HOST = ROOT / "tests" / "tools" / "systemd-host.sh"
RESULTS = ROOT / "bench" / "results" / "converge.json"
RAW = ROOT / "bench" / "results" / "converge"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- converge:begin -->", "<!-- converge:end -->"
CACHE = Path(os.environ.get("KOPROGO_CACHE", ROOT / ".cache"))
BIN = ROOT / ".venv" / "bin"
GOAL_RATIO = 0.4
GOAL_SSH_SECONDS = 25.0
NOCHANGE_RUNS = 3
TOP = 15
S3_HOST, CONSOLE_HOST = "s3.koprogo.localhost", "console.koprogo.localhost"

# Ports of each connection's stack; the demo uses 19000/19001/19080/19443.
PORTS = {
    "docker": {"minio_server_api_port": 29300, "minio_server_console_port": 29301,
               "traefik_http_port": 29380, "traefik_https_port": 29743},
    "ssh": {"minio_server_api_port": 29400, "minio_server_console_port": 29401,
            "traefik_http_port": 29480, "traefik_https_port": 29843, "sshd": 29422},
}
CONTAINERS = {"docker": "koprogo-bench-docker", "ssh": "koprogo-bench-ssh"}
PROFILE_LINE = re.compile(r"^(?P<task>.+?) -{2,} (?P<seconds>\d+(?:\.\d+)?)s$")
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)"
                        r"\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)")

SSHD_SETUP = r"""
set -eu
port=$1
mkdir -p /etc/ssh/sshd_config.d /root/.ssh
chmod 700 /root/.ssh
cat >/etc/ssh/sshd_config.d/koprogo-bench.conf <<EOF
Port $port
ListenAddress 127.0.0.1
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF
# No service may start while the package installs: its default would listen on 0.0.0.0:22.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
if ! command -v sshd >/dev/null 2>&1; then
  apt-get -q update >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends \
    openssh-server openssh-sftp-server >/dev/null
fi
rm -f /usr/sbin/policy-rc.d
cat >/root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
mkdir -p /run/sshd && sshd -t
systemctl enable ssh.service >/dev/null 2>&1 || true
systemctl restart ssh.service
for _ in $(seq 1 50); do
  ss -Hltn "sport = :$port" | grep -q . && exit 0
  sleep 0.2
done
echo "sshd does not listen on $port" >&2
exit 1
"""


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT of an earlier run is no clash
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def make_secrets(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True)
    alphabet = string.ascii_letters + string.digits
    for name, length in (("minio_root_password", 32), ("backend_secret_key", 40), ("console_password", 24)):
        path = folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(secrets.choice(alphabet) for _unused in range(length)))


def stack_vars(connection: str, secrets_dir: Path) -> dict:
    """The settings of inventories/local (the core stack as `make demo` had it: LUKS, backup and
    monitoring off) on this connection's ports, with this run's secrets. Kept here rather than read
    from inventories/local so that the figures of two runs stay comparable while the demo grows."""
    ports = PORTS[connection]
    https = ports["traefik_https_port"]
    secret = "{{{{ lookup('ansible.builtin.file', '{}/{}') }}}}".format
    binary = "{{ lookup('ansible.builtin.env', 'KOPROGO_MINIO_BINARY') }}"
    return {
        "koprogo_storage_luks_enabled": False,
        "koprogo_storage_backup_enabled": False,
        "koprogo_storage_monitoring_enabled": False,
        "minio_server_install_source": "local",
        "minio_server_local_file": binary,
        "minio_server_sha256": "{{ lookup('ansible.builtin.file', lookup('ansible.builtin.env', "
                               "'KOPROGO_MINIO_BINARY') ~ '.sha256').split()[0] }}",
        "minio_server_root_user": "koprogo-admin",
        "minio_server_root_password": secret(secrets_dir, "minio_root_password"),
        "minio_server_api_port": ports["minio_server_api_port"],
        "minio_server_console_port": ports["minio_server_console_port"],
        "minio_server_browser_redirect_url": f"https://{CONSOLE_HOST}:{https}",
        "minio_config_backend_access_key": "koprogo-backend-app",
        "minio_config_backend_secret_key": secret(secrets_dir, "backend_secret_key"),
        "traefik_install_source": "local",
        "traefik_local_file": "{{ ansible_playbook_python | dirname }}/traefik",
        "traefik_listen_address": "127.0.0.1",
        "traefik_http_port": ports["traefik_http_port"],
        "traefik_https_port": https,
        "traefik_console_host": CONSOLE_HOST,
        "traefik_s3_host": S3_HOST,
        "traefik_console_user": "admin",
        "traefik_console_password": secret(secrets_dir, "console_password"),
        "traefik_tls_mode": "selfsigned",
        "traefik_selfsigned_ca_fetch_dest": f"{secrets_dir}/ca.crt",
        "backend_env_s3_endpoint": f"https://{S3_HOST}:{https}",
    }


def write_inventory(folder: Path, connection: str, secrets_dir: Path, ssh_key: Path | None) -> Path:
    ports = PORTS[connection]
    name = CONTAINERS[connection]
    if connection == "docker":
        hostvars = {"ansible_connection": "community.docker.docker", "ansible_host": name}
    else:
        hostvars = {
            "ansible_connection": "ansible.builtin.ssh", "ansible_host": "127.0.0.1", "ansible_port": ports["sshd"],
            "ansible_ssh_private_key_file": str(ssh_key),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                                       " -o ControlMaster=auto -o ControlPersist=120s -o LogLevel=ERROR",
            "ansible_ssh_pipelining": True,
        }
    hostvars.update({"ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3"})
    (folder / "group_vars" / "storage").mkdir(parents=True)
    (folder / "group_vars" / "storage" / "main.yml").write_text(
        "---\n" + yaml.safe_dump(stack_vars(connection, secrets_dir), sort_keys=False))
    (folder / "hosts.yml").write_text("---\n" + yaml.safe_dump(
        {"all": {"children": {"storage": {"hosts": {name: hostvars}}}}}, sort_keys=False))
    return folder


def start_container(connection: str, workdir: Path) -> Path | None:
    name = CONTAINERS[connection]
    # Like the demo, MinIO's data sits on a volume mounted at /srv/koprogo-data (an anonymous one,
    # removed with the container).
    subprocess.run(["bash", str(SYSTEMD_HOST), "start", name, "-v", "/srv/koprogo-data",
                    "--add-host", f"{S3_HOST}:127.0.0.1",
                    "--add-host", f"{CONSOLE_HOST}:127.0.0.1"], check=True, stdout=subprocess.DEVNULL)
    if connection != "ssh":
        return None
    key = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "koprogo-bench", "-f", str(key)], check=True)
    subprocess.run(["docker", "exec", "-i", name, "bash", "-c", SSHD_SETUP, "sshd-setup", str(PORTS["ssh"]["sshd"])],
                   input=key.with_suffix(".pub").read_text(), text=True, check=True)
    return key


def parse_run(output: str) -> dict:
    recap = {}
    for line in output.splitlines():
        m = RECAP_LINE.match(line.strip())
        if m:
            recap = {k: int(v) for k, v in m.groupdict().items() if k != "host"}
    tasks = []
    in_profile = False
    for line in output.splitlines():
        line = line.rstrip()
        if re.match(r"^=+ *$", line) and recap:
            in_profile = True
            continue
        if in_profile:
            m = PROFILE_LINE.match(line)
            if m:
                tasks.append({"task": m.group("task").strip(), "seconds": float(m.group("seconds"))})
    tasks.sort(key=lambda t: t["seconds"], reverse=True)
    return {"recap": recap, "tasks": tasks}


def converge(connection: str, label: str, inventory: Path, env: dict) -> dict:
    cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / "site.yml")]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = round(time.monotonic() - start, 1)
    stderr = "\n--- stderr\n" + proc.stderr if proc.stderr else ""
    converge_log(connection, label, proc.stdout + stderr)
    if proc.returncode != 0:
        print(proc.stdout[-6000:], proc.stderr[-3000:], sep="\n", file=sys.stderr)
        raise RuntimeError(f"{connection} {label} converge failed (rc {proc.returncode})")
    parsed = parse_run(proc.stdout)
    print(f"bench/converge: {connection} {label}: {wall} s, {parsed['recap']}", flush=True)
    return {"wall_s": wall, "task_count": len(parsed["tasks"]), "recap": parsed["recap"],
            "task_sum_s": round(sum(t["seconds"] for t in parsed["tasks"]), 1), "tasks": parsed["tasks"],
            "log": proc.stdout + stderr}


def converge_log(connection: str, label: str, text: str) -> None:
    RAW.mkdir(parents=True, exist_ok=True)
    (RAW / f"{connection}-{label}.log").write_text(text)


def bench_connection(connection: str, workdir: Path, keep: bool) -> dict:
    cdir = workdir / connection
    cdir.mkdir()
    for key, port in PORTS[connection].items():
        if not port_free(port):
            raise RuntimeError(f"port {port} ({key}) is taken on 127.0.0.1")
    secrets_dir = cdir / "secrets"
    make_secrets(secrets_dir)
    minio_binary = os.path.realpath(CACHE / "bin" / "minio")
    env = {
        **os.environ,
        "PATH": f"{BIN}:{CACHE / 'bin'}:{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(CACHE / "collections"),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
        "PROFILE_TASKS_SORT_ORDER": "descending",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cdir / "cp"),
        "ANSIBLE_LOCAL_TEMP": str(cdir / "tmp"),
        "KOPROGO_MINIO_BINARY": minio_binary,
    }
    print(f"bench/converge: starting {CONTAINERS[connection]}", flush=True)
    start = time.monotonic()
    try:
        key = start_container(connection, cdir)
        setup_s = round(time.monotonic() - start, 1)
        inventory = write_inventory(cdir / "inventory", connection, secrets_dir, key)
        first = converge(connection, "first", inventory, env)
        # A single no-change run moves by a few seconds with the machine's load: keep the median of three.
        runs = sorted((converge(connection, "nochange", inventory, env) for _run in range(NOCHANGE_RUNS)),
                      key=lambda run: run["wall_s"])
        nochange = dict(runs[len(runs) // 2], runs_s=[run["wall_s"] for run in runs])
        converge_log(connection, "nochange", nochange["log"])
    finally:
        if keep:
            print(f"bench/converge: kept container {CONTAINERS[connection]}")
        else:
            subprocess.run(["bash", str(SYSTEMD_HOST), "stop", CONTAINERS[connection]], check=False)
    for run in runs:
        if run["recap"].get("changed", -1) != 0:
            print(f"bench/converge: WARNING {connection} no-change run reported {run['recap']}", file=sys.stderr)
    first.pop("log")
    nochange.pop("log")
    return {"container_setup_s": setup_s, "first": first, "nochange": nochange,
            "ratio": round(nochange["wall_s"] / first["wall_s"], 2)}


def versions() -> dict:
    out = subprocess.run([str(BIN / "ansible-playbook"), "--version"], capture_output=True, text=True,
                         check=False).stdout
    m = re.search(r"core ([\d.]+)", out)
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False).stderr.strip()
    return {"ansible_core": m.group(1) if m else "unknown", "ssh_client": ssh}


def write_doc(result: dict, previous: dict | None) -> None:
    meta, runs = result["meta"], result["connections"]
    labels = {"docker": "Docker (`community.docker.docker`)", "ssh": "SSH (pipelining, ControlPersist)"}
    rows = []
    for conn, r in runs.items():
        spread = r["nochange"].get("runs_s")
        nochange_cell = f"{r['nochange']['wall_s']}" + (f" ({min(spread)}-{max(spread)})" if spread else "")
        rows.append(f"| {labels[conn]} | {r['first']['wall_s']} | {nochange_cell} | **{r['ratio']}** |"
                    f" {r['first']['recap'].get('changed', '?')} / {r['nochange']['recap'].get('changed', '?')} |"
                    f" {r['nochange']['task_count']} |")
    lines = [
        BEGIN,
        "## Converge (first vs no-change)",
        "",
        "`bench/converge/run.py` converges `playbooks/site.yml` with the settings of inventories/local",
        "(the core stack of `make demo`: minio_server, minio_config, traefik, backend_env; LUKS, backup and",
        "monitoring off) on ports of its own onto a fresh Debian 12 systemd container per connection, four",
        "times in a row: the first converge, then three runs with nothing to change, of which the table gives",
        "the median (all three are in the JSON). The containers run one after the other; wall time is the",
        "whole `ansible-playbook` process, per-task seconds come from",
        "`ansible.posix.profile_tasks` (skipped tasks count in \"tasks timed\"). Over SSH, sshd runs inside",
        "the container on a 127.0.0.1 port (pipelining, ControlPersist); the Docker connection runs",
        "`docker exec` per module call. The load average matters: other suites shared the 2 CPUs.",
        "",
        f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, load average"
        f" {meta['loadavg_before']} before the run), ansible-core {meta['ansible_core']}, {meta['ssh_client']}.",
        "",
        "| connection | first s | no-change s, median (range) | no-change / first | changed (first / no-change)"
        " | tasks timed (no-change) |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ]
    goals = result["goals"]
    lines += [
        "| Goal | Value | Met |",
        "|---|---|---|",
        *[f"| no-change <= {GOAL_RATIO} x first ({conn}) | {runs[conn]['ratio']} |"
          f" {'yes' if goals[f'ratio_{conn}_ok'] else 'NO'} |" for conn in runs],
    ]
    if "ssh" in runs:
        lines.append(f"| no-change over SSH <= {GOAL_SSH_SECONDS:.0f} s | {runs['ssh']['nochange']['wall_s']} s |"
                     f" {'yes' if goals['ssh_nochange_ok'] else 'NO'} |")
    if previous:
        lines += ["", f"Before the changes (run of {previous['meta']['date']}, same bench):", "",
                  "| connection | first s | no-change s | no-change / first |", "|---|---:|---:|---:|"]
        for conn, r in previous["connections"].items():
            lines.append(f"| {labels[conn]} | {r['first']['wall_s']} | {r['nochange']['wall_s']} | {r['ratio']} |")
    for conn, r in runs.items():
        lines += ["", f"Slowest tasks of the no-change run, {labels[conn]}:", "",
                  "| task | s |", "|---|---:|"]
        for t in r["nochange"]["tasks"][:TOP]:
            lines.append(f"| {t['task'].replace('|', '/')} | {t['seconds']:.2f} |")
    lines += ["", "Raw numbers: `bench/results/converge.json`; each run's output, with the full per-task",
              "profile at its end: `bench/results/converge/<connection>-<first|nochange>.log`.", END]
    section = "\n".join(lines)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--connection", action="append", choices=sorted(PORTS),
                        help="connections to measure (default: docker and ssh)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the containers and the work folder (inventory, secrets, key)")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--baseline", type=Path,
                        help="an earlier converge.json to show as 'before' in docs/benchmarks.md")
    parser.add_argument("--doc-only", action="store_true",
                        help="only rewrite the docs/benchmarks.md section from bench/results/converge.json")
    args = parser.parse_args()
    connections = args.connection or ["docker", "ssh"]
    previous = json.loads(args.baseline.read_text()) if args.baseline else None
    if args.doc_only:
        write_doc(json.loads(RESULTS.read_text()), previous)
        return 0
    if not (CACHE / "bin" / "minio").exists():
        print("bench/converge: no MinIO build in .cache/bin (run `make minio`)", file=sys.stderr)
        return 1
    # A kill (SIGTERM) still removes the containers and the temporary folder.
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))
    loadavg = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="koprogo-bench-converge-"))
    runs = {}
    try:
        for conn in connections:
            runs[conn] = bench_connection(conn, workdir, args.keep)
    finally:
        if args.keep:
            # Inventory, secrets and SSH key stay next to the kept containers, for re-runs by hand.
            print(f"bench/converge: kept {workdir}")
        for cp in ([] if args.keep else workdir.glob("*/cp")):
            for sock in cp.glob("*"):
                subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True,
                               check=False)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    goals = {f"ratio_{c}_ok": r["ratio"] <= GOAL_RATIO for c, r in runs.items()}
    if "ssh" in runs:
        goals["ssh_nochange_ok"] = runs["ssh"]["nochange"]["wall_s"] <= GOAL_SSH_SECONDS
    result = {
        "meta": {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "machine": platform.machine(), "cpus": os.cpu_count(), "loadavg_before": round(loadavg, 2),
                 **versions()},
        "connections": runs,
        "goals": goals,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_doc:
        write_doc(result, previous)
    summary = {c: {"first_s": r["first"]["wall_s"], "nochange_s": r["nochange"]["wall_s"], "ratio": r["ratio"]}
               for c, r in runs.items()}
    print(json.dumps({"converge": summary, "goals": result["goals"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
