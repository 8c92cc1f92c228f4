#!/usr/bin/env bash
# `make demo` / `make demo-destroy`: the whole storage stack on this machine.
#
#   tests/tools/demo.sh up     install what is missing, start the Debian 12 systemd
#                              container `koprogo-demo` and a second MinIO standing in for
#                              Backblaze B2 (`koprogo-demo-offsite`), converge
#                              playbooks/site.yml with inventories/local (every role but
#                              LUKS), check it with real clients, run a backup and a
#                              restore drill, and ask Prometheus
#   tests/tools/demo.sh down   remove the containers, their data volumes and the demo secrets
#
# The containers share the host network; every service binds 127.0.0.1
# (ports in inventories/local/group_vars/storage/main.yml). Secrets are made
# once into .cache/demo/ (0600) and never printed, and so is the operator's GPG
# key pair for the backup manifests (.cache/demo/gnupg). Running `up` again
# re-converges (no changes) and re-checks. Needs root (Docker engine, image build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
export KOPROGO_CACHE=${KOPROGO_CACHE:-$root/.cache}
export KOPROGO_DEMO_DIR=$KOPROGO_CACHE/demo
export PATH="$root/.venv/bin:$KOPROGO_CACHE/bin:$PATH"
export ANSIBLE_CONFIG="$root/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$KOPROGO_CACHE/collections"
export ANSIBLE_PIPELINING=True ANSIBLE_NOCOLOR=1
name=koprogo-demo
volume=koprogo-demo-data
offsite=koprogo-demo-offsite
offsite_volume=koprogo-demo-offsite-data
offsite_port=19900
s3_host=s3.koprogo.localhost
console_host=console.koprogo.localhost

step() { printf '\n==> %s\n' "$*"; }

up() {
  local start; start=$(date +%s)
  [ -x .venv/bin/ansible-playbook ] || { echo "run 'make setup' first (make demo does)" >&2; exit 1; }
  link="$KOPROGO_CACHE/collections/ansible_collections/koprogo/storage"
  [ -e "$link" ] || { mkdir -p "$(dirname "$link")"; ln -sfn "$root" "$link"; }

  step "Debian packages and the Docker engine"
  flock "$KOPROGO_CACHE/apt.lock" bash "$here/system-deps.sh"
  bash "$here/docker-engine.sh"

  step "Pinned MinIO build (cached) and the systemd image (cached)"
  bash "$here/build-minio.sh"
  KOPROGO_MINIO_BINARY=$(readlink -f "$KOPROGO_CACHE/bin/minio")
  export KOPROGO_MINIO_BINARY
  bash "$here/systemd-image.sh" >/dev/null

  step "Demo secrets in $KOPROGO_DEMO_DIR (made once, 0600)"
  python3 - "$KOPROGO_DEMO_DIR" <<'PY'
import os, secrets, string, sys
folder = sys.argv[1]
os.makedirs(folder, mode=0o700, exist_ok=True)
os.chmod(folder, 0o700)
alphabet = string.ascii_letters + string.digits
for name, length in (("minio_root_password", 32), ("backend_secret_key", 40), ("console_password", 24),
                     ("backup_source_secret_key", 40), ("offsite_root_password", 32), ("backup_crypt_password", 40),
                     ("backup_crypt_salt", 40), ("prometheus_secret_key", 40)):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(secrets.choice(alphabet) for _ in range(length)))
    os.chmod(path, 0o600)
PY
  # The operator's key pair: the server only ever gets the public key (backup_gpg_recipient_key).
  if [ ! -s "$KOPROGO_DEMO_DIR/backup-manifest.pub.asc" ]; then
    install -d -m 700 "$KOPROGO_DEMO_DIR/gnupg"
    gpg --batch --homedir "$KOPROGO_DEMO_DIR/gnupg" --passphrase '' --quick-gen-key \
      "KoproGo demo backup <backup@koprogo.invalid>" future-default default never 2>/dev/null
    gpg --batch --homedir "$KOPROGO_DEMO_DIR/gnupg" --armor --export >"$KOPROGO_DEMO_DIR/backup-manifest.pub.asc"
  fi
  sha256sum "$root/.venv/bin/rclone" >"$KOPROGO_DEMO_DIR/rclone.sha256"

  step "Backblaze B2 stand-in: MinIO $offsite on 127.0.0.1:$offsite_port"
  offsite_env=$KOPROGO_DEMO_DIR/offsite.env
  ( umask 077; printf 'MINIO_ROOT_USER=koprogo-offsite\nMINIO_ROOT_PASSWORD=%s\n' \
      "$(cat "$KOPROGO_DEMO_DIR/offsite_root_password")" >"$offsite_env" )
  if [ "$(docker inspect -f '{{.State.Running}}' "$offsite" 2>/dev/null)" != "true" ]; then
    docker rm -f "$offsite" >/dev/null 2>&1 || true
    # The same pinned build, run as a plain process in the systemd image (no registry needed).
    docker run -d --name "$offsite" --network host --env-file "$offsite_env" \
      -v "$KOPROGO_MINIO_BINARY:/usr/local/bin/minio:ro" -v "$offsite_volume:/data" \
      --entrypoint /usr/local/bin/minio "$(bash "$here/systemd-image.sh" --tag)" \
      server --quiet --address "127.0.0.1:$offsite_port" --console-address "127.0.0.1:$((offsite_port + 1))" /data >/dev/null
  fi
  "$root/.venv/bin/python" - "$offsite_port" "$KOPROGO_DEMO_DIR/offsite_root_password" <<'PY'
