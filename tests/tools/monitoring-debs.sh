#!/usr/bin/env bash
# Fetch (once) the Debian packages the monitoring role installs, and index them
# as a flat apt repository. The install test serves it to a throwaway systemd
# container (file: source), so the role's apt task really installs packages
# while the test itself sends nothing off the machine. Uses the machine's own
# apt configuration (`apt-get download`), like the image build does.
#
#   tests/tools/monitoring-debs.sh      prints the repository directory
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${KOPROGO_CACHE:-$root/.cache}/debs/monitoring-bookworm

# The role's packages and what they need beyond the systemd test image.
packages=(
  prometheus prometheus-node-exporter python3-jwt
  fonts-glyphicons-halflings javascript-common
  libjs-bootstrap libjs-bootstrap4 libjs-d3 libjs-eonasdan-bootstrap-datetimepicker libjs-jquery
  libjs-jquery-hotkeys libjs-moment libjs-moment-timezone libjs-mustache libjs-popper.js libjs-rickshaw
)

stamp=$(printf '%s\n' "${packages[@]}" | sha256sum | cut -c1-12)
if [ -f "$dir/Packages" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$dir"
  exit 0
fi

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
rm -f "$dir"/*.deb "$dir/Packages"
(cd "$dir" && apt-get download -q "${packages[@]}" >"$dir/download.log" 2>&1) || {
  tail -n 20 "$dir/download.log" >&2
  exit 1
}
# A flat repository index: each package's control fields plus where it is.
for deb in "$dir"/*.deb; do
  dpkg-deb -f "$deb"
  echo "Filename: ./$(basename "$deb")"
  echo "Size: $(stat -c %s "$deb")"
  echo "SHA256: $(sha256sum "$deb" | cut -d' ' -f1)"
  echo
done >"$dir/Packages"
echo "$stamp" >"$dir/.stamp"
echo "$dir"
