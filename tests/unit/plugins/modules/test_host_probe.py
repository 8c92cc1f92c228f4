"""host_probe's readers on real files of a temporary directory (no mock): what the drift filter gets."""

from __future__ import annotations

import getpass
import hashlib
import os

from ansible_collections.koprogo.storage.plugins.modules import host_probe as mod


def test_read_path_file_directory_link_and_missing(tmp_path):
    data = b"MINIO_VOLUMES=/srv\n"
    target = tmp_path / "env"
    target.write_bytes(data)
    target.chmod(0o600)
    link = tmp_path / "link"
    link.symlink_to(target)

    entry = mod.read_path(str(target), True, True, True)
    assert entry["exists"] and entry["type"] == "file" and entry["mode"] == "0600"
    assert entry["owner"] == getpass.getuser() and entry["uid"] == os.getuid()
    assert entry["sha1"] == hashlib.sha1(data).hexdigest()
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["content"] == data.decode()

    bare = mod.read_path(str(target), False, False, False)
    assert "sha1" not in bare and "sha256" not in bare and "content" not in bare
    assert mod.read_path(str(tmp_path), True, True, True)["type"] == "directory"
    assert mod.read_path(str(link), True, False, False)["type"] == "link"  # never followed
    assert mod.read_path(str(tmp_path / "absent"), True, True, True) == {"exists": False}


def test_large_files_return_no_content(tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"x" * (mod.CONTENT_LIMIT + 1))
    entry = mod.read_path(str(big), True, False, True)
    assert "content" not in entry and entry["sha1"] == hashlib.sha1(big.read_bytes()).hexdigest()


def test_accounts():
    root = mod.read_user("root")
    assert root["exists"] and root["uid"] == 0 and root["group"] == "root"
    assert mod.read_user("no-such-user-koprogo") == {"exists": False}
    assert mod.read_group("root") == {"exists": True, "gid": 0}
    assert mod.read_group("no-such-group-koprogo") == {"exists": False}


def test_mountinfo_escapes():
    assert mod._unescape_mountinfo(r"/srv/koprogo\040data") == "/srv/koprogo data"
    assert mod._unescape_mountinfo(r"/a\134b") == "/a\\b"


def test_read_version_runs_without_a_terminal(tmp_path):
    tool = tmp_path / "tool"
    # Prints whether its output is a terminal: the probe must never give it one.
    tool.write_text("#!/bin/sh\nif [ -t 1 ]; then echo tty; else echo 'tool version 1.2.3'; fi\necho second\n"
                    "read line && echo stdin-had-data\nexit 3\n")
    tool.chmod(0o755)
    assert mod.read_version(str(tool)) == {"rc": 3, "stdout": "tool version 1.2.3"}

    plain = tmp_path / "plain"
    plain.write_text("not executable")
    assert mod.read_version(str(plain))["rc"] is None
    assert mod.read_version(str(tmp_path / "absent"))["rc"] is None