import sys, time
from minio import Minio
client = Minio(f"127.0.0.1:{sys.argv[1]}", "koprogo-offsite", open(sys.argv[2]).read().strip(), secure=False)
for attempt in range(120):
    try:
        if not client.bucket_exists("koprogo-demo-offsite"):
            client.make_bucket("koprogo-demo-offsite")
        break
    except Exception:  # not up yet
        time.sleep(0.5)
else:
    sys.exit("the B2 stand-in did not answer")
print("bucket koprogo-demo-offsite ready")
PY

  step "Target container $name"
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = "true" ]; then
    echo "$name is running"
  elif docker inspect "$name" >/dev/null 2>&1 \
      && [ "$(docker inspect -f '{{.Config.Image}}' "$name")" = "$(bash "$here/systemd-image.sh" --tag)" ]; then
    docker start "$name" >/dev/null
    for _ in $(seq 1 120); do
      state=$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)
      case "$state" in running|degraded) break ;; esac
      sleep 0.5
    done
    echo "$name started again"
  else
    bash "$here/systemd-host.sh" start "$name" \
      -v "$volume:/srv/koprogo-data" \
      --add-host "$s3_host:127.0.0.1" --add-host "$console_host:127.0.0.1" >/dev/null
    echo "$name created (data volume $volume on /srv/koprogo-data)"
  fi
  # Debian's Prometheus for the monitoring role, from a local flat apt repository
  # (tests/tools/monitoring-debs.sh downloads it once with this machine's apt).
  repo=$(bash "$here/monitoring-debs.sh")
  if [ "$(docker exec "$name" cat /opt/koprogo-debs/.stamp 2>/dev/null)" != "$(cat "$repo/.stamp")" ]; then
    docker exec "$name" rm -rf /opt/koprogo-debs
    docker cp "$repo/." "$name:/opt/koprogo-debs"
    docker exec "$name" sh -c 'mkdir -p /etc/apt/disabled && (mv /etc/apt/sources.list /etc/apt/disabled/ 2>/dev/null || true) &&
      (mv /etc/apt/sources.list.d/* /etc/apt/disabled/ 2>/dev/null || true) &&
      echo "deb [trusted=yes] file:/opt/koprogo-debs ./" >/etc/apt/sources.list.d/koprogo-local.list &&
      apt-get update -q >/dev/null'
    echo "local apt repository for the monitoring packages ready"
  fi

  step "Converge playbooks/site.yml (log: $KOPROGO_DEMO_DIR/converge.log)"
  local converge_start; converge_start=$(date +%s)
  if ! ansible-playbook -i inventories/local playbooks/site.yml >"$KOPROGO_DEMO_DIR/converge.log" 2>&1; then
    tail -n 40 "$KOPROGO_DEMO_DIR/converge.log" >&2
    echo "converge failed; full log: $KOPROGO_DEMO_DIR/converge.log" >&2
    exit 1
  fi
  chmod 600 "$KOPROGO_DEMO_DIR/converge.log"
  grep -A1 '^PLAY RECAP' "$KOPROGO_DEMO_DIR/converge.log" | tail -n1 | sed 's/  */ /g'
  echo "converge took $(( $(date +%s) - converge_start )) s"

  step "Verification (real clients)"
  python3_venv=$root/.venv/bin/python
  "$python3_venv" "$here/demo_check.py" --container "$name" --demo-dir "$KOPROGO_DEMO_DIR" \
    --s3-url "https://$s3_host:19443" --console-url "https://$console_host:19443" --direct-url "http://127.0.0.1:19000"

  step "Backup to the B2 stand-in, restore drill, Prometheus"
  "$python3_venv" "$here/demo_backup.py" --root "$root" --demo-dir "$KOPROGO_DEMO_DIR" \
    --direct-url "http://127.0.0.1:19000" --prometheus-url "http://127.0.0.1:19090"

  cat <<TXT

==> KoproGo storage demo is up ($(( $(date +%s) - start )) s)
  MinIO console : https://$console_host:19443  (basic auth user "admin", password in $KOPROGO_DEMO_DIR/console_password;
                  then log in to MinIO as "koprogo-admin" with $KOPROGO_DEMO_DIR/minio_root_password)
  S3 API        : https://$s3_host:19443  (direct, inside: http://127.0.0.1:19000)
  TLS CA        : $KOPROGO_DEMO_DIR/ca.crt  (self-signed; e.g. curl --cacert $KOPROGO_DEMO_DIR/ca.crt https://$s3_host:19443/minio/health/live)
  Backend env   : docker exec $name cat /etc/koprogo/backend-storage.env  (service account, never root)
  Backups       : nightly timer in $name (systemctl list-timers koprogo-backup.timer); offsite = MinIO $offsite
                  on http://127.0.0.1:$offsite_port, bucket koprogo-demo-offsite (user koprogo-offsite,
                  password in $KOPROGO_DEMO_DIR/offsite_root_password); manifests decrypt with
                  GNUPGHOME=$KOPROGO_DEMO_DIR/gnupg; runbook: docs/backup-restore.md
  Prometheus    : http://127.0.0.1:19090  (targets, alerts, koprogo_backup_* metrics); node exporter 127.0.0.1:19100
  Shell         : docker exec -it $name bash
  Remove        : make demo-destroy
TXT
}

down() {
  docker rm -f -v "$name" "$offsite" >/dev/null 2>&1 || true
  docker volume rm "$volume" "$offsite_volume" >/dev/null 2>&1 || true
  gpgconf --homedir "$KOPROGO_DEMO_DIR/gnupg" --kill all 2>/dev/null || true
  rm -rf "$KOPROGO_DEMO_DIR"
  echo "demo removed (containers $name and $offsite, volumes $volume and $offsite_volume, $KOPROGO_DEMO_DIR)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
