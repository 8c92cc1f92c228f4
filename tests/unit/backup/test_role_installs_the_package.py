"""The role copies the package file by file (no __pycache__ from the controller): the list must
name every module, or the installed program would fail to import it."""

from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "backup"


def test_package_file_list_matches_the_package():
    listed = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__backup_package_files"]
    present = sorted(p.name for p in (ROLE / "files" / "koprogo_backup").glob("*.py"))
    assert sorted(listed) == present
