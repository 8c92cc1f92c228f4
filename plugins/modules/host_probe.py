#!/usr/bin/python
# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the state of many paths, accounts and systemd units in one module call.

Each module call costs a round trip and a Python start on the target (0.5-1 s on a small VPS),
and a no-change converge of the roles made about fifty of them only to learn that nothing
differed. The roles now read their host once with this module and skip each write task whose
target already matches (the koprogo.storage.probe_drift filter decides); a target that differs
runs its task as before. It only reads.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: host_probe
short_description: Read the state of paths, accounts and systemd units in one call
version_added: 0.1.0
description:
  - Returns, for each path, whether it exists, its type, owner, group and octal mode, and for regular
    files listed in I(checksum) their sha1 (and sha256 for those in I(sha256)); for each user and group
    whether it exists and its attributes; for each systemd unit its load, active and enable states.
  - The roles of this collection call it once per role and skip each write task whose target already
    matches, with the C(koprogo.storage.probe_drift) filter. It never changes anything.
options:
  paths:
    description: Paths to read (not followed when they are symlinks).
    type: list
    elements: path
    default: []
  checksum:
    description: Regular files among I(paths) whose content sha1 to return (what Ansible's file modules compare).
    type: list
    elements: path
    default: []
  sha256:
    description: Regular files among I(paths) whose sha256 to return (installed binaries).
    type: list
    elements: path
    default: []
  content:
    description:
      - Regular files among I(paths) whose text to return (up to 64 KiB each), for public files such as
        certificates that a filter on the controller inspects. Never list a secret here.
    type: list
    elements: path
    default: []
  users:
    description: Account names to read from the password database.
    type: list
    elements: str
    default: []
  groups:
    description: Group names to read from the group database.
    type: list
    elements: str
    default: []
  units:
    description: systemd unit names to read with C(systemctl show) (one process for all of them).
    type: list
    elements: str
    default: []
  mountpoints:
    description:
      - Paths to look up in C(/proc/self/mountinfo), as C(mountpoint -q) does (a bind mount counts).
    type: list
    elements: path
    default: []
  version_of:
    description:
      - Executables to run as C(<path> --version) (no terminal, standard input from C(/dev/null), 60 s at
        most), returning the exit status and the first line of standard output.
      - Only for programs whose C(--version) reads nothing and writes nothing, such as a server binary.
    type: list
    elements: path
    default: []
extends_documentation_fragment:
  - koprogo.storage.minio.attributes_read_only
author:
  - KoproGo contributors (@koprogo)
"""

EXAMPLES = r"""
- name: Read Traefik's files, account and unit
  koprogo.storage.host_probe:
    paths: [/etc/traefik, /etc/traefik/traefik.yml, /usr/local/bin/traefik]
    checksum: [/etc/traefik/traefik.yml]
    sha256: [/usr/local/bin/traefik]
    users: [traefik]
    groups: [traefik]
    units: [traefik.service]
  register: __probe

- name: Write the static configuration only where it differs
  ansible.builtin.template:
    src: traefik.yml.j2
    dest: /etc/traefik/traefik.yml
    mode: "0640"
  when: >-
    __probe | koprogo.storage.probe_drift('/etc/traefik/traefik.yml', mode='0640',
    content=lookup('ansible.builtin.template', 'traefik.yml.j2')) | length > 0
"""

RETURN = r"""
paths:
  description: Path to C(exists), C(type) (file, directory, link, other), C(owner), C(group), C(uid), C(gid),
    C(mode) (4 octal digits), C(size), and C(sha1), C(sha256), C(content) where asked.
  returned: always
  type: dict
users:
  description: Name to C(exists), C(uid), C(gid), C(group) (primary group name), C(home), C(shell), C(comment).
  returned: always
  type: dict
groups:
  description: Name to C(exists) and C(gid).
  returned: always
  type: dict
units:
  description: Name to C(load), C(active), C(enabled) (UnitFileState) and C(need_daemon_reload) (yes or no).
  returned: always
  type: dict
mounts:
  description: Each of I(mountpoints) to whether a file system is mounted there.
  returned: always
  type: dict
versions:
  description:
    - Each of I(version_of) to C(rc) and C(stdout) (the first line), or to C(rc=null) and C(error) when it is
      missing, not an executable file, or did not finish in time.
  returned: always
  type: dict
"""

import grp
import hashlib
import os
import pwd
import re
import stat
import subprocess

from ansible.module_utils.basic import AnsibleModule

CONTENT_LIMIT = 64 * 1024
UNIT_PROPERTIES = {"LoadState": "load", "ActiveState": "active", "UnitFileState": "enabled",
                   "NeedDaemonReload": "need_daemon_reload"}


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return None


def _digests(path, algorithms):
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            for hasher in hashers.values():
                hasher.update(block)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def read_path(path, want_sha1, want_sha256, want_content):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    if stat.S_ISREG(info.st_mode):
        kind = "file"
    elif stat.S_ISDIR(info.st_mode):
        kind = "directory"
    elif stat.S_ISLNK(info.st_mode):
        kind = "link"
    else:
        kind = "other"
    entry = {
        "exists": True, "type": kind, "uid": info.st_uid, "gid": info.st_gid,
        "owner": _name(pwd.getpwuid, info.st_uid), "group": _name(grp.getgrgid, info.st_gid),
        "mode": format(stat.S_IMODE(info.st_mode), "04o"), "size": info.st_size,
    }
    if kind == "file":
        algorithms = [name for name, wanted in (("sha1", want_sha1), ("sha256", want_sha256)) if wanted]
        if algorithms:
            entry.update(_digests(path, algorithms))
        if want_content and info.st_size <= CONTENT_LIMIT:
            with open(path, "rb") as handle:
                entry["content"] = handle.read().decode("utf-8", errors="replace")
    return entry


def read_user(name):
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return {"exists": False}
    return {"exists": True, "uid": account.pw_uid, "gid": account.pw_gid,
            "group": _name(grp.getgrgid, account.pw_gid), "home": account.pw_dir,
            "shell": account.pw_shell, "comment": account.pw_gecos}


def read_group(name):
    try:
        return {"exists": True, "gid": grp.getgrnam(name).gr_gid}
    except KeyError:
        return {"exists": False}


def read_units(module, names):
    if not names:
        return {}
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        # No systemd: every unit counts as unknown, so the caller's systemd tasks run and say why.
        return {name: {"load": "no systemctl"} for name in names}
    argv = [systemctl, "show", "--property=" + ",".join(UNIT_PROPERTIES), "--"] + list(names)
    rc, out, err = module.run_command(argv)
    if rc != 0:
        # systemd not running (a container, a chroot): unknown, so the unit tasks run and say why.
        reason = f"unknown (systemctl show rc={rc}: {err.strip()[:200]})"
        return {name: {"load": reason} for name in names}
    # One block per unit, in the order given, separated by blank lines.
    blocks = out.strip().split("\n\n")
    units = {}
    for name, block in zip(names, blocks):
        entry = {}
        for line in block.splitlines():
            key, _sep, value = line.partition("=")
            if key in UNIT_PROPERTIES:
                entry[UNIT_PROPERTIES[key]] = value
        units[name] = entry
    return units


def _unescape_mountinfo(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def read_mounts(module, paths):
    if not paths:
        return {}
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
            mounted = {_unescape_mountinfo(line.split()[4]) for line in handle if len(line.split()) > 4}
    except OSError as exc:
        module.fail_json(msg=f"cannot read /proc/self/mountinfo: {exc.strerror or exc}")
    return {path: os.path.realpath(path) in mounted for path in paths}


def read_version(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return {"rc": None, "error": "not an executable file"}
    try:
        # A pipe, not a terminal: some programs query a terminal (colours) and wait for its answer.
        proc = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"rc": None, "error": str(exc)[:200]}
    lines = proc.stdout.decode("utf-8", errors="replace").splitlines()
    return {"rc": proc.returncode, "stdout": lines[0] if lines else ""}


def main():
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "default": []},
            "checksum": {"type": "list", "elements": "path", "default": []},
            "sha256": {"type": "list", "elements": "path", "default": []},
            "content": {"type": "list", "elements": "path", "default": []},
            "users": {"type": "list", "elements": "str", "default": []},
            "groups": {"type": "list", "elements": "str", "default": []},
            "units": {"type": "list", "elements": "str", "default": []},
            "mountpoints": {"type": "list", "elements": "path", "default": []},
            "version_of": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    extra = set(params["checksum"]) | set(params["sha256"]) | set(params["content"])
    paths = {}
    for path in list(dict.fromkeys(list(params["paths"]) + sorted(extra))):
        try:
            paths[path] = read_path(path, path in params["checksum"], path in params["sha256"],
                                    path in params["content"])
        except OSError as exc:
            module.fail_json(msg=f"cannot read {path}: {exc.strerror or exc}")
    module.exit_json(
        changed=False,
        paths=paths,
        users={name: read_user(name) for name in params["users"]},
        groups={name: read_group(name) for name in params["groups"]},
        units=read_units(module, list(dict.fromkeys(params["units"]))),
        mounts=read_mounts(module, params["mountpoints"]),
        versions={path: read_version(path) for path in params["version_of"]},
    )


if __name__ == "__main__":
    main()
