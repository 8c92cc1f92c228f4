"""The collection builds into a tarball, installs from it (no Galaxy), and ansible-doc renders every module."""

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("galaxy")
    subprocess.run([BIN / "ansible-galaxy", "collection", "build", "--output-path", work, ROOT],
                   check=True, capture_output=True, text=True)
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    tarball = work / f"koprogo-storage-{version}.tar.gz"
    dest = work / "collections"
    subprocess.run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "--force", "-p", dest, tarball],
                   check=True, capture_output=True, text=True)
    return tarball, dest


def test_tarball_ships_plugins_and_roles_but_no_dev_files(installed):
    tarball, _dest = installed
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "plugins/modules/minio_bucket.py" in names
    assert "roles/minio_server/tasks/main.yml" in names
    assert "playbooks/site.yml" in names
    assert not [n for n in names if n.startswith((".cache", ".venv", "tests/tools", "molecule"))]


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_from_the_installed_collection(installed, module):
    _tarball, dest = installed
    env = {"ANSIBLE_COLLECTIONS_PATH": str(dest), "PATH": f"{BIN}:/usr/bin:/bin", "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run([BIN / "ansible-doc", f"koprogo.storage.{module}"], env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"koprogo.storage.{module}" in proc.stdout
    assert "OPTIONS" in proc.stdout and "EXAMPLES" in proc.stdout
    assert "[WARNING]" not in proc.stderr
