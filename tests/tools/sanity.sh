#!/usr/bin/env bash
# Run `ansible-test sanity` on a throwaway ansible_collections/koprogo/storage copy
# (ansible-test needs that layout and a git-free tree of tracked files).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/koprogo/storage"
mkdir -p "$dest"
cd "$root"
git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$dest/"
cd "$dest"
python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ansible-test sanity --color no --python "$python_version" --local \
  --skip-test pylint --skip-test mypy --skip-test shellcheck --skip-test pep8 \
  --skip-test ansible-doc --skip-test validate-modules --skip-test yamllint \
  "$@" || { echo "ansible-test sanity failed" >&2; exit 1; }
# validate-modules and ansible-doc need only the core requirements: run them explicitly.
ansible-test sanity --color no --python "$python_version" --local --test validate-modules
ansible-test sanity --color no --python "$python_version" --local --test ansible-doc
