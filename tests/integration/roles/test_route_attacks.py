"""Attack regression tests for the public S3 route (issue 9): the pinned MinIO is vulnerable, the edge is not.

Every attack test sends the same request twice. First straight to MinIO on 127.0.0.1: the CONTROL,
which must succeed against the vulnerable default pin (so the test proves the edge does the work,
and notices when a patched build makes the control meaningless). Then through the public route
(Traefik, https://s3.koprogo.test): the answer must be a 4xx and the effect must be absent, checked
independently with the root key on the direct port. Attacks write under a unique `attack/` prefix of
the documents bucket with the backend's key (the deployment's real exposure) and remove every
version they made, so the shared stack stays usable.

The last test is the guard: normal SDK traffic (boto3 defaults with trailing checksums, multipart,
presigned GET/PUT/POST, a signed CopyObject) still works through the route.
"""

from __future__ import annotations

import io
import secrets
import shutil
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from helpers.edge_stack import BUCKET, CONSOLE_HOST, S3_HOST, resolve_to_loopback
from helpers.s3_attack import (
    SELECT_CSV,
    Endpoint,
    S3Request,
    list_request,
    presigned_copy,
    query_credential_forged,
    replication_sse_put,
    select_params,
    send,
    signed,
    snowball_forged,
    tar_archive,
    target_of,
)

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs a Docker engine")


@pytest.fixture(autouse=True)
def _public_names_on_loopback():
    with resolve_to_loopback(CONSOLE_HOST, S3_HOST):
        yield


@pytest.fixture(scope="module")
def edge(stack):
    """Endpoints, the backend's keys (from the rendered env file) and clients, read once."""
    assert stack.first.rc == 0, stack.converge_failure()
    env = stack.env()
    # The backend's key may only write below its prefix (minio_config_backend_key_prefix).
    key_prefix = env.get("S3_KEY_PREFIX", "documents").strip("/")
    endpoints = {
        "direct": Endpoint("direct", "http", "127.0.0.1", stack.ports["api"]),
        "route": Endpoint("route", "https", S3_HOST, stack.ports["https"], stack.ca_file),
    }

    class Edge:
        prefix = key_prefix
        key_id = env["S3_ACCESS_KEY"]
        secret = env["S3_SECRET_KEY"]
        root = stack.root_s3()
        root_user = stack.root_user
        root_password = stack.root_password

        @staticmethod
        def backend(label: str):
            verify = str(stack.ca_file) if label == "route" else None
            # SigV4 presigned URLs, as KoproGo's aws-sdk-s3 makes them (only `host` is signed).
            return boto3.client("s3", endpoint_url=endpoints[label].url, region_name="us-east-1",
                                aws_access_key_id=env["S3_ACCESS_KEY"], aws_secret_access_key=env["S3_SECRET_KEY"],
                                verify=verify, config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                                             retries={"max_attempts": 1}))

    Edge.endpoints = endpoints
    return Edge


def scratch_prefix(edge, name: str, label: str) -> str:
    return f"{edge.prefix}/attack-{name}-{label}-{secrets.token_hex(4)}/"


def stored_under(root, prefix: str) -> dict:
    """{key: bytes} of the current objects under `prefix`, read with the root key on the direct port."""
    listing = root.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return {o["Key"]: root.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
            for o in listing.get("Contents", [])}


def purge(root, prefix: str, versions: tuple = ()) -> None:
    """Delete every version and delete marker under `prefix` (and the given (key, version) pairs)."""
    for key, version in versions:
        root.delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    listing = root.list_object_versions(Bucket=BUCKET, Prefix=prefix)
    for entry in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
        root.delete_object(Bucket=BUCKET, Key=entry["Key"], VersionId=entry["VersionId"])


def refused(answer) -> bool:
    return 400 <= answer.status < 500


