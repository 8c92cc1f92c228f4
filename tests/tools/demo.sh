#!/usr/bin/env bash
# `make demo` / `make demo-destroy`: the whole storage stack on this machine.
#
#   tests/tools/demo.sh up     install what is missing, start the Debian 12 systemd
#                              container `koprogo-demo`, converge playbooks/site.yml
#                              with inventories/local, check it with boto3
#   tests/tools/demo.sh down   remove the container, its data volume and the demo secrets
#
# The container shares the host network; every service binds 127.0.0.1
# (ports in inventories/local/group_vars/storage/main.yml). Secrets are made
# once into .cache/demo/ (0600) and never printed. Running `up` again
# re-converges (quick, no changes) and re-checks. Needs root (Docker engine,
# image build).
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
for name, length in (("minio_root_password", 32), ("backend_secret_key", 40), ("console_password", 24)):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(secrets.choice(alphabet) for _ in range(length)))
    os.chmod(path, 0o600)
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

  cat <<TXT

==> KoproGo storage demo is up ($(( $(date +%s) - start )) s)
  MinIO console : https://$console_host:19443  (basic auth user "admin", password in $KOPROGO_DEMO_DIR/console_password;
                  then log in to MinIO as "koprogo-admin" with $KOPROGO_DEMO_DIR/minio_root_password)
  S3 API        : https://$s3_host:19443  (direct, inside: http://127.0.0.1:19000)
  TLS CA        : $KOPROGO_DEMO_DIR/ca.crt  (self-signed; e.g. curl --cacert $KOPROGO_DEMO_DIR/ca.crt https://$s3_host:19443/minio/health/live)
  Backend env   : docker exec $name cat /etc/koprogo/backend-storage.env  (service account, never root)
  Shell         : docker exec -it $name bash
  Remove        : make demo-destroy
TXT
}

down() {
  docker rm -f -v "$name" >/dev/null 2>&1 || true
  docker volume rm "$volume" >/dev/null 2>&1 || true
  rm -rf "$KOPROGO_DEMO_DIR"
  echo "demo removed (container $name, volume $volume, $KOPROGO_DEMO_DIR)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
