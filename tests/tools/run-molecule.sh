#!/usr/bin/env bash
# Run one molecule scenario of the root molecule/ folder: `molecule test -s SCENARIO`.
#
#   tests/tools/run-molecule.sh SCENARIO [extra molecule test args...]
#   KOPROGO_MOLECULE_COMMAND=converge tests/tools/run-molecule.sh default   (any molecule command)
#
# Scenarios whose files mention KOPROGO_SYSTEMD_IMAGE run on the Debian systemd
# container image: this script starts the Docker engine, builds the image once
# (tests/tools/systemd-image.sh) and exports its tag in KOPROGO_SYSTEMD_IMAGE.
# Scenarios mentioning KOPROGO_MINIO_BINARY get the pinned MinIO build
# (tests/tools/build-minio.sh, cached) and its path. The collection is used
# straight from this checkout (.cache/collections link); nothing is fetched
# from Galaxy. Needs root for the engine and the image build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scenario=${1:?usage: run-molecule.sh SCENARIO [molecule args...]}
shift
cd "$root"
[ -f "molecule/$scenario/molecule.yml" ] || { echo "no scenario molecule/$scenario" >&2; exit 1; }

export KOPROGO_CACHE=${KOPROGO_CACHE:-$root/.cache}
export PATH="$root/.venv/bin:$KOPROGO_CACHE/bin:$PATH"
export ANSIBLE_CONFIG="$root/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$KOPROGO_CACHE/collections"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
# The collection link `make setup` creates; make it here too for direct calls.
link="$KOPROGO_CACHE/collections/ansible_collections/koprogo/storage"
[ -e "$link" ] || { mkdir -p "$(dirname "$link")"; ln -sfn "$root" "$link"; }

if grep -rqs KOPROGO_SYSTEMD_IMAGE "molecule/$scenario"; then
  bash "$here/docker-engine.sh"
  KOPROGO_SYSTEMD_IMAGE=$(bash "$here/systemd-image.sh")
  export KOPROGO_SYSTEMD_IMAGE
fi
if grep -rqs KOPROGO_MINIO_BINARY "molecule/$scenario"; then
  bash "$here/build-minio.sh"
  KOPROGO_MINIO_BINARY=$(readlink -f "$KOPROGO_CACHE/bin/minio")
  export KOPROGO_MINIO_BINARY
fi

command=${KOPROGO_MOLECULE_COMMAND:-test}
start=$(date +%s)
status=0
molecule "$command" -s "$scenario" "$@" || status=$?
echo "molecule $command -s $scenario: exit $status after $(( $(date +%s) - start )) s"
exit "$status"
