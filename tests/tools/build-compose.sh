#!/usr/bin/env bash
# Build the pinned Docker Compose v2 from source (Go module proxy + checksum database), cache
# the binary by version under ${XDG_CACHE_HOME:-$HOME/.cache}/koprogo-storage/, and install it
# as the docker CLI plugin so that `docker compose` works (the compose fixture in
# tests/integration/compose runs KoproGo's compose files with it).
#
# `go install module@version` refuses this module (its go.mod has exclude directives), so the
# module is downloaded, its h1: hash compared with the pin, and built from that tree with its
# own go.sum.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/koprogo-storage
plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
out="$cache/docker-compose-$COMPOSE_VERSION"
mkdir -p "$cache" "$plugins"
exec 9>"$cache/.compose-build.lock"
flock 9

if ! { [ -x "$out" ] && [ -f "$out.sha256" ] && (cd "$cache" && sha256sum -c --quiet "docker-compose-$COMPOSE_VERSION.sha256"); }; then
  echo "building $COMPOSE_MODULE@$COMPOSE_VERSION (first run only; a few minutes)" >&2
  info=$(go mod download -json "$COMPOSE_MODULE@$COMPOSE_VERSION")
  sum=$(printf '%s' "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Sum"])')
  dir=$(printf '%s' "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  if [ "$sum" != "$COMPOSE_H1" ]; then
    echo "refusing compose: module hash is '$sum', expected '$COMPOSE_H1'" >&2
    exit 1
  fi
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  cp -r "$dir/." "$src"
  chmod -R u+w "$src"
  (cd "$src" && CGO_ENABLED=0 GOFLAGS="-trimpath -mod=readonly" go build \
     -ldflags "-s -w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" -o "$out.tmp" ./cmd)
  mv "$out.tmp" "$out"
  (cd "$cache" && sha256sum "docker-compose-$COMPOSE_VERSION" > "docker-compose-$COMPOSE_VERSION.sha256")
  echo "docker-compose $COMPOSE_VERSION sha256 $(cut -d' ' -f1 "$out.sha256")" >&2
fi
ln -sfn "$out" "$plugins/docker-compose"
