#!/usr/bin/env bash
# Build the MinIO server from its Go module on the controller and cache it.
#
#   build-from-source.sh GO MODULE VERSION H1 GOOS GOARCH GOARM CACHE_DIR
#
# MODULE may be a fork with its own module path (github.com/chainguard-forks/minio): the
# binary is named after the path's last element, as `go install` names it (a major
# version suffix such as /v2 is skipped). It lands in CACHE_DIR/MODULE/VERSION/GOOS-GOARCH/
# (the module is part of the key: a fork's pseudo-version can equal upstream's). The Go
# module proxy and checksum database (GOSUMDB) guarantee the module contents; on top of
# that the built binary must carry MODULE at VERSION with the go.sum hash H1
# (`go version -m`). A cached binary is checked the same way. Prints the binary's path,
# then "cached" or "built", on stdout.
set -euo pipefail
go=$1 module=$2 version=$3 h1=$4 goos=$5 goarch=$6 goarm=$7 cache_dir=$8
name=${module##*/}
if [[ $name =~ ^v[0-9]+$ && $module == */*/* ]]; then
  name=${module%/*}
  name=${name##*/}
fi
out_dir="$cache_dir/$module/$version/$goos-$goarch"
out="$out_dir/$name"

module_of() { # the "version h1" pair `go version -m` reports for $module
  "$go" version -m "$1" | awk -v m="$module" '$1 == "mod" && $2 == m { print $3 " " $4 }'
}

check() {
  local got
  got=$(module_of "$1")
  if [ "$got" != "$version $h1" ]; then
    echo "refusing $1: it carries '$got', expected '$version $h1'" >&2
    return 1
  fi
}

if [ -f "$out" ]; then
  check "$out" || { echo "remove the cached file to rebuild it" >&2; exit 3; }
  echo "$out"
  echo cached
  exit 0
fi

mkdir -p "$out_dir"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$out_dir/.lock"
  flock 9
  if [ -f "$out" ]; then
    check "$out" || exit 3
    echo "$out"
    echo cached
    exit 0
  fi
fi

# A private GOPATH: `go install` refuses GOBIN for cross builds and puts them in
# GOPATH/bin/GOOS_GOARCH instead. The module and build caches stay shared.
work=$(mktemp -d "$out_dir/.build.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
modcache=$("$go" env GOMODCACHE)
echo "building $module@$version for $goos/$goarch" >&2
env -u GOBIN GOPATH="$work" GOMODCACHE="$modcache" CGO_ENABLED=0 GOFLAGS=-trimpath \
  GOOS="$goos" GOARCH="$goarch" ${goarm:+GOARM="$goarm"} \
  "$go" install "$module@$version" >&2

if [ -f "$work/bin/$name" ]; then
  built="$work/bin/$name"
else
  built="$work/bin/${goos}_${goarch}/$name"
fi
[ -f "$built" ] || { echo "go install produced no $name binary" >&2; exit 1; }
check "$built"
chmod 0755 "$built"
mv "$built" "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
echo built
