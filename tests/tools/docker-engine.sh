#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`.
#
# Quick no-op when the engine already runs. Otherwise: install the Debian
# package docker.io when dockerd is missing (through system-deps.sh, which
# never starts package services), start dockerd in the background with its
# log in .cache/dockerd.log, and wait until it answers.
#
# Starting dockerd needs root (the test machines and CI run as root); as
# another user this script only succeeds when an engine already runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${KOPROGO_CACHE:-$root/.cache}

engine_up() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_up; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "docker-engine.sh: no Docker engine answers and starting one needs root" >&2
  exit 1
fi

mkdir -p "$cache"
# Several test suites may call this at once: one starter at a time.
exec 9>"$cache/docker-engine.lock"
flock 9
if command -v docker >/dev/null 2>&1 && engine_up; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  flock "$cache/apt.lock" bash "$here/system-deps.sh"
fi
command -v dockerd >/dev/null 2>&1 || { echo "docker-engine.sh: dockerd not installed" >&2; exit 1; }

if ! pgrep -x dockerd >/dev/null 2>&1; then
  # containerd is started by dockerd itself when it is not running already.
  echo "starting dockerd (log: $cache/dockerd.log)"
  # Its own session: a caller's process group may be killed when it ends (a test runner's
  # timeout, a shell job), and that must not take the engine and every test container with it.
  setsid nohup dockerd >>"$cache/dockerd.log" 2>&1 </dev/null &
  disown || true
fi

for _ in $(seq 1 120); do
  engine_up && exit 0
  sleep 0.5
done
echo "docker-engine.sh: dockerd did not answer within 60 s; see $cache/dockerd.log" >&2
tail -n 20 "$cache/dockerd.log" >&2 || true
exit 1