def attempt_write(edge, label: str, request: S3Request, prefix: str, effect: dict) -> None:
    """Send a write attack to `label`; the control must write `effect` ({key: bytes}), the route nothing."""
    try:
        answer = send(edge.endpoints[label], request)
        stored = stored_under(edge.root, prefix)
    finally:
        purge(edge.root, prefix)
    written = {key: stored[key] for key in effect if key in stored}
    if label == "direct":
        assert answer.status == 200, f"CONTROL: the pinned MinIO refused {request.describe()}: {answer.text}"
        assert written == effect, f"CONTROL: the attack did not write {sorted(effect)}"
    else:
        assert written == {}, f"the route let the attack write {sorted(written)}"
        assert refused(answer), f"route answered {answer.status} to {request.describe()}: {answer.text}"


# --- GHSA-9c4q-hq6p-c237 (CVE-2026-40344) --------------------------------------------

# MinIO routes to the extract handler when the header value matches the regexp `true` anywhere,
# so a filter that compares the value to "true" exactly would miss the second form.
@pytest.mark.parametrize("extract_value", ["true", "yes-true"])
def test_snowball_upload_with_forged_signature(edge, extract_value):
    """Only the key id (printed in every presigned URL) and a made-up signature: a tar lands in the bucket."""
    for label in ("direct", "route"):
        prefix = scratch_prefix(edge, "snowball", label)
        files = {"planted.txt": secrets.token_bytes(64), "sub/second.txt": b"second"}
        planted = {prefix + name: data for name, data in files.items()}
        request = snowball_forged(BUCKET, prefix, edge.key_id, tar_archive(files), extract_value)
        attempt_write(edge, label, request, prefix, planted)


# --- GHSA-hv4r-mvr4-25vw (CVE-2026-41145) --------------------------------------------

def test_query_credential_unsigned_trailer_put_with_forged_signature(edge):
    """Presign-style query credentials + STREAMING-UNSIGNED-PAYLOAD-TRAILER: the signature is never checked."""
    for label in ("direct", "route"):
        prefix = scratch_prefix(edge, "qcred", label)
        key, data = prefix + "forged.txt", secrets.token_bytes(100)
        request = query_credential_forged(BUCKET, key, edge.key_id, data)
        attempt_write(edge, label, request, prefix, {key: data})


# --- GHSA-3rh2-v3gr-35p9 (CVE-2026-34204) --------------------------------------------

def test_replication_headers_cannot_plant_encryption_metadata(edge):
    """A signed PutObject with X-Minio-Replication-* headers makes the object unreadable and breaks listings."""
    for label in ("direct", "route"):
        prefix = scratch_prefix(edge, "tamper", label)
        key, data = prefix + "report.txt", b"minutes of the general assembly\n"
        request = signed(edge.endpoints[label], replication_sse_put(BUCKET, key, data, secrets.token_bytes(96)),
                         edge.key_id, edge.secret)
        version = None
        try:
            answer = send(edge.endpoints[label], request)
            version = answer.headers.get("x-amz-version-id")
            readback = read_as_root(edge.root, key)
            listing = send(edge.endpoints["direct"], signed(edge.endpoints["direct"], list_request(BUCKET, prefix),
                                                            edge.root_user, edge.root_password))
        finally:
            purge_tampered(edge, prefix, key, version)
        if label == "direct":
            assert answer.status == 200, f"CONTROL: the pinned MinIO refused {request.describe()}: {answer.text}"
            assert readback != data, "CONTROL: the object carrying planted metadata is still readable by root"
            assert listing.status != 200 or "XMinioObjectTampered" in listing.text, (
                f"CONTROL: listing the prefix still works ({listing.status}): {listing.text[:300]}")
        else:
            assert readback == "NoSuchKey", f"the route let the PUT through: root now reads {readback!r}"
            assert listing.status == 200 and "XMinioObjectTampered" not in listing.text, listing.text[:300]
            assert refused(answer), f"route answered {answer.status} to {request.describe()}: {answer.text}"
    # The planted objects are gone: the whole documents bucket lists again (the backup depends on it).
    pages = edge.backend("direct").get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    assert all(page["ResponseMetadata"]["HTTPStatusCode"] == 200 for page in pages)


