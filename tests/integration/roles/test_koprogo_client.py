"""KoproGo's own S3 client behaviour against the converged stack, for every S3_KEY_PREFIX the roles can write.

tests/tools/koprogo-client is a small Rust program built with the aws-sdk-s3 / aws-config versions of
KoproGo's backend/Cargo.lock and configured like the backend's S3Storage (BehaviorVersion::latest,
region and endpoint from the env file, force_path_style, the SDK's default request checksums). It
reads the env file backend_env wrote (parsed with dotenvy, as the backend does), builds keys like
the backend (`<prefix>/<building>/<uuid>_<name>`) and runs the backend's operations: HeadBucket,
PutObject of the whole body (1 MiB and 40 MiB; the backend's limit is 50 MB), GetObject (sha256),
HeadObject, a listing of the building's prefix, DeleteObject, HeadObject again.

Prefixes: the role default (`documents`, KoproGo's compose default), a nested one, and none (`""`:
no S3_KEY_PREFIX line at all). Each runs through the public route (https://s3.koprogo.test:<port>,
trusting the test CA, the name resolved to 127.0.0.1 inside the probe only) and straight to MinIO.
The shared stack is re-configured with minio_config + backend_env only (the backend policy follows
the prefix) and put back as it was at the end.

`legacy-empty` is the env file the roles wrote before issue 8 (`S3_KEY_PREFIX=` present and empty,
written here by hand): the backend then starts every key with '/', so the request path holds '//'.
Straight to MinIO it must work; through the route it needs a route that does not clean paths.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from helpers.edge_stack import BUCKET, ENV_FILE, ONE_MIB, RECAP, S3_HOST, changed_tasks
from helpers.koprogo_client import build_koprogo_client

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs a Docker engine")

# File names a co-owner uploads; every character class the issue lists, alone and all together.
FILES = [
    (ONE_MIB, "contrat de syndic 2024.pdf"),
    (ONE_MIB, "procès-verbal AGO été – Liège.pdf"),
    (ONE_MIB, "facture #12.pdf"),
    (ONE_MIB, "remise 100% (50%20 net).pdf"),
    (ONE_MIB, "devis?version=2.pdf"),
    (ONE_MIB, "plan;étage 3.pdf"),
    (40 * ONE_MIB, "Règlement de copropriété #7 100% ok?;v2.pdf"),
]
# label -> the prefix given to the roles (None: role defaults).
PREFIXES = {"default": None, "nested": "koprogo/prod-1/documents", "none": ""}
# label -> the prefix the backend then uses ("" for legacy-empty: present and empty).
EXPECTED_PREFIX = {"default": "documents", "nested": "koprogo/prod-1/documents", "none": None, "legacy-empty": ""}
ROUTES = ("public route", "direct to MinIO")
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def probe_bin() -> Path:
    return build_koprogo_client()


def run_probe(stack, probe_bin: Path, workdir: Path, route: str, legacy_empty: bool = False) -> dict:
    env_file = workdir / "backend-storage.env"
    env_file.write_bytes(stack.host.read_file(ENV_FILE) + (b"S3_KEY_PREFIX=\n" if legacy_empty else b""))
    env_file.chmod(0o600)
    args = [str(probe_bin), "--env-file", str(env_file), "--building", str(uuid.uuid4())]
    if route == "public route":
        args += ["--ca-file", str(stack.ca_file), "--resolve", f"{S3_HOST}=127.0.0.1"]
    else:
        args += ["--endpoint", stack.direct_endpoint()]
    for size, name in FILES:
        args += ["--file", f"{size}:{name}"]
    # A clean environment: no AWS_* variable or ~/.aws profile may change the SDK's behaviour.
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    proc = subprocess.run(args, env={"PATH": os.environ["PATH"], "HOME": str(home)}, capture_output=True,
                          text=True, timeout=900, check=False)
    env_file.unlink()
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def configure(stack, label: str):
    """minio_config + backend_env with this prefix (the policy and the env file follow it)."""
    prefix = PREFIXES[label]
    extra = {} if prefix is None else {"minio_config_backend_key_prefix": prefix}
    result = stack.run(extra=extra, tags="minio_config,backend_env")
    assert result.rc == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result


def stored_keys(stack, folder: str) -> set[str]:
    """Keys (every version and delete marker) under the building's folder, seen with root credentials."""
    root = stack.root_s3()
    keys = set()
    for page in root.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=folder):
        keys |= {v["Key"] for v in page.get("Versions", []) + page.get("DeleteMarkers", [])}
    return keys


def purge(stack, folder: str) -> None:
    root = stack.root_s3()
    for page in root.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=folder):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            root.delete_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])


