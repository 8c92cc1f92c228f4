"""The runbook (docs/backup-restore.md) against the roles, playbooks, inventory and the program:
every variable, file, command and exit code it names exists; its gpg key generation works with the
installed gpg (Debian 12: 2.2.40) and yields a key the program can encrypt a manifest to."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "backup-restore.md").read_text()
DEFAULTS = yaml.safe_load((ROOT / "roles" / "backup" / "defaults" / "main.yml").read_text())
PRODUCTION = (ROOT / "inventories" / "production" / "group_vars" / "storage" / "main.yml").read_text()
sys.path.insert(0, str(ROOT / "roles" / "backup" / "files"))

from koprogo_backup import common  # noqa: E402
from koprogo_backup.cli import parser  # noqa: E402


def playbook_vars(name: str) -> set:
    return set(yaml.safe_load((ROOT / "playbooks" / name).read_text())[0].get("vars", {}))


def code_lines() -> list:
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", DOC, re.S):
        joined = block.replace("\\\n", " ")
        lines += [line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]
    inline = re.findall(r"^\d+\. `(ansible-playbook [^`]+)`", DOC, re.M)
    return lines + inline


def test_every_variable_exists():
    named = set(re.findall(r"(?<![/\w])(backup_[a-z0-9_]+)\b", DOC))
    known = set(DEFAULTS) | playbook_vars("restore.yml")
    assert sorted(named - known) == []
    assert "koprogo_storage_backup_enabled" not in DOC or "koprogo_storage_backup_enabled" in PRODUCTION


def test_every_path_is_one_the_roles_use():
    config_dir, state_dir = DEFAULTS["backup_config_dir"], DEFAULTS["backup_state_dir"]
    known = {
        f"{config_dir}/config.json", f"{config_dir}/recipient.asc", f"{state_dir}/crypt-obscured.json",
        DEFAULTS["backup_script_path"], DEFAULTS["backup_log_file"],
        "/etc/cron.d/koprogo-backup",
    }
    # The textfile directory's default is an expression (standalone or compose): either of its paths.
    known |= {f"{path}/koprogo_backup.prom" for path in re.findall(r"'(/[^']+)'", DEFAULTS["backup_textfile_dir"])}
    named = set(re.findall(r"(?<![\w.])(/(?:etc|var|usr|opt|run)/[\w./-]+\w)", DOC))
    assert sorted(named - known) == []
    for path in re.findall(r"\b(playbooks/[\w.]+\.yml)", DOC):
        assert (ROOT / path).exists(), path
    # the public key's file name is the one the production inventory reads
    for path in re.findall(r"(inventories/production/files/[\w.-]+)", DOC):
        assert path.split("/", 2)[2] in PRODUCTION, path


def test_every_command_exists():
    commands = {"ansible-playbook", "gpg", "koprogo-backup", "scp", "sudo", "install", "shred", "gzip", "jq"}
    subcommands = set(parser()._subparsers._group_actions[0].choices)
    for line in code_lines():
        line = re.sub(r"^[A-Z]+=\$\((.*)\)$", r"\1", line)  # VAR=$(command ...)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.wordchars += "$(){}[]*?=:~,@"
        words = []
        for token in lexer:
            if token in ("|", "&&", ">", ";", "||"):
                break
            words.append(token)
        words = [w for w in words if not re.match(r"^[A-Z]+=", w)]
        if words[0] == "sudo":
            words = words[1:]
        assert words[0] in commands, line
        assert not re.search(r"\bmc\b", line), line
        if words[0] == "koprogo-backup":
            assert words[1] in subcommands, line
            if words[1] == "rclone":
                assert re.search(r"\bvault:", line), line
        if words[0] == "ansible-playbook":
            assert "inventories/production" in line
            playbook = next(w for w in words if w.startswith("playbooks/"))
            allowed = playbook_vars(Path(playbook).name)
            for var in re.findall(r"-e (\w+)=", line):
                assert var in allowed, (var, line)
    for options in re.findall(r"`(--[a-z-]+)`", DOC):
        assert options in parser().format_help() + parser()._subparsers._group_actions[0].choices[
            "restore"].format_help() or options.startswith(("--batch", "--no-options", "--trust", "--recip")), options
    assert "mc rb" not in DOC and "mc mirror" not in DOC


def test_exit_code_table_matches_the_program():
    table = dict(re.findall(r"^\| (\d+) \| ([^|]+) \|", DOC, re.M))
    codes = {v for k, v in vars(common).items() if k.startswith("EXIT_")}
    assert {int(k) for k in table} == codes


def test_key_generation_works_with_the_installed_gpg(tmp_path):
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    block = re.search(r"```sh\n(gpg --quick-gen-key.*?)```", DOC, re.S).group(1)
    script = block.replace("gpg ", f"gpg --batch --passphrase '' --homedir {home} ")
    script = script.replace("inventories/production/files/backup-manifest.pub.asc", str(tmp_path / "pub.asc"))
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    public = (tmp_path / "pub.asc").read_text()
    assert "BEGIN PGP PUBLIC KEY BLOCK" in public
    # the program's own encryption (throwaway GNUPGHOME, --recipient-file) accepts it
    from koprogo_backup.run import gpg_encrypt

    plain = tmp_path / "m.json.gz"
    plain.write_bytes(b"manifest")
    gpg_encrypt({"gpg": "gpg", "recipient_file": str(tmp_path / "pub.asc")}, str(plain), str(tmp_path / "m.gpg"))
    out = subprocess.run(["gpg", "--batch", "--homedir", str(home), "--decrypt", str(tmp_path / "m.gpg")],
                         capture_output=True, check=True).stdout
    assert out == b"manifest"
