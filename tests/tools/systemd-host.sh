#!/usr/bin/env bash
# Throwaway Debian systemd hosts (Docker containers) for role tests.
#
#   tests/tools/systemd-host.sh start NAME [extra docker run args...]
#   tests/tools/systemd-host.sh exec NAME CMD [ARGS...]
#   tests/tools/systemd-host.sh stop NAME          (removes the container and its volumes)
#   tests/tools/systemd-host.sh image              (print the image tag, building it if needed)
#
# `start` makes sure the engine and the image exist, (re)creates the container
# and waits until systemd reports `running` or `degraded`. The container
# shares the host network: every service inside must bind 127.0.0.1 on a port
# no other test uses. Reach it from Ansible with the community.docker.docker
# connection (see tests/helpers/systemd_host.py for an inventory writer).
#
# Container options: --privileged fails on these machines (the capability
# bounding set lacks CAP_SYS_RESOURCE), so all capabilities minus SYS_RESOURCE,
# no seccomp filter, the host cgroup namespace with /sys/fs/cgroup writable, and
# tmpfs on /run, /run/lock and /tmp, which also works on ordinary hosts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() { sed -n '3,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

wait_running() {
  local name=$1 state=""
  for _ in $(seq 1 240); do
    state=$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)
    case "$state" in
      running|degraded) return 0 ;;
    esac
    if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != "true" ]; then
      echo "systemd-host: container $name stopped while booting" >&2
      docker logs --tail 30 "$name" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  echo "systemd-host: $name did not finish booting (state: ${state:-unknown})" >&2
  docker exec "$name" systemctl --failed --no-pager >&2 || true
  return 1
}

cmd=${1:-}; [ -n "$cmd" ] || usage; shift
case "$cmd" in
  image)
    bash "$here/docker-engine.sh" >&2
    bash "$here/systemd-image.sh"
    ;;
  start)
    name=${1:-}; [ -n "$name" ] || usage; shift
    bash "$here/docker-engine.sh" >&2
    image=$(bash "$here/systemd-image.sh")
    docker rm -f -v "$name" >/dev/null 2>&1 || true
    docker run -d --name "$name" \
      --network host \
      --cap-add ALL --cap-drop SYS_RESOURCE \
      --security-opt seccomp=unconfined \
      --cgroupns host \
      -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
      --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
      --stop-signal SIGRTMIN+3 \
      --label koprogo.test-host=1 \
      "$@" "$image" /lib/systemd/systemd >/dev/null
    wait_running "$name"
    echo "$name"
    ;;
  exec)
    name=${1:-}; [ -n "$name" ] || usage; shift
    [ $# -gt 0 ] || usage
    if [ -t 0 ]; then exec docker exec -i -t "$name" "$@"; else exec docker exec -i "$name" "$@"; fi
    ;;
  stop)
    name=${1:-}; [ -n "$name" ] || usage
    docker rm -f -v "$name" >/dev/null 2>&1 || true
    ;;
  *) usage ;;
esac