@pytest.fixture(scope="module")
def runs(stack, probe_bin, tmp_path_factory):
    """Every (prefix, route) probe report, plus what the roles wrote; the stack is restored afterwards."""
    if stack.first.rc != 0:
        pytest.skip("the stack did not converge")
    workdir = tmp_path_factory.mktemp("koprogo-client")
    original = stack.host.read_file(ENV_FILE)
    results = {"env": {}, "reports": {}, "stored": {}, "check": {}}
    started = time.monotonic()
    try:
        for label in PREFIXES:
            if label != "default":  # the shared stack is already converged with the defaults
                configure(stack, label)
            if label == "none":  # the new code path (no S3_KEY_PREFIX line) must stay idempotent
                results["check"][label] = stack.run(extra={"minio_config_backend_key_prefix": ""},
                                                    tags="minio_config,backend_env", check=True)
            results["env"][label] = stack.host.read_file(ENV_FILE).decode()
            # With no prefix the policy covers the whole bucket, so the legacy keys ("/<building>/...") are allowed.
            for probe_label in ([label, "legacy-empty"] if label == "none" else [label]):
                for route in ROUTES:
                    report = run_probe(stack, probe_bin, workdir, route, legacy_empty=probe_label == "legacy-empty")
                    prefix = EXPECTED_PREFIX[probe_label]
                    folder = f"{prefix + '/' if prefix is not None else ''}{report['building']}/"
                    results["stored"][(probe_label, route)] = stored_keys(stack, folder)
                    purge(stack, folder)
                    results["reports"][(probe_label, route)] = report
            log.info("prefix %s done after %.0f s", label, time.monotonic() - started)
    finally:
        restored = configure(stack, "default")
        results["restored"] = stack.host.read_file(ENV_FILE) == original
        results["restore_changed"] = changed_tasks(restored)
        log.info("stack restored after %.0f s", time.monotonic() - started)
    return results


def test_env_file_for_each_prefix(runs):
    for label, text in runs["env"].items():
        lines = [line for line in text.splitlines() if line.startswith("S3_KEY_PREFIX")]
        expected = EXPECTED_PREFIX[label]
        assert lines == ([f"S3_KEY_PREFIX={expected}"] if expected else []), (label, lines)
    check = runs["check"]["none"]
    assert check.rc == 0 and check.changed == 0, changed_tasks(check)


def test_stack_env_file_is_put_back(runs):
    assert runs["restored"], runs["restore_changed"]


def test_client_reads_the_settings_like_the_backend(stack, runs):
    for (label, route), report in runs["reports"].items():
        assert report["storage_provider"] == "s3"
        assert report["bucket"] == BUCKET and report["region"] == "us-east-1" and report["force_path_style"] is True
        assert report["key_prefix"] == EXPECTED_PREFIX[label], (label, route)
        endpoint = stack.direct_endpoint() if route == "direct to MinIO" else f"https://{S3_HOST}:{stack.ports['https']}"
        assert report["endpoint"] == endpoint
        assert report["head_bucket"] == {"ok": True}, (label, route, report["head_bucket"])


# legacy-empty: the env file written before issue 8 (`S3_KEY_PREFIX=`), whose keys start with '/' and put
# '//' in the request path; the route must pass it as signed (it no longer merges slashes).
CASES = [pytest.param(label, route, id=f"{label}-{route}") for label in EXPECTED_PREFIX for route in ROUTES]


@pytest.mark.parametrize(("label", "route"), CASES)
@pytest.mark.parametrize(("size", "name"), FILES, ids=[f"{s // ONE_MIB}MiB-{n}" for s, n in FILES])
def test_backend_document_lifecycle(stack, runs, label, route, size, name):
    report = runs["reports"][(label, route)]
    doc = next(f for f in report["files"] if f["name"] == name)
    prefix = EXPECTED_PREFIX[label]
    building = report["building"]
    folder = f"{prefix}/{building}/" if prefix is not None else f"{building}/"
    key = doc["key"]
    assert key.startswith(folder) and key.endswith("_" + name) and "//" not in key, key
    assert doc["put"] == {"ok": True}, doc["put"]
    assert doc["get"] == {"ok": True, "size": size, "sha256": doc["sha256"]}, doc["get"]
    assert doc["head"] == {"exists": True}, doc["head"]
    if label == "legacy-empty":
        # MinIO drops the leading '/' of an object name, so a listing by "/<building>/" finds nothing
        # (seen straight to MinIO): one more way an empty prefix misleads, not a route difference.
        assert doc["list"]["ok"] is True, doc["list"]
    else:
        assert doc["list"] == {"ok": True, "prefix": folder, "found": True}, doc["list"]
        # Independent check (root, direct): the object was stored under exactly that key.
        assert key in runs["stored"][(label, route)]
    assert doc["delete"] == {"ok": True}, doc["delete"]
    assert doc["head_after_delete"] == {"exists": False}, doc["head_after_delete"]


@pytest.mark.parametrize(("role", "variable", "value"), [
    ("backend_env", "backend_env_s3_key_prefix", "/documents"),
    ("backend_env", "backend_env_s3_key_prefix", "koprogo//documents"),
    ("minio_config", "minio_config_backend_key_prefix", "documents/"),
])
def test_bad_prefix_is_refused_before_any_change(stack, role, variable, value):
    before = stack.host.read_file(ENV_FILE)
    play = stack.write_play(f"bad-prefix-{role}.yml", [{"role": f"koprogo.storage.{role}"}], gather_facts=False)
    result = stack.run(play, {variable: value}, json_output=False)
    assert result.rc != 0
    assert "is not a valid key prefix" in " ".join(result.stdout.split()), result.stdout[-3000:]
    recap = RECAP.search(result.stdout)
    assert recap and recap.group(3) == "0", result.stdout[-2000:]
    assert stack.host.read_file(ENV_FILE) == before
