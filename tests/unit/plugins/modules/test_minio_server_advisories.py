"""The minio_server role's advisory list (vars/advisories.yml) and the module that matches builds against it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.koprogo.storage.plugins.modules import minio_server_advisories as mod

ROLE = Path(__file__).resolve().parents[4] / "roles" / "minio_server"
DATA = yaml.safe_load((ROLE / "vars" / "advisories.yml").read_text())
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
ADVISORIES, PINS = DATA["__minio_server_advisories"], DATA["__minio_server_advisory_pins"]
HIGH_ROUTE = ["GHSA-9c4q-hq6p-c237", "GHSA-hv4r-mvr4-25vw", "GHSA-3rh2-v3gr-35p9", "GHSA-h749-fxx7-pwpg",
              "SN-2026-011"]
FEATURE_ONLY = {"GHSA-5cx5-wh4m-82fh": "oidc", "GHSA-jv87-32hw-hh99": "ldap", "GHSA-xh8f-g2qw-gcm7": "internode"}


DEFAULT_BUILD = {"module": DEFAULTS["minio_server_source_module"], "version": DEFAULTS["minio_server_source_version"],
                 "sha256": "ab" * 32, "server_version": "DEVELOPMENT.GOGET"}


def test_the_data_file_is_consistent():
    for pin in PINS:
        assert set(pin) - {"advisories"} in ({"module", "version"}, {"sha256"}, {"server_version"}), pin
        assert pin["advisories"] and set(pin["advisories"]) <= set(ADVISORIES), pin
    for advisory_id, facts in ADVISORIES.items():
        assert set(facts) == {"cve", "severity", "impact", "edge", "requires"}, advisory_id
        assert facts["requires"] in ("", "oidc", "ldap", "internode"), advisory_id
        # Each advisory is either closed at the edge or needs a feature this collection leaves off.
        assert bool(facts["edge"]) != bool(facts["requires"]), advisory_id


def test_the_default_pin_carries_every_advisory_of_issue_9():
    pin, rows, warned = mod.assess(ADVISORIES, PINS, DEFAULT_BUILD, [], [])
    assert pin["version"] == DEFAULTS["minio_server_source_version"]
    assert warned == HIGH_ROUTE
    assert {r["id"]: r["requires"] for r in rows if not r["applies"]} == FEATURE_ONLY


@pytest.mark.parametrize("build, expected", [
    # Another commit of the archived module: no fix will come, so the same list (the wildcard pin).
    ({"module": "github.com/minio/minio", "version": "v0.0.0-20250101000000-0123456789ab"}, "*"),
    # The same default build installed from a mirror, identified by its reproducible sha256.
    ({"sha256": PINS[1]["sha256"].upper(), "server_version": "DEVELOPMENT.GOGET"}, PINS[1]["sha256"]),
    # An official release binary, identified by what it reports.
    ({"sha256": "cd" * 32, "server_version": "RELEASE.2025-10-15T17-29-55Z"}, "RELEASE.2025-10-15T17-29-55Z"),
])
def test_other_builds_of_the_archived_module_match(build, expected):
    pin = mod.match(PINS, build)
    assert expected in pin.values()


@pytest.mark.parametrize("build", [
    {"module": "github.com/chainguard-forks/minio", "version": "v0.0.0-20260212201848-7aac2a2c5b7c"},
    {"module": "", "version": "", "sha256": "ef" * 32, "server_version": "RELEASE.2026-09-03T13-18-01Z"},
    {"module": "", "version": "", "sha256": "", "server_version": ""},
])
def test_unknown_builds_are_not_warned_about(build):
    assert mod.assess(ADVISORIES, PINS, build, [], []) == (None, [], [])


def test_features_in_use_and_acknowledgements():
    _pin, rows, warned = mod.assess(ADVISORIES, PINS, DEFAULT_BUILD, ["ldap"], ["GHSA-9c4q-hq6p-c237", "NOT-LISTED"])
    assert warned == HIGH_ROUTE[1:] + ["GHSA-jv87-32hw-hh99"]
    assert [r["id"] for r in rows if r["acknowledged"]] == ["GHSA-9c4q-hq6p-c237"]
    _pin, _rows, warned = mod.assess(ADVISORIES, PINS, DEFAULT_BUILD, [], HIGH_ROUTE)
    assert warned == []


def test_the_warning_names_each_advisory_its_cover_and_the_way_out():
    _pin, rows, warned = mod.assess(ADVISORIES, PINS, DEFAULT_BUILD, [], [])
    text = mod.warning_text(DEFAULT_BUILD, rows, warned, "Move to a patched build.")
    assert text.startswith(f"The MinIO build {DEFAULT_BUILD['module']}@{DEFAULT_BUILD['version']} has 5 known")
    for advisory_id in HIGH_ROUTE:
        assert advisory_id in text
    assert "CVE-2026-40344, high" in text
    assert "route refuses any client header or query parameter named X-Minio-*" in text
    assert "GHSA-xh8f-g2qw-gcm7 (internode not configured)" in text
    assert text.endswith("Move to a patched build.")


def test_a_build_without_a_module_is_named_by_its_sha256_and_reported_version():
    build = {"module": "", "version": "", "sha256": PINS[1]["sha256"], "server_version": "DEVELOPMENT.GOGET"}
    _pin, rows, warned = mod.assess(ADVISORIES, PINS, build, [], [])
    text = mod.warning_text(build, rows, warned, "")
    assert text.startswith(f"The MinIO build with sha256 {PINS[1]['sha256']} (reports DEVELOPMENT.GOGET) has 5 ")
    assert "SN-2026-011 (not rated; a Silo identifier, no CVE): " in text


def test_a_pin_naming_an_unknown_advisory_is_an_error():
    with pytest.raises(ValueError, match="GHSA-none"):
        mod.assess(ADVISORIES, [{"sha256": "ab" * 32, "advisories": ["GHSA-none"]}], DEFAULT_BUILD, [], [])
