"""koprogo.storage.artifact (download, verify sha256, unpack, install) and its three users' wiring.

Cheap on purpose: every play runs with `connection: local` into a tmp dir (no container), against
a 127.0.0.1 http.server that serves small files made here: a bare executable, a .tar.gz and a .zip.
The consumers' task files (minio_server, traefik, backup) are imported the way their roles import
them; their restart handlers are skipped with `meta: end_play` (no service runs here).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers.ansible_run import run_playbook

ROLE = "koprogo.storage.artifact"
HANDLER = "Record the restart"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


class Mirror:
    """The files a release page would offer, and their sha256."""

    def __init__(self, root: Path):
        self.root = root
        self.bare = b"#!/bin/sh\necho bare 1.0\n" + os.urandom(64)
        self.tar_member = b"#!/bin/sh\necho tar 2.0\n" + os.urandom(64)
        self.zip_member = b"#!/bin/sh\necho zip 3.0\n" + os.urandom(64)
        self.files = {
            "tool": self.bare,
            "tool-2.0.tar.gz": tar_gz({"tool-2.0/tool": self.tar_member, "tool-2.0/README": b"read me\n"}),
            "tool-3.0-linux.zip": zip_bytes({"tool-3.0-linux/tool": self.zip_member,
                                             "tool-3.0-linux/README": b"read me\n"}),
        }
        for name, data in self.files.items():
            (root / name).write_bytes(data)
        self.base = ""

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def sha(self, name: str) -> str:
        return sha256(self.files[name])


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirror")
    served = Mirror(root)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


class Run:
    def __init__(self, result):
        self.rc = result.rc
        self.output = result.stdout + result.stderr
        self.changed = result.changed
        self.tasks = result.tasks

    @property
    def flat(self) -> str:
        return " ".join(self.output.split())


def play(tmp_path: Path, tasks: list, *, check: bool = False, extra_vars: dict | None = None) -> Run:
    marker = tmp_path / "restarted"
    doc = [{
        "name": "artifact test", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "handlers": [{"name": HANDLER,
                      "ansible.builtin.copy": {"dest": str(marker), "content": "yes\n", "mode": "0600"}}],
        "tasks": tasks,
    }]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return Run(run_playbook(path, check=check, extra_vars=extra_vars))


def artifact(tmp_path: Path, *, entry: str = "main", check: bool = False, **role_vars) -> Run:
    role_vars.setdefault("artifact_notify", [HANDLER])
    return play(tmp_path, [{"name": "artifact", "ansible.builtin.import_role": {"name": ROLE, "tasks_from": entry},
                            "vars": role_vars}], check=check)


def restarted(tmp_path: Path) -> bool:
    marker = tmp_path / "restarted"
    found = marker.exists()
    marker.unlink(missing_ok=True)
    return found


def mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o7777)[2:].zfill(4)


@pytest.mark.parametrize("fetch_on, name, member, expected", [
    ("controller", "tool-2.0.tar.gz", "tool-2.0/tool", "tar_member"),
    ("target", "tool-3.0-linux.zip", "*/tool", "zip_member"),
    ("target", "tool", "", "bare"),
], ids=["controller-tar", "target-zip-wildcard", "target-bare"])
def test_install_again_and_check_mode(mirror, tmp_path, fetch_on, name, member, expected):
    dest, cache = tmp_path / "bin" / "tool", tmp_path / "cache"
    dest.parent.mkdir()
    args = {"artifact_url": mirror.url(name), "artifact_sha256": mirror.sha(name), "artifact_fetch_on": fetch_on,
            "artifact_cache_dir": str(cache), "artifact_archive_member": member, "artifact_dest": str(dest),
            "artifact_cache_mode": "0700"}

    # Check mode on a fresh host predicts the install and writes nothing on the target (the
    # controller's cache is not the target: a controller fetch fills it, as before). A bare
    # executable on the target is one get_url in check mode: not repeated here.
    if member:
        run = artifact(tmp_path, check=True, **args)
        assert run.rc == 0, run.output[-3000:]
        assert run.changed > 0
        assert not dest.exists()
        assert not restarted(tmp_path)
        if fetch_on == "target":
            assert not cache.exists()

    run = artifact(tmp_path, **args)
    assert run.rc == 0, run.output[-3000:]
    assert dest.read_bytes() == getattr(mirror, expected)
    assert mode(dest) == "0755"
    assert restarted(tmp_path)
    if member:
        assert mode(cache) == "0700"
    else:  # a bare executable fetched on the target goes straight onto its path
        assert fetch_on == "controller" or not cache.exists()

    run = artifact(tmp_path, **args)
    assert run.rc == 0, run.output[-3000:]
    assert run.changed == 0, run.output[-3000:]
    assert not restarted(tmp_path)
    if fetch_on == "target":  # the rest runs the same tasks on either side: once is enough
        return

    run = artifact(tmp_path, check=True, **args)
    assert run.rc == 0, run.output[-3000:]
    assert run.changed == 0, run.output[-3000:]

    # Drift in the mode is put back, and the caller's handler is told.
    dest.chmod(0o700)
    run = artifact(tmp_path, **args)
    assert run.rc == 0 and run.changed > 0, run.output[-3000:]
    assert mode(dest) == "0755"
    assert restarted(tmp_path)


# Every refusal runs in ONE play (a block per case, its failure caught by rescue and kept): five
# ansible-playbook starts fewer than a play per case, with the same assertions per case.
# The download tasks that check a sha256: on the controller, into the target's cache (an archive),
# and straight onto the target's path (a bare executable).
WRONG_SHA = {"controller-tar": ("controller", "tool-2.0.tar.gz", "tool-2.0/tool"),
             "target-zip": ("target", "tool-3.0-linux.zip", "*/tool"),
             "target-bare": ("target", "tool", "")}


@pytest.fixture(scope="module")
def refusals(mirror, tmp_path_factory):
    """Each refused case's installed file before and after, and the message its failure gave."""
    tmp = tmp_path_factory.mktemp("refusals")
    cases = {}
    for label, (fetch_on, name, member) in WRONG_SHA.items():
        cases[f"sha-{label}"] = ("main", {
            "artifact_url": mirror.url(name), "artifact_sha256": "0" * 64, "artifact_fetch_on": fetch_on,
            "artifact_cache_dir": str(tmp / label / "cache"), "artifact_archive_member": member})
    # A tar archive on the controller: in test_minio_server_url_wiring, in minio_server's words.
    cases["missing-member"] = ("main", {
        "artifact_url": mirror.url("tool-3.0-linux.zip"), "artifact_sha256": mirror.sha("tool-3.0-linux.zip"),
        "artifact_fetch_on": "target", "artifact_cache_dir": str(tmp / "missing" / "cache"),
        "artifact_archive_member": "*/nope", "artifact_archive_member_var": "my_role_member"})
    src = tmp / "unpinned-build"
    src.write_bytes(b"not the pinned build\n")
    cases["not-pinned"] = ("install", {"artifact_src": str(src), "artifact_src_sha256": "ab" * 32})
    tasks, files = [], {}
    for label, (entry, role_vars) in cases.items():
        dest = tmp / label / "tool"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(b"installed before\n")
        dest.chmod(0o755)
        files[label] = (dest, dest.stat().st_mtime_ns)
        tasks.append({"name": label, "block": [
            {"name": f"{label} artifact", "ansible.builtin.import_role": {"name": ROLE, "tasks_from": entry},
             "vars": {**role_vars, "artifact_dest": str(dest), "artifact_notify": [HANDLER]}},
            {"name": f"{label} was not refused", "vars": {"case": label},
             "ansible.builtin.set_fact": {"refused": "{{ refused | default({}) | combine({case: ''}) }}"}},
        ], "rescue": [
            {"name": f"{label} refused", "vars": {"case": label}, "ansible.builtin.set_fact": {
                "refused": "{{ refused | default({}) | combine({case: ansible_failed_result.msg | default('?')}) }}"}},
        ]})
    tasks.append({"name": "report", "ansible.builtin.debug": {"var": "refused"}})
    run = play(tmp, tasks)
    assert run.rc == 0, run.output[-3000:]
    messages = run.tasks["report"]["refused"]
    return {label: {"message": " ".join(str(messages.get(label, "")).split()), "bytes": dest.read_bytes(),
                    "unchanged": dest.stat().st_mtime_ns == mtime}
            for label, (dest, mtime) in files.items()} | {"restarted": restarted(tmp)}


