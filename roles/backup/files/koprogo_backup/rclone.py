"""rclone with the offsite remotes defined through the environment (no rclone.conf holds secrets).

Only blob names (64 hex digits) and our own file lists reach rclone, never object keys: rclone's
name encodings (control characters, U+201B quoting, '//' and normalisation) cannot alter a key.
Every rclone child dies with this program (PR_SET_PDEATHSIG via setpriv) and inherits the lock,
so the lock is never free while a transfer of this run still runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Optional

from .common import EXIT_CONFIG, BackupError, log, log_handle

WATCH_SECONDS = 5


class Rclone:
    def __init__(self, cfg: dict, keep_fds: tuple = ()):
        self.cfg = cfg
        self.binary = cfg["rclone"]
        self.keep_fds = tuple(keep_fds)
        self.setpriv = cfg.get("setpriv", shutil.which("setpriv") or "")
        off = cfg["offsite"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
        env.update({
            "RCLONE_CONFIG": os.devnull,
            "RCLONE_CONFIG_OFFSITE_TYPE": "s3", "RCLONE_CONFIG_OFFSITE_PROVIDER": off["provider"],
            "RCLONE_CONFIG_OFFSITE_ENV_AUTH": "false", "RCLONE_CONFIG_OFFSITE_ENDPOINT": off["endpoint"],
            "RCLONE_CONFIG_OFFSITE_REGION": off["region"], "RCLONE_CONFIG_OFFSITE_ACCESS_KEY_ID": off["access_key"],
            "RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY": off["secret_key"],
            "RCLONE_CONFIG_OFFSITE_NO_CHECK_BUCKET": "true",
            "RCLONE_CONFIG_VAULT_TYPE": "crypt", "RCLONE_CONFIG_VAULT_REMOTE": self.offsite_path("data"),
            "RCLONE_CONFIG_VAULT_FILENAME_ENCRYPTION": "standard",
            "RCLONE_CONFIG_VAULT_DIRECTORY_NAME_ENCRYPTION": "true",
        })
        self.env = env
        crypt = cfg["crypt"]
        # obscured on every start, kept in memory only (no reversible copy of the password on disk)
        self.env["RCLONE_CONFIG_VAULT_PASSWORD"] = self._obscure(crypt["password"])
        self.env["RCLONE_CONFIG_VAULT_PASSWORD2"] = self._obscure(crypt["password2"])

    def offsite_key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.cfg["offsite"]["prefix"], *parts) if p.strip("/"))

    def offsite_path(self, *parts: str) -> str:
        return "offsite:" + "/".join(p.strip("/") for p in (self.cfg["offsite"]["bucket"], self.offsite_key(*parts))
                                     if p.strip("/"))

    def _obscure(self, secret: str) -> str:
        proc = subprocess.run([self.binary, "obscure", "-"], input=secret, env=self.env, capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise BackupError(EXIT_CONFIG, f"rclone obscure failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def argv(self, *args: str) -> list:
        prefix = [self.setpriv, "--pdeathsig", "KILL"] if self.setpriv else []
        return [*prefix, self.binary, *args]

    def transfer_flags(self) -> list:
        cfg = self.cfg
        return ["--transfers", str(cfg["transfers"]), "--checkers", str(cfg["checkers"]), "--retries", "2",
                "--low-level-retries", "5", "--contimeout", "15s", "--timeout", "2m", *cfg["rclone_extra_args"]]

    def run(self, *args: str, capture: bool = False, check_code: Optional[int] = None,
            watch: tuple = ()) -> subprocess.CompletedProcess:
        """Run rclone. watch: (url, exit code, label) endpoints probed every WATCH_SECONDS; when one stops
        answering twice in a row rclone is stopped and the run fails at once instead of retrying."""
        log("rclone " + " ".join(a for a in args if not a.startswith("--files-from")))
        out = log_handle() or sys.stderr
        proc = subprocess.Popen(self.argv(*args), env=self.env, stdout=subprocess.PIPE if capture else out,
                                stderr=out, text=True, pass_fds=self.keep_fds)
        try:
            strikes: dict = {}
            while True:
                try:
                    stdout, _stderr = proc.communicate(timeout=WATCH_SECONDS if watch else None)
                    break
                except subprocess.TimeoutExpired:
                    pass
                for url, code, label in watch:
                    strikes[label] = 0 if reachable(url) else strikes.get(label, 0) + 1
                    if strikes[label] >= 2:
                        raise BackupError(code, f"{label} stopped answering during rclone {args[0]}; "
                                                "nothing was deleted offsite")
        finally:
            stop(proc)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, None)
        if check_code is not None and result.returncode != 0:
            raise BackupError(check_code, f"rclone {args[0]} failed with exit code {result.returncode}")
        return result

    def list_names(self, path: str, code: int) -> list:
        """File names directly under path ([] when it does not exist yet)."""
        proc = self.run("lsf", "--files-only", path, capture=True)
        if proc.returncode == 3:  # directory not found: nothing stored yet
            return []
        if proc.returncode != 0:
            raise BackupError(code, f"cannot list {path} (rclone exit code {proc.returncode})")
        return [line for line in proc.stdout.splitlines() if line]


def stop(proc: subprocess.Popen) -> None:
    """Terminate a child that is still running (we are failing or being stopped) and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def reachable(url: str) -> bool:
    """The endpoint answers HTTP at all (any status)."""
    try:
        with urllib.request.urlopen(url, timeout=10):  # noqa: S310 - configured endpoint
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def write_list(path: str, names) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for name in names:
            handle.write(name + "\n")
