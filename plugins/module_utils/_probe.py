# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions on a host_probe result: does a path, user, group or unit differ from what a task
would make of it? No I/O here; the filter plugin (plugins/filter/probe.py) and the unit tests call it.

Every answer errs on the side of "differs": a path, user or unit the probe did not read, or a
field it could not read, makes the caller run its task, which then decides as it always did. A
skipped task must never hide a difference.
"""

from __future__ import annotations

import hashlib


def _mode(value):
    """'0640', '640', 0o640 or 416 -> '0640'; None stays None (unmanaged)."""
    if value is None:
        return None
    if isinstance(value, int):
        return format(value, "04o")
    text = str(value).strip()
    if not text.isdigit() or any(ch not in "01234567" for ch in text):
        # Symbolic modes (u=rw,g=r) are left to the task: treat them as different.
        return "?" + text
    return format(int(text, 8), "04o")


def content_sha1(content):
    """sha1 of a text as the file modules write it (UTF-8)."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    return hashlib.sha1(content).hexdigest()  # nosec B324 - equality check, as Ansible's own checksum


def path_drift(probe, path, state="file", owner=None, group=None, mode=None, content=None, sha256=None):
    """Reasons why a task managing `path` would change it (empty list: it would not)."""
    entry = ((probe or {}).get("paths") or {}).get(path)
    if entry is None:
        return [f"{path}: not probed"]
    if not entry.get("exists"):
        return [f"{path}: missing"]
    reasons = []
    if entry.get("type") != state:
        reasons.append(f"{path}: is a {entry.get('type')}, not a {state}")
    if owner is not None and str(owner) not in (entry.get("owner"), str(entry.get("uid"))):
        reasons.append(f"{path}: owner {entry.get('owner')}, not {owner}")
    if group is not None and str(group) not in (entry.get("group"), str(entry.get("gid"))):
        reasons.append(f"{path}: group {entry.get('group')}, not {group}")
    want_mode = _mode(mode)
    if want_mode is not None and want_mode != entry.get("mode"):
        reasons.append(f"{path}: mode {entry.get('mode')}, not {want_mode}")
    if content is not None and content_sha1(content) != entry.get("sha1"):
        reasons.append(f"{path}: content differs")
    if sha256 is not None and str(sha256).lower() != entry.get("sha256"):
        reasons.append(f"{path}: sha256 {entry.get('sha256')}, not {str(sha256).lower()}")
    return reasons


def user_drift(probe, name, group=None, home=None, shell=None, comment=None):
    """Reasons why ansible.builtin.user would change the account `name`."""
    entry = ((probe or {}).get("users") or {}).get(name)
    if entry is None:
        return [f"user {name}: not probed"]
    if not entry.get("exists"):
        return [f"user {name}: missing"]
    wanted = {"group": group, "home": home, "shell": shell, "comment": comment}
    return [f"user {name}: {key} {entry.get(key)!r}, not {value!r}"
            for key, value in wanted.items() if value is not None and entry.get(key) != value]


def group_drift(probe, name):
    """Reasons why ansible.builtin.group would create the group `name`."""
    entry = ((probe or {}).get("groups") or {}).get(name)
    if entry is None:
        return [f"group {name}: not probed"]
    return [] if entry.get("exists") else [f"group {name}: missing"]


def unit_drift(probe, name, started=True, enabled=None):
    """Reasons why ansible.builtin.systemd_service (state started, enabled) would act on `name`."""
    entry = ((probe or {}).get("units") or {}).get(name)
    if entry is None:
        return [f"unit {name}: not probed"]
    reasons = []
    if entry.get("load") != "loaded":
        reasons.append(f"unit {name}: {entry.get('load') or 'not loaded'}")
    if entry.get("need_daemon_reload") != "no":
        reasons.append(f"unit {name}: systemd has not loaded its file yet")
    if started and entry.get("active") not in ("active", "reloading"):
        reasons.append(f"unit {name}: {entry.get('active')}, not active")
    if enabled is not None:
        is_enabled = entry.get("enabled") in ("enabled", "enabled-runtime", "static", "alias")
        if bool(enabled) != is_enabled:
            reasons.append(f"unit {name}: {entry.get('enabled')}, not {'enabled' if enabled else 'disabled'}")
    return reasons


_KINDS = {"path": path_drift, "user": user_drift, "group": group_drift, "unit": unit_drift}


def drift(probe, name, kind="path", **wanted):
    """Dispatch on `kind` (path, user, group, unit); unknown kinds are an error, not a skip."""
    if kind not in _KINDS:
        raise ValueError(f"probe_drift: kind must be one of {', '.join(_KINDS)}, not {kind!r}")
    return _KINDS[kind](probe, name, **wanted)
