"""site.yml includes its roles with `rolespec_validate: false` because the pre-flight validated them.

That is only sound while each such role's 'validate' entry point is its 'main' one and the
pre-flight loop covers the role: this test fails when either stops being true.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def site_tasks() -> list:
    return yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())[0]["tasks"]


def test_roles_not_validated_twice_were_validated_by_the_preflight():
    tasks = site_tasks()
    preflight = next(t for t in tasks if t["name"] == "Pre-flight - check the inputs of every enabled role")
    assert preflight["ansible.builtin.include_role"]["tasks_from"] == "validate"
    site_roles_expr = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())[0]["vars"]["__site_roles"]

    skipped = [t["ansible.builtin.include_role"]["name"].split(".")[-1] for t in tasks
               if t.get("ansible.builtin.include_role", {}).get("rolespec_validate") is False]
    assert skipped, "site.yml no longer skips the second validation: drop this test"
    for role in skipped:
        assert f"'{role}'" in site_roles_expr, f"{role} is not in the pre-flight's __site_roles"
        specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
        assert specs["validate"] == specs["main"], f"{role}: the 'validate' entry point differs from 'main'"
