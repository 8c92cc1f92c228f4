#!/usr/bin/env bash
# Build the pinned MinIO server and mc from source (Go module proxy + checksum
# database), keep them by version in the machine's cache (shared by every clone,
# so a fresh clone on a warm machine only links them), record their sha256, and
# link .cache/bin/minio and .cache/bin/mc to the pinned builds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${KOPROGO_CACHE:-$root/.cache}
# shellcheck source=versions.env
. "$here/versions.env"
# Keyed by version and checked against the recorded sha256 before use.
builds=${KOPROGO_MACHINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/koprogo-storage}/minio-builds
mkdir -p "$cache/bin" "$builds"
exec 9>"$builds/.build.lock"
flock 9

build() { # name module version h1
  local name=$1 module=$2 version=$3 h1=$4
  local out="$builds/$name-$version"
  if [ -x "$out" ] && [ -f "$out.sha256" ] && (cd "$builds" && sha256sum -c --quiet "$name-$version.sha256"); then
    ln -sfn "$out" "$cache/bin/$name"
    return
  fi
  echo "building $module@$version (first run only; a few minutes)" >&2
  local gobin; gobin=$(mktemp -d)
  CGO_ENABLED=0 GOFLAGS=-trimpath GOBIN="$gobin" go install "$module@$version"
  local got; got=$(go version -m "$gobin/$name" | awk -v m="$module" '$1=="mod" && $2==m {print $3" "$4}')
  if [ "$got" != "$version $h1" ]; then
    echo "refusing $name: built module is '$got', expected '$version $h1'" >&2
    rm -rf "$gobin"; exit 1
  fi
  mv "$gobin/$name" "$out"; rm -rf "$gobin"
  (cd "$builds" && sha256sum "$name-$version" > "$name-$version.sha256")
  echo "$name $version sha256 $(cut -d' ' -f1 "$out.sha256")" >&2
  ln -sfn "$out" "$cache/bin/$name"
}

build minio "$MINIO_MODULE" "$MINIO_VERSION" "$MINIO_H1"
build mc "$MC_MODULE" "$MC_VERSION" "$MC_H1"