@pytest.mark.parametrize("label", list(WRONG_SHA))
def test_a_wrong_sha256_leaves_the_installed_file(refusals, label):
    case = refusals[f"sha-{label}"]
    assert "checksum" in case["message"].lower(), case
    assert case["bytes"] == b"installed before\n" and case["unchanged"], case
    assert not refusals["restarted"]


def test_a_missing_archive_member_fails_clearly(mirror, refusals):
    case = refusals["missing-member"]
    expected = f"The archive {mirror.url('tool-3.0-linux.zip')} has no file */nope (my_role_member; list the archive"
    assert expected in case["message"], case
    assert case["bytes"] == b"installed before\n", case


def test_install_refuses_a_file_that_is_not_the_pinned_one(refusals):
    case = refusals["not-pinned"]
    expected = (f"has sha256 {sha256(b'not the pinned build' + bytes([10]))}, expected {'ab' * 32}: "
                "refusing to install it")
    assert expected in case["message"], case
    assert case["bytes"] == b"installed before\n", case


# --- the three users, wired as their roles import the shared tasks --------------------------

def role_tasks(role: str, *files: str) -> list:
    tasks = [{"name": f"{role} {f}",
              "ansible.builtin.import_role": {"name": f"koprogo.storage.{role}", "tasks_from": f}} for f in files]
    # The roles' restart handlers need their services: not here.
    return [*tasks, {"name": "Skip the restart handlers", "ansible.builtin.meta": "end_play"}]


