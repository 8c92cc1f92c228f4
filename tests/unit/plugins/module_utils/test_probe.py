"""Table-driven tests of the probe decisions (plugins/module_utils/_probe.py): a write task is
skipped only when the host matches on every field it manages, and anything unread runs it."""

from __future__ import annotations

import hashlib

import pytest
from ansible_collections.koprogo.storage.plugins.module_utils import _probe as p

TEXT = "entryPoints:\n  websecure: {}\n"
FILE = {"exists": True, "type": "file", "owner": "root", "group": "traefik", "uid": 0, "gid": 998,
        "mode": "0640", "sha1": hashlib.sha1(TEXT.encode()).hexdigest(), "sha256": "ab" * 32}
DIR = {"exists": True, "type": "directory", "owner": "root", "group": "traefik", "uid": 0, "gid": 998,
       "mode": "0750"}
PROBE = {
    "paths": {"/etc/traefik/traefik.yml": FILE, "/etc/traefik": DIR, "/gone": {"exists": False}},
    "users": {"traefik": {"exists": True, "group": "traefik", "home": "/var/lib/traefik",
                          "shell": "/usr/sbin/nologin", "comment": "Traefik edge router"},
              "ghost": {"exists": False}},
    "groups": {"traefik": {"exists": True, "gid": 998}, "ghost": {"exists": False}},
    "units": {"traefik.service": {"load": "loaded", "active": "active", "enabled": "enabled",
                                  "need_daemon_reload": "no"},
              "stopped.service": {"load": "loaded", "active": "inactive", "enabled": "disabled",
                                  "need_daemon_reload": "no"},
              "stale.service": {"load": "loaded", "active": "active", "enabled": "enabled",
                                "need_daemon_reload": "yes"},
              "missing.service": {"load": "not-found", "active": "inactive", "enabled": "",
                                  "need_daemon_reload": "no"}},
}
F = "/etc/traefik/traefik.yml"

PATH_CASES = {
    # name: (path, wanted, expected fragments; empty = the task would change nothing)
    "file matches every field": (F, dict(owner="root", group="traefik", mode="0640", content=TEXT), []),
    "unmanaged fields are not compared": (F, {}, []),
    "owner and group by id": (F, dict(owner=0, group=998), []),
    "mode as int": (F, dict(mode=0o640), []),
    "mode without the leading zero": (F, dict(mode="640"), []),
    "symbolic mode runs the task": (F, dict(mode="u=rw,g=r"), ["mode 0640, not ?u=rw,g=r"]),
    "content differs": (F, dict(content=TEXT + "#\n"), ["content differs"]),
    "mode differs": (F, dict(mode="0644"), ["mode 0640, not 0644"]),
    "owner differs": (F, dict(owner="traefik"), ["owner root, not traefik"]),
    "group differs": (F, dict(group="root"), ["group traefik, not root"]),
    "sha256 matches (case-insensitive)": (F, dict(sha256="AB" * 32), []),
    "sha256 differs": (F, dict(sha256="cd" * 32), ["sha256"]),
    "a file where a directory belongs": (F, dict(state="directory"), ["is a file, not a directory"]),
    "directory matches": ("/etc/traefik", dict(state="directory", owner="root", group="traefik", mode="0750"), []),
    "missing path": ("/gone", dict(mode="0640"), ["/gone: missing"]),
    "path the probe did not read": ("/elsewhere", {}, ["not probed"]),
}


@pytest.mark.parametrize("name", PATH_CASES)
def test_path_drift(name):
    path, wanted, expected = PATH_CASES[name]
    reasons = p.drift(PROBE, path, **wanted)
    assert bool(reasons) == bool(expected), reasons
    for fragment in expected:
        assert any(fragment in reason for reason in reasons), reasons


@pytest.mark.parametrize("name, kind, wanted, expected", [
    ("traefik", "user", {"group": "traefik", "home": "/var/lib/traefik", "shell": "/usr/sbin/nologin"}, []),
    ("traefik", "user", {"shell": "/bin/bash"}, ["shell"]),
    ("traefik", "user", dict(home="/home/traefik"), ["home"]),
    ("ghost", "user", {}, ["missing"]),
    ("nobody", "user", {}, ["not probed"]),
    ("traefik", "group", {}, []),
    ("ghost", "group", {}, ["missing"]),
    ("nobody", "group", {}, ["not probed"]),
    ("traefik.service", "unit", dict(enabled=True), []),
    ("traefik.service", "unit", dict(enabled=False), ["not disabled"]),
    ("stopped.service", "unit", {}, ["inactive, not active"]),
    ("stopped.service", "unit", dict(started=False, enabled=False), []),
    ("stale.service", "unit", {}, ["has not loaded its file"]),
    ("missing.service", "unit", {}, ["not-found"]),
    ("other.service", "unit", {}, ["not probed"]),
])
def test_user_group_unit_drift(name, kind, wanted, expected):
    reasons = p.drift(PROBE, name, kind=kind, **wanted)
    assert bool(reasons) == bool(expected), reasons
    for fragment in expected:
        assert any(fragment in reason for reason in reasons), reasons


@pytest.mark.parametrize("probe", [None, {}, {"paths": None}])
def test_no_probe_means_every_task_runs(probe):
    assert p.drift(probe, F) == [f"{F}: not probed"]


def test_an_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="kind must be one of"):
        p.drift(PROBE, F, kind="socket")


def test_content_sha1_is_what_the_file_modules_compare():
    assert p.content_sha1("\u00e9\n") == hashlib.sha1(b"\xc3\xa9\n").hexdigest()
    assert p.content_sha1(b"raw") == hashlib.sha1(b"raw").hexdigest()
