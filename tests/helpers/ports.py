"""Loopback ports for test servers, handed out once across every test process.

A port from ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral range and is free
only at that instant: until the server binds it (a minute later for a role converge), an
outgoing connection or another process asking the kernel the same way can take it, and
the server then fails to start. So ports come from below the ephemeral range, and each
one is reserved with a file created with O_EXCL in a directory every test process shares
(pytest, the LUKS VM script, the benches), so two of them never get the same port.
Reservations older than a day are stale (their process is long gone) and reused.

Command line (for shell scripts): ``python3 tests/helpers/ports.py`` prints one port.
"""

from __future__ import annotations

import os
import random
import socket
import tempfile
import time
from pathlib import Path

RESERVATIONS = Path(os.environ.get("KOPROGO_PORTS_DIR", Path(tempfile.gettempdir()) / "koprogo-test-ports"))
STALE_S = 24 * 3600
LOW = 20000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _reserve(port: int) -> bool:
    path = RESERVATIONS / str(port)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        return True
    except FileExistsError:
        try:
            if time.time() - path.stat().st_mtime < STALE_S:
                return False
            path.unlink()
        except FileNotFoundError:
            pass
        return _reserve(port) if not path.exists() else False


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback TCP port nothing listens on, outside the ephemeral range, reserved for this caller."""
    RESERVATIONS.mkdir(mode=0o1777, parents=True, exist_ok=True)
    high = max(_ephemeral_low(), LOW + 1000)
    for _attempt in range(2000):
        port = random.randrange(LOW, high)  # noqa: S311 - not a secret, just spread
        if _bindable(port) and _reserve(port):
            return port
    raise RuntimeError(f"no free loopback port in {LOW}-{high - 1} (reservations in {RESERVATIONS})")


if __name__ == "__main__":
    print(free_port())