def test_minio_server_url_wiring(mirror, tmp_path):
    """fetch_on target installs the bare binary; an archive on the controller: a missing member, then its member."""
    dest = tmp_path / "minio"
    dest.write_bytes(b"installed before\n")
    # Private values of the role pointed at the tmp dir (extra vars outrank role vars).
    base = {"__minio_server_installed_binary": str(dest), "minio_server_source_cache_dir": str(tmp_path / "cache"),
            "minio_server_install_source": "url", "minio_server_url": mirror.url("tool")}
    tasks = role_tasks("minio_server", "probe.yml", "artifact_url.yml", "install.yml")
    run = play(tmp_path, tasks, extra_vars={**base, "minio_server_sha256": mirror.sha("tool")})
    assert run.rc == 0, run.output[-3000:]
    assert dest.read_bytes() == mirror.bare

    archive = {**base, "minio_server_url": mirror.url("tool-2.0.tar.gz"), "minio_server_sha256":
               mirror.sha("tool-2.0.tar.gz"), "minio_server_url_fetch_on": "controller"}
    run = play(tmp_path, tasks, extra_vars={**archive, "minio_server_url_archive_member": "silo"})
    assert run.rc != 0
    assert "has no file silo (minio_server_url_archive_member" in run.flat, run.output[-3000:]
    assert dest.read_bytes() == mirror.bare
    run = play(tmp_path, tasks, extra_vars={**archive, "minio_server_url_archive_member": "tool-2.0/tool"})
    assert run.rc == 0, run.output[-3000:]
    assert dest.read_bytes() == mirror.tar_member


def test_traefik_url_and_local_archive_wiring(mirror, tmp_path):
    """traefik_url: an archive (url sha256) whose `traefik` member has traefik_binary_sha256; then local."""
    member = b"#!/bin/sh\necho traefik test\n" + os.urandom(64)
    archive = tmp_path / "traefik_v9.9.9_linux_amd64.tar.gz"
    archive.write_bytes(tar_gz({"traefik": member, "LICENSE.md": b"license\n"}))
    (mirror.root / archive.name).write_bytes(archive.read_bytes())
    dest = tmp_path / "traefik"
    common = {"traefik_version": "9.9.9", "traefik_binary_path": str(dest),
              "traefik_cache_dir": str(tmp_path / "cache"), "traefik_binary_sha256": sha256(member)}
    tasks = role_tasks("traefik", "probe.yml", "install.yml")
    url = {**common, "traefik_install_source": "url", "traefik_url": mirror.url(archive.name),
           "traefik_url_sha256": sha256(archive.read_bytes())}
    run = play(tmp_path, tasks, extra_vars=url)
    assert run.rc == 0, run.output[-3000:]
    assert dest.read_bytes() == member
    assert mode(dest) == "0755"
    run = play(tmp_path, tasks, extra_vars=url)
    assert run.rc == 0 and run.changed == 0, run.output[-3000:]

    dest.unlink()
    run = play(tmp_path, tasks, extra_vars={**common, "traefik_install_source": "local",
                                            "traefik_local_file": str(archive)})
    assert run.rc == 0, run.output[-3000:]
    assert dest.read_bytes() == member


def test_backup_rclone_url_wiring(tmp_path, mirror):
    """backup_rclone_url: rclone's release zip, fetched and unpacked on the target."""
    rclone = b"#!/bin/sh\necho rclone v0.0.1\n" + os.urandom(64)
    zipped = zip_bytes({"rclone-v0.0.1-linux-amd64/rclone": rclone, "rclone-v0.0.1-linux-amd64/rclone.1": b"man\n"})
    (mirror.root / "rclone-v0.0.1-linux-amd64.zip").write_bytes(zipped)
    dest, cache = tmp_path / "rclone", tmp_path / "backup-cache"
    extra = {"backup_rclone_source": "url", "backup_rclone_url": mirror.url("rclone-v0.0.1-linux-amd64.zip"),
             "backup_rclone_sha256": sha256(zipped), "backup_rclone_path": str(dest), "__backup_cache_dir": str(cache)}
    tasks = role_tasks("backup", "rclone_url.yml")
    run = play(tmp_path, tasks, extra_vars=extra)
    assert run.rc == 0, run.output[-3000:]
    assert dest.read_bytes() == rclone
    assert mode(dest) == "0755"
    assert mode(cache) == "0700"
    run = play(tmp_path, tasks, extra_vars=extra)
    assert run.rc == 0 and run.changed == 0, run.output[-3000:]
