#!/usr/bin/env bash
# `make test`: every suite CI runs, in the time CI has.
#
# The LUKS VM scenario (qemu under TCG, about 35 min) spends its time on one core emulating the
# guest, so it runs in the background beside the other suites (lint, sanity, unit, integration,
# molecule default) instead of after them. Its output goes to a log printed at the end; the
# script fails when either side fails, and prints how long each side took.
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
# Whatever happens, never leave the VM scenario running behind us.
trap 'kill -- "-$luks_pid" 2>/dev/null' EXIT

make --no-print-directory lint sanity test-unit test-integration test-molecule
main_status=$?
main_s=$(( $(date +%s) - start ))
echo "== lint, sanity, unit, integration, molecule default: exit $main_status after $main_s s"
echo "== waiting for the LUKS VM scenario (log: $luks_log)"
wait "$luks_pid"
luks_status=$?
trap - EXIT
echo "== LUKS VM scenario output =="
cat "$luks_log"
echo "== LUKS VM scenario: exit $luks_status after $(( $(date +%s) - start )) s since the start"
[ "$main_status" -eq 0 ] && [ "$luks_status" -eq 0 ]
