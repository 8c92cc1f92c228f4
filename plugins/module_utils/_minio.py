# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to koprogo.storage: may change without notice. Do not import from
# other collections.
"""Connection options, client factory and error handling shared by the MinIO modules."""

from __future__ import annotations

import json
import traceback
from urllib.parse import urlparse

from ansible.module_utils.basic import env_fallback, missing_required_lib

try:
    import urllib3
    from minio import Minio
    from minio.credentials import StaticProvider
    from minio.error import MinioAdminException, S3Error, ServerError
    from minio.minioadmin import MinioAdmin

    MINIO_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported by require_minio()
    MINIO_IMPORT_ERROR = traceback.format_exc()


def connection_argument_spec():
    """Options every MinIO module accepts (documented in the koprogo.storage.minio doc fragment)."""
    return dict(
        endpoint=dict(type="str", required=True, fallback=(env_fallback, ["MINIO_ENDPOINT"])),
        access_key=dict(
            type="str", required=True, no_log=False, aliases=["root_user"],
            fallback=(env_fallback, ["MINIO_ACCESS_KEY", "MINIO_ROOT_USER"]),
        ),
        secret_key=dict(
            type="str", required=True, no_log=True, aliases=["root_password"],
            fallback=(env_fallback, ["MINIO_SECRET_KEY", "MINIO_ROOT_PASSWORD"]),
        ),
        region=dict(type="str", default="us-east-1", fallback=(env_fallback, ["MINIO_REGION"])),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        timeout=dict(type="float", default=10.0),
    )


class MinioError(Exception):
    """A failed MinIO operation, with a message that is safe to show."""


def parse_endpoint(endpoint):
    """Split an endpoint URL into (host[:port], secure). Raises MinioError when malformed."""
    if not endpoint or "://" not in endpoint:
        raise MinioError(
            f"endpoint '{endpoint}' must be a URL with a scheme, such as http://127.0.0.1:9000 or https://s3.example.be"
        )
    url = urlparse(endpoint)
    if url.scheme not in ("http", "https"):
        raise MinioError(f"endpoint '{endpoint}' must use http or https, not '{url.scheme}'")
    if not url.hostname:
        raise MinioError(f"endpoint '{endpoint}' has no host")
    if url.username or url.password:
        raise MinioError("endpoint must not embed credentials; use access_key and secret_key")
    if url.path not in ("", "/") or url.query or url.fragment:
        raise MinioError(f"endpoint '{url.scheme}://{url.netloc}' must not have a path, query or fragment")
    return url.netloc, url.scheme == "https"


def scrub(text, secrets):
    """Remove every secret (and its obvious encodings) from text."""
    text = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            for form in (secret, json.dumps(secret)[1:-1]):
                text = text.replace(form, "********")
    return text


def describe_exception(exc):
    """Short, readable text for SDK and transport errors."""
    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}"
    if isinstance(exc, MinioAdminException):
        code = getattr(exc, "_code", "")
        body = getattr(exc, "_body", "")
        try:
            parsed = json.loads(body)
            body = f"{parsed.get('Code', '')}: {parsed.get('Message', body)}"
        except (TypeError, ValueError):
            pass
        return f"HTTP {code} {body}".strip()
    if isinstance(exc, ServerError):
        return f"HTTP {exc.status_code}: {exc}"
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        return f"cannot reach the server ({type(exc.reason).__name__}: {exc.reason})"
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return f"cannot reach the server ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}"


def error_code(exc):
    """The S3 or admin API error code of exc, or None."""
    if isinstance(exc, S3Error):
        return exc.code
    if isinstance(exc, MinioAdminException):
        try:
            return json.loads(getattr(exc, "_body", "")).get("Code")
        except (TypeError, ValueError, AttributeError):
            return None
    return None


class MinioConnection:
    """S3 and admin clients for one endpoint, with uniform, secret-free errors.

    Every SDK call goes through call(operation, fn, ...) so that a failure names
    the endpoint and the operation and never contains a key.
    """

    SDK_ERRORS = ()

    def __init__(self, endpoint, access_key, secret_key, region="us-east-1",
                 validate_certs=True, ca_path=None, timeout=10.0, extra_secrets=(), pool_size=10):
        self.endpoint = endpoint
        self.secrets = [secret_key, *extra_secrets]
        host, secure = parse_endpoint(endpoint)
        kwargs = dict(
            timeout=urllib3.Timeout(connect=timeout, read=max(timeout * 3, 30)),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(502, 503, 504),
                                  allowed_methods=None, raise_on_status=False),
            maxsize=pool_size,  # connections kept per host: at least the number of threads that share them
        )
        if secure:
            kwargs["cert_reqs"] = "CERT_REQUIRED" if validate_certs else "CERT_NONE"
            if ca_path:
                kwargs["ca_certs"] = ca_path
        http = urllib3.PoolManager(**kwargs)
        self.s3 = Minio(endpoint=host, access_key=access_key, secret_key=secret_key, secure=secure,
                        region=region, http_client=http, cert_check=validate_certs)
        self.admin = MinioAdmin(endpoint=host, credentials=StaticProvider(access_key, secret_key),
                                region=region, secure=secure, cert_check=validate_certs, http_client=http)
        self._client_options = dict(endpoint=host, secure=secure, region=region, http_client=http,
                                    cert_check=validate_certs)

    def s3_for(self, access_key, secret_key):
        """An S3 client for other credentials on the same endpoint and TLS settings (to test a secret)."""
        self.add_secret(secret_key)
        return Minio(access_key=access_key, secret_key=secret_key, **self._client_options)

    @classmethod
    def from_module(cls, module, extra_secrets=()):
        p = module.params
        try:
            return cls(p["endpoint"], p["access_key"], p["secret_key"], region=p["region"],
                       validate_certs=p["validate_certs"], ca_path=p["ca_path"], timeout=p["timeout"],
                       extra_secrets=extra_secrets)
        except ValueError as exc:
            raise MinioError(f"invalid connection options for {p['endpoint']}: {exc}") from None

    def add_secret(self, secret):
        if secret:
            self.secrets.append(secret)

    def fail_text(self, operation, exc):
        return scrub(f"{operation} on {self.endpoint} failed: {describe_exception(exc)}", self.secrets)

    def call(self, operation, fn, *args, **kwargs):
        """Run one SDK call; raise MinioError with a scrubbed message on failure."""
        try:
            return fn(*args, **kwargs)
        except (S3Error, MinioAdminException, ServerError, urllib3.exceptions.HTTPError, ValueError) as exc:
            raise MinioError(self.fail_text(operation, exc)) from None

    def admin_json(self, operation, fn, *args, **kwargs):
        """Run an admin call that answers JSON text and return the decoded value."""
        text = self.call(operation, fn, *args, **kwargs)
        if isinstance(text, (bytes, bytearray)):
            text = text.decode("utf-8")
        if not text:
            return {}
        try:
            return json.loads(text)
        except ValueError:
            raise MinioError(f"{operation} on {self.endpoint}: the server answered invalid JSON") from None

    def try_call(self, operation, fn, *args, missing=(), default=None, **kwargs):
        """Like call(), but return default when the error code is one of missing."""
        try:
            return fn(*args, **kwargs)
        except (S3Error, MinioAdminException) as exc:
            if error_code(exc) in missing:
                return default
            raise MinioError(self.fail_text(operation, exc)) from None
        except (ServerError, urllib3.exceptions.HTTPError, ValueError) as exc:
            raise MinioError(self.fail_text(operation, exc)) from None


def require_minio(module):
    if MINIO_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("minio (>=7.2.14,<8)"), exception=MINIO_IMPORT_ERROR)
