"""The MinIO console through Traefik in a real browser (Debian's headless Chromium via chromedriver).

What a person does on the console host, on the shared edge stack: the page is refused without the
basic-auth password, the MinIO login form shows with it, the root user logs in, the bucket list shows
the documents bucket, a file is uploaded through the page and downloaded back (same bytes, and MinIO
holds the same bytes), then Sign Out leads back to the login form. Throughout, no console API call
(/api/v1/*) answers 5xx and the browser console logs no error (the manifest fetch, made without
credentials, used to log a 401 on every page).

Screenshots of each step are kept in <cache>/artefacts/console/ (docs/images/console.png is one of them).
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path

import pytest
import yaml
from helpers import browser
from helpers.edge_stack import BUCKET, CONSOLE_HOST, ROOT, S3_HOST

pytestmark = [
    pytest.mark.skipif(shutil.which("docker") is None, reason="needs a Docker engine"),
    pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing())),
]

ARTEFACTS = Path(os.environ.get("KOPROGO_CACHE", ROOT / ".cache")) / "artefacts" / "console"
WAIT_S = 60  # upper bound for one step on a busy machine; a step normally takes well under a second


def test_inventories_leave_the_console_on_the_local_api():
    """MINIO_SERVER_URL at the public S3 host sends the console's admin calls through the S3 route (blank console)."""
    for path in (ROOT / "inventories").glob("*/group_vars/storage/*.yml"):
        settings = yaml.safe_load(path.read_text()) or {}
        assert not settings.get("minio_server_server_url"), f"{path}: leave minio_server_server_url empty"


def stored(stack, key: str) -> bytes | None:
    """The object's bytes as MinIO reports them (direct, as root), or None while it does not exist."""
    from botocore.exceptions import ClientError

    try:
        return stack.root_s3().get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise


def test_console_manifest_needs_no_password(stack):
    """Browsers fetch the web app manifest without credentials: it must not answer 401 (browser console error)."""
    status, headers, body = stack.https(CONSOLE_HOST, "/manifest.json")
    assert status == 200, (status, body[:200])
    assert yaml.safe_load(body)["name"] == "MinIO Console"
    assert stack.https(CONSOLE_HOST, "/")[0] == 401
    assert stack.https(CONSOLE_HOST, "/api/v1/session")[0] == 401


def test_console_in_a_browser(stack, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    assert stack.first.rc == 0, stack.converge_failure()
    started = time.monotonic()
    url = f"https://{CONSOLE_HOST}:{stack.ports['https']}"
    name = f"console-check {secrets.token_hex(4)}.bin"
    payload = secrets.token_bytes(300 * 1024)
    upload = tmp_path / name
    upload.write_bytes(payload)
    shutil.rmtree(ARTEFACTS, ignore_errors=True)

    with browser.Browser(stack.ca_file, (CONSOLE_HOST, S3_HOST), artefacts=ARTEFACTS) as b:
        driver = b.driver
        wait = WebDriverWait(driver, WAIT_S)

        def page_text() -> str:
            return driver.find_element(By.TAG_NAME, "body").text

        # 1. No password: Traefik refuses the page.
        assert b.open(url + "/") == 401
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
        b.screenshot("01-no-password")
        b.console.clear()  # that 401 was the point of this step

        # 2. With the basic-auth password: MinIO's login form.
        b.basic_auth("admin", stack.console_password)
        assert b.open(url + "/login") == 200
        access_key = wait.until(ec.visibility_of_element_located((By.ID, "accessKey")))
        b.screenshot("02-login")

        # 3. Log in as root: the bucket list shows the documents bucket.
        access_key.send_keys(stack.root_user)
        driver.find_element(By.ID, "secretKey").send_keys(stack.root_password)
        driver.find_element(By.ID, "do-login").click()
        wait.until(lambda d: BUCKET in page_text())
        # First visit: the AGPL notice asks for an acknowledgement.
        wait.until(ec.element_to_be_clickable((By.XPATH, "//button[normalize-space(.)='Acknowledge']"))).click()
        wait.until(ec.invisibility_of_element_located((By.XPATH, "//button[normalize-space(.)='Acknowledge']")))
        b.screenshot("03-buckets")

        # 4. Upload through the page into the bucket.
        driver.get(f"{url}/browser/{BUCKET}")
        file_input = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[type=file]")))
        file_input.send_keys(str(upload))
        try:
            wait.until(lambda d: stored(stack, name) is not None)
            assert stored(stack, name) == payload, "MinIO holds other bytes than the page uploaded"
            b.screenshot("04-uploaded")

            # 5. Download it back from the object's panel (reloaded: the object list, not the uploads panel).
            driver.get(f"{url}/browser/{BUCKET}")
            wait.until(ec.element_to_be_clickable((By.XPATH, f"//*[normalize-space(text())='{name}']"))).click()
            wait.until(ec.element_to_be_clickable((By.XPATH, "//button[normalize-space(.)='Download']"))).click()
            assert b.wait_for_download(name, WAIT_S).read_bytes() == payload
            b.screenshot("05-downloaded")
        finally:
            versions = stack.root_s3().list_object_versions(Bucket=BUCKET, Prefix=name)
            for version in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
                stack.root_s3().delete_object(Bucket=BUCKET, Key=name, VersionId=version["VersionId"])

        # 6. Sign Out is visible and leads back to the login form.
        wait.until(ec.element_to_be_clickable((By.XPATH, "//*[normalize-space(text())='Sign Out']"))).click()
        wait.until(ec.visibility_of_element_located((By.ID, "accessKey")))
        b.screenshot("06-signed-out")

        errors = b.console_errors()
        api = [r for r in b.responses if "/api/v1/" in r["url"]]
        assert api, "the console made no API call"
        assert [r for r in api if r["status"] >= 500] == [], "console API calls answered 5xx"
        assert errors == [], "the browser console logged errors"
    print(f"console browser run: {time.monotonic() - started:.1f} s, {len(api)} API calls")
