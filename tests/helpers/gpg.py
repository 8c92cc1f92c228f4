"""A throwaway GPG key pair for tests: the private key stays in the test's GNUPGHOME."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_key(home: Path, uid: str) -> tuple:
    """Generate a key pair in home (0700); return (fingerprint, ASCII-armored public key)."""
    home.chmod(0o700)
    gpg = ["gpg", "--batch", "--homedir", str(home)]
    subprocess.run([*gpg, "--passphrase", "", "--quick-gen-key", uid, "future-default", "default", "never"],
                   check=True, capture_output=True)
    listing = subprocess.run([*gpg, "--with-colons", "--list-keys"], check=True, capture_output=True, text=True).stdout
    fingerprint = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")][0]
    public = subprocess.run([*gpg, "--armor", "--export", fingerprint], check=True, capture_output=True,
                            text=True).stdout
    return fingerprint, public


def stop_agent(home: Path) -> None:
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True)
