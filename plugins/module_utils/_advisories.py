# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of minio_server_advisories: which pin describes a build, which advisories apply,
and the warning text. Shared by the module and its action plugin; no I/O.
"""

from __future__ import annotations

PIN_KEYS = ("module", "version", "sha256", "server_version")

# The options, for the module and the action plugin alike.
ARGUMENT_SPEC = dict(
    advisories=dict(type="dict", required=True),
    pins=dict(type="list", elements="dict", required=True),
    build=dict(type="dict", required=True),
    features=dict(type="list", elements="str", default=[]),
    acknowledged=dict(type="list", elements="str", default=[]),
    upgrade_hint=dict(type="str", default=""),
)


def pin_matches(pin, build):
    """Pure: does one pin of the list describe this build?"""
    if pin.get("sha256"):
        return pin["sha256"].lower() == (build.get("sha256") or "").lower()
    if pin.get("server_version"):
        return pin["server_version"] == build.get("server_version")
    if pin.get("module"):
        return (pin["module"] == build.get("module")
                and pin.get("version") in ("*", build.get("version")) and bool(build.get("version")))
    return False


def match(pins, build):
    """Pure: the first pin matching the build, or None."""
    return next((pin for pin in pins if pin_matches(pin, build)), None)


def assess(advisories, pins, build, features, acknowledged):
    """Pure: (matched pin, advisory rows, ids to warn about)."""
    pin = match(pins, build)
    rows = []
    for advisory_id in (pin or {}).get("advisories", []):
        facts = advisories.get(advisory_id)
        if facts is None:
            raise ValueError(f"pin lists {advisory_id}, which is not in the advisory list")
        requires = facts.get("requires") or ""
        rows.append(dict(facts, id=advisory_id, applies=not requires or requires in features,
                         acknowledged=advisory_id in acknowledged))
    warned = [row["id"] for row in rows if row["applies"] and not row["acknowledged"]]
    return pin, rows, warned


def describe_build(build):
    if build.get("module") and build.get("version"):
        return f"{build['module']}@{build['version']}"
    # Without a module (url, local) the sha256 identifies the build; the version word may be a dev string.
    reports = f" (reports {build['server_version']})" if build.get("server_version") else ""
    return f"with sha256 {build.get('sha256') or 'unknown'}{reports}"


def warning_text(build, rows, warned, upgrade_hint):
    """Pure: one warning naming each advisory to act on, then what does not apply."""
    by_id = {row["id"]: row for row in rows}
    parts = []
    for advisory_id in warned:
        row = by_id[advisory_id]
        label = ", ".join(x for x in (row.get("cve"), row.get("severity")) if x)
        edge = f"; koprogo.storage.traefik's S3 route refuses {row['edge']}" if row.get("edge") else ""
        parts.append(f"{advisory_id} ({label}): {row.get('impact', '').strip()}{edge}")
    plural = "y" if len(warned) == 1 else "ies"
    text = f"The MinIO build {describe_build(build)} has {len(warned)} known advisor{plural}: {' | '.join(parts)}."
    skipped = [f"{row['id']} ({row['requires']} not configured)" for row in rows if not row["applies"]]
    if skipped:
        text += f" Not applicable to this configuration: {', '.join(skipped)}."
    if upgrade_hint:
        text += " " + upgrade_hint
    return text
