"""tests/tools/koprogo-client: KoproGo's S3 client probe (aws-sdk-s3 of KoproGo's Cargo.lock)."""

from __future__ import annotations

import subprocess
from pathlib import Path

BUILD = Path(__file__).resolve().parents[1] / "tools" / "build-koprogo-client.sh"


def build_koprogo_client() -> Path:
    """Build the probe, or reuse the cached build (build-koprogo-client.sh); its binary's path."""
    proc = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=3000, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return Path(proc.stdout.strip().splitlines()[-1])
