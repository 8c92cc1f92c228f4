"""Debian's headless Chromium driven through chromedriver (selenium), as a person would use a site.

- TLS: the test CA is trusted through an NSS database under a throwaway HOME (Chromium on Linux reads
  user roots from ~/.pki/nssdb), so certificate errors stay errors.
- Names: --host-resolver-rules maps the given host names to 127.0.0.1 (no /etc/hosts edit).
- Basic auth: an Authorization header on every request (headless Chromium has no password prompt).
- Logs: the browser console and the performance log (Network.* events) are kept for assertions.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CERTUTIL = shutil.which("certutil") or "/usr/bin/certutil"

# Flags this machine needs (no sandbox as root, no GPU, nothing that talks to the internet).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-dev-shm-usage", "--no-proxy-server", "--window-size=1440,1000")


def missing() -> str | None:
    """Why the browser cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER, Path(CERTUTIL)):
        if not path.exists():
            return f"{path} is missing (make system-deps installs chromium, chromium-driver, libnss3-tools)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is missing (make setup)"
    return None


def _nss_home(home: Path, ca_file: Path) -> None:
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run([CERTUTIL, "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True, capture_output=True)
    subprocess.run([CERTUTIL, "-A", "-d", f"sql:{nssdb}", "-n", "koprogo-test-ca", "-t", "C,,", "-i", str(ca_file)],
                   check=True, capture_output=True)


class Browser:
    """One Chromium session (new empty profile); use as a context manager."""

    def __init__(self, ca_file: Path, loopback_hosts: tuple[str, ...] = (), artefacts: Path | None = None):
        self.ca_file = Path(ca_file)
        self.loopback_hosts = loopback_hosts
        self.artefacts = artefacts
        self.workdir = Path(tempfile.mkdtemp(prefix="kp-chromium-"))
        self.downloads = self.workdir / "downloads"
        self.console: list[dict] = []
        self.responses: list[dict] = []
        self.driver = None

    def __enter__(self) -> Browser:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        home = self.workdir / "home"
        _nss_home(home, self.ca_file)
        self.downloads.mkdir()
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.workdir / 'profile'}")
        if self.loopback_hosts:
            rules = ", ".join(f"MAP {host} 127.0.0.1" for host in self.loopback_hosts)
            options.add_argument(f"--host-resolver-rules={rules}")
        options.add_experimental_option("prefs", {"download.default_directory": str(self.downloads),
                                                  "download.prompt_for_download": False})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        # A driver path and a browser path are given, so Selenium Manager never looks for (or fetches) one.
        env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        service = Service(executable_path=str(CHROMEDRIVER), env=env,
                          log_output=str(self.workdir / "chromedriver.log"))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                                    {"behavior": "allow", "downloadPath": str(self.downloads)})
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            if exc[0] is not None:
                self.screenshot("failure")
        with contextlib.suppress(Exception):
            self.driver.quit()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- what the user does -----------------------------------------------------------

    def basic_auth(self, username: str, password: str) -> None:
        """Send these basic-auth credentials with every request from now on.

        Headless Chromium cannot answer the password prompt, and answering the challenge through WebDriver
        BiDi deadlocks chromedriver 156 (the answer waits behind the pending navigation), so the header goes
        out from the first request (DevTools Network.setExtraHTTPHeaders). It then also rides on requests a
        browser would send without credentials (the manifest): tests check those without the browser.
        """
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})

    def screenshot(self, name: str) -> Path | None:
        if self.artefacts is None:
            return None
        self.artefacts.mkdir(parents=True, exist_ok=True)
        path = self.artefacts / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def wait_for_download(self, name: str, deadline_s: float = 60.0) -> Path:
        """The downloaded file once Chromium has finished writing it."""
        path = self.downloads / name
        end = time.monotonic() + deadline_s
        while not (path.exists() and not list(self.downloads.glob("*.crdownload"))):
            if time.monotonic() > end:
                raise AssertionError(f"no download {name!r}; folder holds {sorted(os.listdir(self.downloads))}")
            time.sleep(0.2)
        return path

    # --- what the browser saw ---------------------------------------------------------

    def collect_logs(self) -> None:
        """Move the browser console and network responses seen so far into self.console / self.responses."""
        self.console.extend(self.driver.get_log("browser"))
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.responseReceived":
                response = message["params"]["response"]
                self.responses.append({"url": response["url"], "status": response["status"],
                                       "type": message["params"].get("type")})

    def open(self, url: str, deadline_s: float = 60.0) -> int:
        """Navigate to url and return the HTTP status of the document."""
        self.collect_logs()
        seen = len(self.responses)
        self.driver.get(url)
        end = time.monotonic() + deadline_s
        while True:
            self.collect_logs()
            for response in self.responses[seen:]:
                if response["type"] == "Document" and response["url"] == url:
                    return response["status"]
            if time.monotonic() > end:
                raise AssertionError(f"no answer for {url}")
            time.sleep(0.2)

    def console_errors(self) -> list[dict]:
        self.collect_logs()
        return [e for e in self.console if e.get("level") == "SEVERE"]
