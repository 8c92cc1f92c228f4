#!/usr/bin/env bash
# Build (once) a Debian systemd image for test hosts from Debian packages.
#
#   tests/tools/systemd-image.sh          build if needed, print the image tag on stdout
#   tests/tools/systemd-image.sh --tag    print the tag only (no build)
#
# No image registry is involved: debootstrap installs the packages below from
# the apt mirror this machine is configured with (read at run time), and
# `docker import` turns the root file system into an image. The tag is keyed on
# a hash of this script, so changing the package list builds a new image.
# The root file system tarball is cached in .cache/systemd-image/ so a lost
# image is re-imported in seconds. Needs root (debootstrap) and a running
# engine (tests/tools/docker-engine.sh). Progress goes to stderr. The stop
# signal (SIGRTMIN+3) is set at `docker run` time: docker import cannot set it.
#
# The suite is Debian 12 (bookworm) on Debian machines. On Ubuntu machines,
# whose apt sources carry Ubuntu only, it is the machine's own release (24.04
# noble is a supported target too). Overrides: KOPROGO_IMAGE_SUITE,
# KOPROGO_IMAGE_MIRROR (apt mirror URL serving that suite).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${KOPROGO_CACHE:-$root/.cache}/systemd-image
# shellcheck source=/dev/null
host_id=$(. /etc/os-release 2>/dev/null && echo "${ID:-debian}")
# shellcheck source=/dev/null
host_codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
if [ -n "${KOPROGO_IMAGE_SUITE:-}" ]; then
  suite=$KOPROGO_IMAGE_SUITE
elif [ "$host_id" = ubuntu ] && [ -n "$host_codename" ]; then
  suite=$host_codename
else
  suite=bookworm
fi
repo=koprogo-systemd

packages=(
  systemd systemd-sysv dbus
  python3 python3-apt python3-venv
  ca-certificates cron sudo acl
  iproute2 procps curl gnupg openssl
  less tzdata
)

hash=$( { cat "$0"; echo "$suite"; } | sha256sum | cut -c1-12)
tag="$repo:$suite-$hash"
if [ "${1:-}" = "--tag" ]; then
  echo "$tag"
  exit 0
fi

log() { echo "systemd-image: $*" >&2; }

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi

# The first deb URI of the machine's apt sources (deb822 or one-line format),
# skipping security and update suites.
apt_mirror() {
  local uri
  uri=$(awk '
    /^URIs:/ { uri=$2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-(security|updates|backports)$/) ok=1 }
    /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri=""; ok=0 }
    END { if (uri != "" && ok) print uri }
  ' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $3 !~ /-(security|updates|backports)$/ {
      for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
  fi
  echo "$uri"
}

rootfs_tar="$cache/rootfs-$suite-$hash.tar"
if [ ! -s "$rootfs_tar" ]; then
  [ "$(id -u)" -eq 0 ] || { log "building the image needs root (debootstrap)"; exit 1; }
  command -v debootstrap >/dev/null 2>&1 || flock "${cache%/*}/apt.lock" bash "$here/system-deps.sh"
  mirror=${KOPROGO_IMAGE_MIRROR:-$(apt_mirror)}
  [ -n "$mirror" ] || { log "no apt mirror found in /etc/apt/sources*; set KOPROGO_IMAGE_MIRROR"; exit 1; }
  build="$cache/build-$hash"
  rm -rf "$build"
  mkdir -p "$build"
  trap 'rm -rf "$build"' EXIT
  start=$(date +%s)
  log "debootstrap $suite from $mirror (log: $cache/debootstrap.log)"
  include=$(IFS=,; echo "${packages[*]}")
  mkdir -p "$cache/debs"
  if ! debootstrap --variant=minbase --cache-dir="$cache/debs" --include="$include" \
      "$suite" "$build/rootfs" "$mirror" \
      >"$cache/debootstrap.log" 2>&1; then
    tail -n 30 "$cache/debootstrap.log" >&2
    exit 1
  fi
  fs="$build/rootfs"
  # A container boots with no consoles or udev: keep units that only make
  # sense on real hardware from failing, and let systemd make a machine id.
  for unit in getty@tty1.service console-getty.service serial-getty@.service \
      systemd-remount-fs.service sys-kernel-debug.mount sys-kernel-tracing.mount \
      dev-hugepages.mount systemd-firstboot.service systemd-udevd.service \
      systemd-modules-load.service proc-sys-fs-binfmt_misc.automount; do
    ln -sfn /dev/null "$fs/etc/systemd/system/$unit"
  done
  : >"$fs/etc/machine-id"
  rm -f "$fs/var/lib/dbus/machine-id"
  echo 'LANG=C.UTF-8' >"$fs/etc/default/locale"
  rm -rf "$fs"/var/cache/apt/archives/*.deb "$fs"/var/lib/apt/lists/*
  tar -C "$fs" --numeric-owner -cf "$rootfs_tar.tmp" .
  mv "$rootfs_tar.tmp" "$rootfs_tar"
  find "$cache" -maxdepth 1 -name "rootfs-$suite-*.tar" ! -name "${rootfs_tar##*/}" -delete
  log "root file system built in $(( $(date +%s) - start )) s: $rootfs_tar"
fi

log "importing $rootfs_tar as $tag"
docker import \
  --change 'ENV container=docker' \
  --change 'CMD ["/lib/systemd/systemd"]' \
  "$rootfs_tar" "$tag" >/dev/null
docker tag "$tag" "$repo:latest"
echo "$tag"