def read_as_root(root, key: str):
    """The object's bytes, or the error code root gets instead."""
    try:
        return root.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except ClientError as exc:
        return exc.response["Error"].get("Code")


def purge_tampered(edge, prefix: str, key: str, version: str | None) -> None:
    """A tampered object breaks ListObjectVersions too: delete it by the version id its PUT returned."""
    if version:
        edge.root.delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    purge(edge.root, prefix)


# --- GHSA-h749-fxx7-pwpg (CVE-2026-39414) --------------------------------------------

def test_s3_select_is_not_served_through_the_route(edge):
    """S3 Select buffers a whole CSV line: one huge line exhausts the VPS's memory. Shown with a small CSV."""
    key = scratch_prefix(edge, "select", "both") + "shares.csv"
    edge.backend("direct").put_object(Bucket=BUCKET, Key=key, Body=SELECT_CSV)
    try:
        events = edge.backend("direct").select_object_content(**select_params(BUCKET, key))["Payload"]
        records = b"".join(e["Records"]["Payload"] for e in events if "Records" in e)
        assert records.split() == [b"Dupont", b"Peeters"], f"CONTROL: Select answered {records!r}"

        with pytest.raises(ClientError) as err:
            events = edge.backend("route").select_object_content(**select_params(BUCKET, key))["Payload"]
            served = b"".join(e["Records"]["Payload"] for e in events if "Records" in e)
            pytest.fail(f"the route served S3 Select: {served!r}")
        status = err.value.response["ResponseMetadata"]["HTTPStatusCode"]
        assert 400 <= status < 500, err.value.response
    finally:
        purge(edge.root, key)


# --- Silo SN-2026-011 -----------------------------------------------------------------

def test_presigned_put_cannot_copy_another_object(edge):
    """An upload URL for one key + an unsigned x-amz-copy-source header copies a private object into it."""
    for label in ("direct", "route"):
        prefix = scratch_prefix(edge, "copy", label)
        private, target = prefix + "building-2/owner-list.pdf", prefix + "building-1/upload.pdf"
        secret_bytes = secrets.token_bytes(256)
        edge.root.put_object(Bucket=BUCKET, Key=private, Body=secret_bytes)
        url = edge.backend(label).generate_presigned_url(
            "put_object", Params={"Bucket": BUCKET, "Key": target}, ExpiresIn=600)
        attempt_write(edge, label, presigned_copy(url, f"/{BUCKET}/{private}"), prefix, {target: secret_bytes})


# --- the public S3 host serves S3 only -------------------------------------------------

METRICS_PATHS = [
    "/minio/prometheus/metrics",
    "/minio/v2/metrics/cluster",
    "/minio/v2/metrics/node",
    "/minio/v2/metrics/bucket",
    "/minio/v2/metrics/resource",
    "/minio/metrics/v3",
    "/minio/metrics/v3/system/memory",
]


@pytest.fixture(scope="module")
def bearer(stack):
    from ansible_collections.koprogo.storage.plugins.module_utils._prometheus_token import mint_token

    return {"Authorization": "Bearer " + mint_token(stack.root_user, stack.root_password, "prometheus",
                                                    time.time(), 600)}


@pytest.mark.parametrize("path", METRICS_PATHS)
def test_metrics_are_not_served_on_the_s3_host(edge, bearer, path):
    """Prometheus scrapes MinIO on 127.0.0.1; a leaked scrape token must not work from the internet."""
    request = S3Request("GET", path, headers=bearer)
    direct = send(edge.endpoints["direct"], request)
    assert direct.status == 200 and b"minio_" in direct.body, f"CONTROL: {path} answered {direct.status}"
    routed = send(edge.endpoints["route"], request)
    assert refused(routed) and b"minio_" not in routed.body, f"route answered {routed.status} for GET {path}"


