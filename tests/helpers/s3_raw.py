"""A raw S3 client for comparing what two endpoints answer, byte for byte.

Requests go out through http.client exactly as built here (header names keep their case, no
Accept-Encoding or Host added behind our back, the path is sent as encoded here), signed for the
host they are sent to with botocore's SigV4 signer. Answers keep the header names as received.
The aws-chunked encoders build the bodies the AWS SDKs send (signed chunks, or unsigned chunks
with a trailing checksum).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ssl
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-east-1"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def encode_key(key: str) -> str:
    """The path form of an object key, as the AWS SDKs send it (each byte but / and ~ escaped)."""
    return quote(key, safe="/~")


def encode_query(params: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" if v is not None else quote(k, safe="-_.~")
                    for k, v in params)


@dataclass
class Answer:
    """What the server sent back: status, headers in wire order with their case, body (or its digest)."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    body_len: int = 0
    body_sha256: str = ""
    trailers_read: bool = True
    notes: list[str] = field(default_factory=list)

    def header(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default


class _Signer(S3SigV4Auth):
    """botocore's S3 signer, told the payload hash to sign (streaming modes, UNSIGNED-PAYLOAD)."""

    def __init__(self, credentials, payload_hash: str | None):
        super().__init__(credentials, "s3", REGION)
        self._payload_hash = payload_hash

    def payload(self, request):
        return self._payload_hash if self._payload_hash is not None else super().payload(request)


class Endpoint:
    """One way to reach MinIO: direct (http, 127.0.0.1) or the public route (https, its host name)."""

    def __init__(self, label: str, scheme: str, host: str, port: int, access_key: str, secret_key: str,
                 ca_file: str | None = None, timeout: float = 120.0):
        self.label = label
        self.scheme = scheme
        self.host = host
        self.port = port
        self.netloc = f"{host}:{port}"
        self.base = f"{scheme}://{self.netloc}"
        self.credentials = Credentials(access_key, secret_key)
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=ca_file) if scheme == "https" else None

    # --- building requests ---------------------------------------------------------

    def sign(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None = None,
             payload_hash: str | None = None, credentials: Credentials | None = None):
        """Sign for this endpoint's host; returns (headers to send, signer, request) for chunk signing."""
        request = AWSRequest(method=method, url=self.base + target, data=body or b"")
        for name, value in headers:
            request.headers[name] = value
        signer = _Signer(credentials or self.credentials, payload_hash)
        signer.add_auth(request)
        return list(request.headers.items()), signer, request

    def presign(self, method: str, target: str, expires: int = 600, headers: list[tuple[str, str]] = ()) -> str:
        """A presigned path+query for this endpoint's host (headers listed are signed and must be sent)."""
        request = AWSRequest(method=method, url=self.base + target)
        for name, value in headers:
            request.headers[name] = value
        S3SigV4QueryAuth(self.credentials, "s3", REGION, expires=expires).add_auth(request)
        return request.url[len(self.base):]

    # --- sending -------------------------------------------------------------------

    def connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, context=self._context, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def send(self, method: str, target: str, headers: list[tuple[str, str]], body=b"",
             keep_body: bool = True, read_pause: tuple[int, float, int] | None = None) -> Answer:
        """Send exactly these headers (plus Host) and body (bytes or an iterable of bytes).

        keep_body=False hashes the answer instead of keeping it; read_pause=(pieces, seconds, size)
        reads the first `pieces` pieces of `size` bytes with a pause before each (a slow reader).
        """
        conn = self.connect()
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            if not any(k.lower() == "host" for k, _value in headers):
                conn.putheader("Host", self.netloc)
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders()
            if isinstance(body, (bytes, bytearray)):
                if body:
                    conn.send(body)
            else:
                for piece in body:
                    conn.send(piece)
            resp = conn.getresponse()
            answer = Answer(resp.status, resp.reason, list(resp.getheaders()))
            digest, total, kept = hashlib.sha256(), 0, []
            slow_left, seconds, size = read_pause or (0, 0.0, 1 << 20)
            while True:  # ends at the end of the body
                slow, slow_left = slow_left > 0, max(0, slow_left - 1)
                if slow:
                    time.sleep(seconds)
                piece = resp.read(size if slow else 1 << 20)
                if not piece:
                    break
                digest.update(piece)
                total += len(piece)
                if keep_body:
                    kept.append(piece)
            answer.body = b"".join(kept)
            answer.body_len, answer.body_sha256 = total, digest.hexdigest()
            return answer
        finally:
            conn.close()

    def call(self, method: str, key: str | None, bucket: str, query: Iterable[tuple[str, str | None]] = (),
             headers: Iterable[tuple[str, str]] = (), body=b"", payload_hash: str | None = None,
             signed: bool = True, keep_body: bool = True, read_pause=None,
             credentials: Credentials | None = None, raw_target: str | None = None) -> Answer:
        """One S3 call: path-style target from bucket/key/query (or raw_target), signed for this host."""
        target = raw_target or self.target(bucket, key, query)
        headers = list(headers)
        if isinstance(body, (bytes, bytearray)) and (body or method in ("PUT", "POST")) \
                and not any(k.lower() == "content-length" for k, _value in headers):
            headers.append(("Content-Length", str(len(body))))
        if signed:
            to_sign = body if isinstance(body, (bytes, bytearray)) else None
            headers, _unused1, _unused2 = self.sign(method, target, headers, to_sign, payload_hash, credentials)
        return self.send(method, target, headers, body, keep_body=keep_body, read_pause=read_pause)

    @staticmethod
    def target(bucket: str, key: str | None, query: Iterable[tuple[str, str | None]] = ()) -> str:
        path = "/" + bucket + ("/" + encode_key(key) if key is not None else "/")
        query = list(query)
        return path + ("?" + encode_query(query) if query else "")

    # --- aws-chunked uploads ----------------------------------------------------------

    def put_chunked(self, bucket: str, key: str, data: bytes, chunk_size: int, mode: str,
                    headers: Iterable[tuple[str, str]] = (), pause: float = 0.0) -> Answer:
        """PUT with Content-Encoding: aws-chunked, the way the AWS SDKs stream bodies.

        mode STREAMING-AWS4-HMAC-SHA256-PAYLOAD signs every chunk (seed signature chained);
        STREAMING-UNSIGNED-PAYLOAD-TRAILER sends plain chunks and an x-amz-checksum-crc32 trailer.
        """
        chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        trailer = f"x-amz-checksum-crc32:{crc}\r\n"
        if mode == STREAMING_SIGNED:
            length = sum(len(_signed_chunk(c, "0" * 64)) for c in [*chunks, b""])
        else:
            length = sum(len(_plain_chunk(c)) for c in chunks) + len(b"0\r\n") + len(trailer) + 2
        head = [*headers, ("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", str(len(data))),
                ("Content-Length", str(length))]
        if mode == STREAMING_UNSIGNED_TRAILER:
            head.append(("x-amz-trailer", "x-amz-checksum-crc32"))
        target = self.target(bucket, key)
        signed_headers, signer, request = self.sign("PUT", target, head, None, mode)

        def body() -> Iterator[bytes]:
            if mode == STREAMING_SIGNED:
                previous = request.headers["Authorization"].rsplit("Signature=", 1)[1]
                for chunk in [*chunks, b""]:
                    sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", request.context["timestamp"],
                                     signer.credential_scope(request), previous, EMPTY_SHA256,
                                     hashlib.sha256(chunk).hexdigest()])
                    previous = signer.signature(sts, request)
                    if pause and chunk:
                        time.sleep(pause)
                    yield _signed_chunk(chunk, previous)
            else:
                for chunk in chunks:
                    if pause:
                        time.sleep(pause)
                    yield _plain_chunk(chunk)
                yield b"0\r\n" + trailer.encode() + b"\r\n"

        return self.send("PUT", target, signed_headers, body())


def _signed_chunk(chunk: bytes, signature: str) -> bytes:
    return f"{len(chunk):x};chunk-signature={signature}\r\n".encode() + chunk + b"\r\n"


def _plain_chunk(chunk: bytes) -> bytes:
    return f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"


def multipart_form(fields: list[tuple[str, str]], file_name: str, content: bytes, boundary: str) -> bytes:
    """A multipart/form-data body for a browser-style POST upload (file last, as S3 requires)."""
    out = []
    for name, value in fields:
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
               "Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def pseudo_random(size: int, seed: bytes, piece: int = 1 << 20) -> Iterator[bytes]:
    """`size` deterministic incompressible bytes, generated piece by piece (never held at once)."""
    block = hashlib.shake_256(seed).digest(piece)
    done, counter = 0, 0
    while done < size:
        n = min(piece, size - done)
        # Vary every piece cheaply so no two pieces are equal (dedup or caching cannot help).
        yield counter.to_bytes(8, "big") + block[8:n] if n > 8 else block[:n]
        done += n
        counter += 1
