#!/usr/bin/env bash
# `make test`: every suite CI runs, in the time CI has.
#
# The LUKS VM scenario (qemu under TCG, about 35 min) spends its time on one core emulating the
# guest, so it runs in the background beside the other suites (lint, sanity, unit, integration,
# molecule default) instead of after them. Its output goes to a log printed at the end; the
# script fails when either side fails, and prints how long each side took.
#
# On a fresh machine three builds the integration suite needs (the systemd test image, Docker
# Compose, KoproGo's Rust client probe: 20-25 min together) also start in the background, so they
# overlap lint, sanity, unit and the first integration tests (the tests that need Compose or the
# probe run last: tests/conftest.py). Each build script holds a lock and reuses a finished build,
# so a test that gets there first waits for the build instead of starting a second one, and a
# build that fails here fails again, with its message, in the test that needs it. On a warm
# machine each build is a cache check of a second or two.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1
logs=${KOPROGO_CACHE:-$root/.cache}/logs
mkdir -p "$logs"
luks_log="$logs/test-luks.log"

start=$(date +%s)
setsid make --no-print-directory test-luks >"$luks_log" 2>&1 &
luks_pid=$!
prebuild_log="$logs/test-prebuild.log"
# shellcheck disable=SC2016  # the inner shell expands these
setsid bash -c '
  step() { local t=$(date +%s); "$@" >/dev/null; echo "== $* : exit $? after $(( $(date +%s) - t )) s"; }
  step bash tests/tools/docker-engine.sh
  step bash tests/tools/systemd-image.sh
  step bash tests/tools/build-compose.sh
  step nice -n 10 bash tests/tools/build-koprogo-client.sh
' >"$prebuild_log" 2>&1 &
prebuild_pid=$!
# Whatever happens, never leave the VM scenario or a build running behind us.
trap 'kill -- "-$luks_pid" "-$prebuild_pid" 2>/dev/null' EXIT

make --no-print-directory lint sanity test-unit test-integration test-molecule
main_status=$?
main_s=$(( $(date +%s) - start ))
echo "== lint, sanity, unit, integration, molecule default: exit $main_status after $main_s s"
wait "$prebuild_pid"
echo "== background builds (log: $prebuild_log):"
cat "$prebuild_log"
echo "== waiting for the LUKS VM scenario (log: $luks_log)"
wait "$luks_pid"
luks_status=$?
trap - EXIT
echo "== LUKS VM scenario output =="
cat "$luks_log"
echo "== LUKS VM scenario: exit $luks_status after $(( $(date +%s) - start )) s since the start"
[ "$main_status" -eq 0 ] && [ "$luks_status" -eq 0 ]