def test_admin_api_is_not_served_on_the_s3_host(edge):
    """Even with valid root credentials, the admin API is not reachable through the public route."""
    for label in ("direct", "route"):
        request = signed(edge.endpoints[label], S3Request("GET", "/minio/admin/v3/info"),
                         edge.root_user, edge.root_password)
        answer = send(edge.endpoints[label], request)
        if label == "direct":
            assert answer.status == 200 and '"mode"' in answer.text, f"CONTROL: admin info answered {answer.status}"
        else:
            assert refused(answer) and '"mode"' not in answer.text, f"route answered {answer.status}"


@pytest.mark.parametrize("path", ["/minio/health/live", "/minio/health/ready", "/minio/health/cluster"])
def test_health_probes_stay_available(edge, path):
    """Liveness and readiness say nothing about the data and need no key: fine on the public host."""
    for label in ("direct", "route"):
        answer = send(edge.endpoints[label], S3Request("GET", path))
        assert answer.status == 200, f"{label}: GET {path} answered {answer.status}"


# --- guard: normal SDK traffic still works through the route ---------------------------

def test_normal_sdk_traffic_still_works_through_the_route(edge):
    from boto3.s3.transfer import TransferConfig
    from urllib3.filepost import encode_multipart_formdata

    prefix = scratch_prefix(edge, "guard", "route")
    s3 = edge.backend("route")
    route = edge.endpoints["route"]
    sent = []
    s3.meta.events.register("before-send.s3.*", lambda request, **_: sent.append(dict(request.headers)))
    try:
        # boto3's default PutObject over TLS: aws-chunked body, unsigned payload, CRC32 trailer.
        small = secrets.token_bytes(2048)
        s3.put_object(Bucket=BUCKET, Key=prefix + "default.bin", Body=small)
        assert sent[-1].get("X-Amz-Content-SHA256") in (b"STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                                                        "STREAMING-UNSIGNED-PAYLOAD-TRAILER"), sent[-1]
        head = s3.head_object(Bucket=BUCKET, Key=prefix + "default.bin", ChecksumMode="ENABLED")
        assert head["ContentLength"] == len(small) and head.get("ChecksumCRC32"), head

        # Multipart (two parts, each with its trailing checksum).
        big = secrets.token_bytes(5 * 1024 * 1024 + 4096)
        config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
        s3.upload_fileobj(io.BytesIO(big), BUCKET, prefix + "multipart.bin", Config=config)
        got = s3.get_object(Bucket=BUCKET, Key=prefix + "multipart.bin")
        assert got["ETag"].strip('"').endswith("-2") and got["Body"].read() == big

        # Presigned PUT, then presigned GET, of the same key.
        put_url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": prefix + "pre.txt"})
        path, query = target_of(put_url)
        answer = send(route, S3Request("PUT", path, query, {"Content-Type": "text/plain"}, b"presigned put"))
        assert answer.status == 200, answer.text
        get_url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": prefix + "pre.txt"})
        path, query = target_of(get_url)
        answer = send(route, S3Request("GET", path, query))
        assert answer.status == 200 and answer.body == b"presigned put", answer.text

        # Presigned POST (browser form upload).
        post = s3.generate_presigned_post(BUCKET, prefix + "form.txt", ExpiresIn=600)
        body, content_type = encode_multipart_formdata(
            [*post["fields"].items(), ("file", ("form.txt", b"posted through a form", "text/plain"))])
        answer = send(route, S3Request("POST", f"/{BUCKET}", headers={"Content-Type": content_type}, body=body))
        assert answer.status in (200, 204), answer.text

        # CopyObject signed normally (x-amz-copy-source is part of the signature).
        s3.copy_object(Bucket=BUCKET, Key=prefix + "copy.txt",
                       CopySource={"Bucket": BUCKET, "Key": prefix + "form.txt"})

        assert stored_under(edge.root, prefix) == {
            prefix + "default.bin": small, prefix + "multipart.bin": big, prefix + "pre.txt": b"presigned put",
            prefix + "form.txt": b"posted through a form", prefix + "copy.txt": b"posted through a form"}
    finally:
        purge(edge.root, prefix)
