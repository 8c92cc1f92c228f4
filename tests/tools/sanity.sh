#!/usr/bin/env bash
# Run `ansible-test sanity` on a throwaway ansible_collections/koprogo/storage copy
# (ansible-test needs that layout). ansible-test keeps its tool venvs (pylint,
# yamllint, voluptuous...) under ~/.ansible/test, so later runs are quick.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/koprogo/storage"
mkdir -p "$dest"
cd "$root"
git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$dest/"
cd "$dest"
git init -q . && git add -A >/dev/null   # ansible-test lists files through git
# ansible-test bootstraps pip in its venvs from a script on a host we cannot reach:
# give it our stand-in (same interface) once.
at_src=$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(grep -oP "pip='\K[0-9.]+" "$at_src/_internal/python_requirements.py" | head -n1)
boot="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
[ -f "$boot" ] || install -D -m 0644 "$root/tests/tools/get_pip_offline.py" "$boot"
python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# pslint needs PowerShell (no .ps1 here).
ANSIBLE_TEST=${ANSIBLE_TEST:-ansible-test}
"$ANSIBLE_TEST" sanity --color no --local --requirements --python "$python_version" --skip-test pslint "$@"
