"""Run real `ansible-playbook` on generated plays and read back per-task results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("KOPROGO_CACHE", ROOT / ".cache"))
BIN = Path(sys.executable).parent


def ansible_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(CACHE / "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        PATH=f"{BIN}:{env.get('PATH', '')}",
    )
    env.update(extra or {})
    return env


@dataclass
class PlayResult:
    rc: int
    stdout: str
    stderr: str
    tasks: dict  # task name -> result dict (for the single host)
    stats: dict

    def __getitem__(self, name: str) -> dict:
        return self.tasks[name]

    @property
    def changed(self) -> int:
        return sum(s.get("changed", 0) for s in self.stats.values())

    @property
    def failed(self) -> int:
        return sum(s.get("failures", 0) + s.get("unreachable", 0) for s in self.stats.values())


def _json_document(stdout: str) -> dict:
    """The json callback's document; with -v, ansible prints a few plain lines before it."""
    start = 0 if stdout.startswith("{") else stdout.find("\n{") + 1
    try:
        return json.loads(stdout[start:]) if start or stdout.startswith("{") else {}
    except ValueError:
        return {}


def run_playbook(playbook: str | Path, *, check: bool = False, diff: bool = False, extra_vars: dict | None = None,
                 inventory: str | None = None, verbosity: int = 0, json_output: bool = True, tags: str | None = None,
                 env: dict | None = None, timeout: int = 900) -> PlayResult:
    """Run ansible-playbook. With json_output, parse the ansible.posix.json callback."""
    cmd = [str(BIN / "ansible-playbook"), str(playbook), "-i", inventory or "localhost,"]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if tags:
        cmd += ["--tags", tags]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    vars_file = None
    if extra_vars:
        vars_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
        json.dump(extra_vars, vars_file)
        vars_file.close()
        os.chmod(vars_file.name, 0o600)
        cmd += ["-e", f"@{vars_file.name}"]
    extra_env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"} if json_output else {}
    extra_env.update(env or {})
    try:
        proc = subprocess.run(cmd, env=ansible_env(extra_env), capture_output=True, text=True, timeout=timeout,
                              check=False)
    finally:
        if vars_file:
            os.unlink(vars_file.name)
    tasks, stats = {}, {}
    if json_output:
        doc = _json_document(proc.stdout)
        for play in doc.get("plays", []):
            for task in play.get("tasks", []):
                hosts = task.get("hosts", {})
                if hosts:
                    tasks[task["task"]["name"]] = next(iter(hosts.values()))
        stats = doc.get("stats", {})
    return PlayResult(proc.returncode, proc.stdout, proc.stderr, tasks, stats)


def run_tasks(tasks: list, *, tmp_path: Path, connection: dict | None = None, check: bool = False,
              diff: bool = False, extra_vars: dict | None = None, verbosity: int = 0, json_output: bool = True,
              gather_facts: bool = False) -> PlayResult:
    """Write a one-play playbook on localhost and run it.

    connection: MinIO connection options, applied through module_defaults to the
    koprogo.storage.minio action group (so they never appear in task arguments).
    """
    play = {
        "name": "koprogo.storage test play",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": gather_facts,
        "vars": {"ansible_python_interpreter": sys.executable},
        "tasks": tasks,
    }
    if connection:
        play["module_defaults"] = {"group/koprogo.storage.minio": dict(connection)}
    path = Path(tempfile.mkstemp(prefix="play-", suffix=".yml", dir=tmp_path)[1])
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return run_playbook(path, check=check, diff=diff, extra_vars=extra_vars, verbosity=verbosity,
                        json_output=json_output)


def module_task(module: str, name: str, args: dict, **task_opts) -> dict:
    """A task calling koprogo.storage.<module>, registered under its name."""
    task = {"name": name, f"koprogo.storage.{module}": args}
    task.update(task_opts)
    return task
