# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to koprogo.storage: may change without notice.
"""The I/O half of s3_sync: list, read (hash + metadata + tags), copy and delete objects.

Every SDK call goes through MinioConnection.call, so errors name the endpoint and the operation and
carry no secret. The decisions are in _sync.py.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import mimetypes
import os
import pwd
import stat
import tempfile

from ansible_collections.koprogo.storage.plugins.module_utils._minio import MinioConnection, MinioError
from ansible_collections.koprogo.storage.plugins.module_utils._sync import (
    DEFAULT_CONTENT_TYPE,
    HEADER_FIELDS,
    check_key,
    entry_from_headers,
    etag_of_parts,
    listed_tags,
    local_key,
    plain_etag,
    put_arguments,
)

try:
    from minio.commonconfig import Tags
    from minio.deleteobjects import DeleteObject
    from minio.error import S3Error
except ImportError:  # pragma: no cover - reported by require_minio()
    pass

CHUNK = 1024 * 1024
# error codes of a server that refuses MinIO's listing extension (the listing is then made without it)
NO_EXTENSION = ("InvalidArgument", "NotImplemented", "InvalidRequest")


def connect(location, extra_secrets=(), workers=10):
    """A MinioConnection for a source/target dict, with its addressing style applied, keeping a connection
    per worker thread open."""
    try:
        conn = MinioConnection(location["endpoint"], location["access_key"], location["secret_key"],
                               region=location["region"], validate_certs=location["validate_certs"],
                               ca_path=location["ca_path"], timeout=location["timeout"],
                               extra_secrets=extra_secrets, pool_size=max(10, workers))
    except ValueError as exc:
        raise MinioError(f"invalid connection options for {location['endpoint']}: {exc}") from None
    style = location["addressing_style"]
    # the SDK picks virtual-hosted style for AWS host names and path style elsewhere ("auto")
    if style == "path":
        conn.s3.disable_virtual_style_endpoint()
    elif style == "virtual":
        conn.s3.enable_virtual_style_endpoint()
    return conn


def bucket_exists(conn, bucket):
    return conn.call(f"check bucket {bucket}", conn.s3.bucket_exists, bucket)


def make_bucket(conn, bucket, region):
    conn.call(f"create bucket {bucket}", conn.s3.make_bucket, bucket, location=region)


def _listed(obj):
    entry = {"size": int(obj.size or 0), "etag": (obj.etag or "").strip('"')}
    if obj.metadata:
        # MinIO's extension: the object's stored headers, user metadata and tags (MinIO lists at least the
        # Content-Type, so an object listed without metadata is read object by object)
        entry["listed"] = dict(entry_from_headers(obj.metadata), size=entry["size"], etag=entry["etag"],
                               tags=listed_tags(obj.tags))
    return entry


def list_bucket(conn, bucket, prefix, with_metadata=False):
    """{key: {size, etag[, listed]}} of the current versions under prefix (delete markers and older versions
    are not listed; the SDK lists with encoding-type=url, so any UTF-8 key comes back intact).

    with_metadata asks for MinIO's listing extension (metadata=true): "listed" is then the object's entry
    without sha256 (headers, user metadata, tags) as the server stores it, which saves a tagging request
    per object and side. Other servers ignore or refuse the extension; "listed" is then absent."""
    def listing(extension):
        return {obj.object_name: _listed(obj) for obj in conn.s3.list_objects(
            bucket, prefix=prefix or None, recursive=True, include_user_meta=extension)}

    def run():
        if with_metadata:
            try:
                return listing(True)
            except ValueError:  # the SDK could not split a listed tag set: read the tags one by one
                pass
            except S3Error as exc:
                if exc.code not in NO_EXTENSION:
                    raise
        return listing(False)
    return conn.call(f"list bucket {bucket}", run)


def list_directory(root):
    """({key: {size, etag: None}}, [problems]) for the regular files under root; symbolic links, special files and
    names that cannot be S3 keys are problems (nothing is skipped silently)."""
    if not os.path.isdir(root):
        raise MinioError(f"source directory {root} does not exist or is not a directory")
    files, problems = {}, []

    def fail_walk(exc):
        problems.append(f"{exc.filename}: {exc.strerror}")

    for directory, dirnames, filenames in os.walk(root, onerror=fail_walk):
        for name in sorted(dirnames):
            if os.path.islink(os.path.join(directory, name)):
                problems.append(f"{os.path.join(directory, name)}: a symbolic link to a directory (not followed)")
        for name in filenames:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            try:
                info = os.lstat(path)
            except OSError as exc:
                problems.append(f"{relative!r}: {exc.strerror}")
                continue
            if not stat.S_ISREG(info.st_mode):
                problems.append(f"{relative!r}: not a regular file")
                continue
            key = local_key(relative)
            why = check_key(key)
            if why:
                problems.append(f"{relative!r}: {why}")
                continue
            files[key] = {"size": info.st_size, "etag": None}
    return files, problems


def _hash_stream(read):
    digest, size = hashlib.sha256(), 0
    while True:
        chunk = read(CHUNK)
        if not chunk:
            return digest.hexdigest(), size
        digest.update(chunk)
        size += len(chunk)


def _tags(conn, bucket, key):
    tags = conn.call(f"read the tags of {key!r}", conn.s3.get_object_tags, bucket, key)
    return dict(tags) if tags else {}


def tags_of(conn, bucket, key, with_tags, listed=None):
    """The tags of an object: from its listing when the server listed them, else one request; None when
    tags are not copied."""
    if not with_tags:
        return None
    if listed is not None:
        return dict(listed["tags"])
    return _tags(conn, bucket, key)


def read_s3(conn, bucket, key, with_tags=True, listed=None):
    """The entry of one object: bytes hashed as stored (a Content-Encoding is never decoded), the
    Content-* headers, user metadata and tags (None when with_tags is false; taken from listed, the
    object's listing entry, when there is one). None when the object is gone."""
    def get():
        response = conn.s3.get_object(bucket, key)
        try:
            entry = entry_from_headers(response.headers)
            entry["sha256"], entry["size"] = _hash_stream(lambda n: response.read(n, decode_content=False))
            return entry
        finally:
            response.close()
            response.release_conn()
    entry = conn.try_call(f"read {key!r} in {bucket}", get, missing=("NoSuchKey",))
    if entry is not None:
        entry["tags"] = tags_of(conn, bucket, key, with_tags, listed)
    return entry


def head_s3(conn, bucket, key, with_tags=True, listed=None):
    """The entry of one object as the server describes it, without its bytes: size, ETag, Content-*
    headers, user metadata and tags. None when the object is gone."""
    def head():
        stat = conn.s3.stat_object(bucket, key)
        return dict(entry_from_headers(stat.metadata), size=int(stat.size or 0), etag=(stat.etag or "").strip('"'))
    entry = conn.try_call(f"read the headers of {key!r} in {bucket}", head, missing=("NoSuchKey",))
    if entry is not None:
        entry["tags"] = tags_of(conn, bucket, key, with_tags, listed)
    return entry


def local_md5(root, key):
    """The MD5 of a local file, to compare with a single-part ETag (a local read, no request)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(os.path.join(root, *key.split("/")), "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _local_entry(key, size, guess_type, with_tags):
    entry = dict.fromkeys(HEADER_FIELDS)
    entry.update(size=size, metadata={}, tags={} if with_tags else None, content_type=DEFAULT_CONTENT_TYPE)
    if guess_type:
        entry["content_type"] = mimetypes.guess_type(key, strict=False)[0] or DEFAULT_CONTENT_TYPE
    return entry


def read_local(root, key, guess_type, with_tags=True):
    """The entry of a file: size, sha256 and a Content-Type (guessed from the name or the default)."""
    path = os.path.join(root, *key.split("/"))
    try:
        with open(path, "rb") as handle:
            sha256, size = _hash_stream(handle.read)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MinioError(f"read {path}: {exc.strerror}") from None
    entry = _local_entry(key, size, guess_type, with_tags)
    entry["sha256"] = sha256
    return entry


def _md5():
    return hashlib.md5(usedforsecurity=False)


class _HashingReader:
    """A file-like wrapper that hashes what the SDK reads (and never decodes a Content-Encoding): sha256
    of the whole, and the MD5 of each part as the SDK splits the upload (part_lengths), from which the
    ETag the target must report follows (etag_of_parts). The MD5 of the whole is kept too when the upload
    has several parts, to check the bytes against the source's single-part ETag."""

    def __init__(self, read, length, part_size):
        self._read = read
        self.digest = hashlib.sha256()
        self.size = 0
        self._part_size = part_size
        self._part, self._in_part, self._parts = _md5(), 0, []
        self._whole = _md5() if length > part_size else None

    def read(self, size=-1):
        data = self._read(size)
        self.digest.update(data)
        self.size += len(data)
        if self._whole is not None:
            self._whole.update(data)
        view = memoryview(data)
        while view:
            take = min(len(view), self._part_size - self._in_part)
            self._part.update(view[:take])
            self._in_part += take
            view = view[take:]
            if self._in_part == self._part_size:
                self._parts.append(self._part.digest())
                self._part, self._in_part = _md5(), 0
        return data

    def part_md5s(self):
        return self._parts + [self._part.digest()] if self._in_part or not self._parts else list(self._parts)

    def md5(self):
        return self._whole.hexdigest() if self._whole is not None else self.part_md5s()[0].hex()

    def finish(self, entry):
        """entry completed with what was read: size, sha256 and the ETag expected at the target."""
        entry.update(size=self.size, sha256=self.digest.hexdigest(), etag=etag_of_parts(self.part_md5s()))
        return entry


def _put(conn, bucket, key, reader, length, entry, part_size):
    content_type, metadata = put_arguments(entry)
    tags = None
    if entry.get("tags"):
        tags = Tags.new_object_tags()
        tags.update(entry["tags"])
    conn.call(f"write {key!r} in {bucket}", conn.s3.put_object, bucket, key, reader, length,
              content_type=content_type, metadata=metadata or None, tags=tags, part_size=part_size)


def copy_s3(source, bucket, key, target, target_bucket, target_key, part_size, with_tags=True, listed=None,
            check_etag=True):
    """Stream one object from source to target; returns the source's entry as it was copied (bytes
    hashed on the way, "etag" the ETag the target must report), or None when the object disappeared
    from the source meanwhile. Tags come from listed (the source listing's entry) when there is one.

    check_etag: the bytes read must have the MD5 the source reports as a single-part ETag (a multipart
    source ETag cannot be recomputed without the original part size, and is not checked)."""
    def get():
        return source.s3.get_object(bucket, key)
    response = source.try_call(f"read {key!r} in {bucket}", get, missing=("NoSuchKey",))
    if response is None:
        return None
    try:
        entry = entry_from_headers(response.headers)
        length = int(response.headers.get("Content-Length") or 0)
        entry["tags"] = tags_of(source, bucket, key, with_tags, listed)
        reader = _HashingReader(lambda n: response.read(n, decode_content=False), length, part_size)
        _put(target, target_bucket, target_key, reader, length, entry, part_size)
        source_md5 = plain_etag(response.headers.get("ETag"))
    finally:
        response.close()
        response.release_conn()
    if check_etag and source_md5 and len(source_md5) == 32 and reader.md5() != source_md5:
        raise MinioError(f"read {key!r} in {bucket} on {source.endpoint}: the bytes read do not have the MD5 "
                         "of the source's ETag (if this server's ETags are not MD5s, use verify: full)")
    return reader.finish(entry)


def copy_local(root, key, target, target_bucket, target_key, part_size, guess_type, with_tags=True):
    """Upload one file (read once, hashed on the way); None when it disappeared meanwhile."""
    path = os.path.join(root, *key.split("/"))
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MinioError(f"read {path}: {exc.strerror}") from None
    with handle:
        entry = _local_entry(key, os.fstat(handle.fileno()).st_size, guess_type, with_tags)
        reader = _HashingReader(handle.read, entry["size"], part_size)
        _put(target, target_bucket, target_key, reader, entry["size"], entry, part_size)
    return reader.finish(entry)


def resolve_owner(owner, group):
    """(uid, gid) for chown from names or numeric ids; -1 leaves that side as it is."""
    def one(value, lookup, kind):
        if value in (None, ""):
            return -1
        if str(value).isdigit():
            return int(value)
        try:
            return lookup(str(value))
        except KeyError:
            raise MinioError(f"target: {kind} {value!r} does not exist on this host") from None
    return (one(owner, lambda name: pwd.getpwnam(name).pw_uid, "owner"),
            one(group, lambda name: grp.getgrnam(name).gr_gid, "group"))


def _make_directories(root, directory, uid, gid):
    """Create directory (under root) and its missing parents, owned like the files (the backend writes new
    uploads into them)."""
    missing = []
    while not os.path.isdir(directory) and directory != root:
        missing.append(directory)
        directory = os.path.dirname(directory)
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o750)  # documents: no access for other users
        except FileExistsError:  # another worker made it meanwhile
            continue
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)


def _fsync_directory(directory):
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def copy_to_local(source, bucket, key, root, relative, owner=(-1, -1), mode=0o640, check_etag=True):
    """Stream one object into root/relative: written to a temporary file in the same directory, flushed to
    disk, then renamed over the final name (a reader never sees half a file). Returns {size, sha256} of the
    bytes streamed, or None when the object disappeared from the source meanwhile."""
    path = os.path.join(root, *relative.split("/"))
    directory = os.path.dirname(path)

    def get():
        return source.s3.get_object(bucket, key)
    response = source.try_call(f"read {key!r} in {bucket}", get, missing=("NoSuchKey",))
    if response is None:
        return None
    temporary = None
    try:
        _make_directories(root, directory, *owner)
        # a symbolic link to a directory inside the target would take the write elsewhere
        real_root = os.path.realpath(root)
        if os.path.commonpath([os.path.realpath(directory), real_root]) != real_root:
            raise MinioError(f"write {path}: its directory leads out of {root} through a symbolic link")
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".s3sync-", suffix=".part")
        digest, md5, size = hashlib.sha256(), _md5(), 0
        with os.fdopen(handle, "wb") as out:
            for chunk in iter(lambda: response.read(CHUNK, decode_content=False), b""):
                out.write(chunk)
                digest.update(chunk)
                md5.update(chunk)
                size += len(chunk)
            out.flush()
            os.fchmod(out.fileno(), mode)
            if owner != (-1, -1):
                os.fchown(out.fileno(), *owner)
            os.fsync(out.fileno())
        length = response.headers.get("Content-Length")
        source_md5 = plain_etag(response.headers.get("ETag"))
        if length is not None and int(length) != size:
            raise MinioError(f"read {key!r} in {bucket} on {source.endpoint}: {size} bytes read, "
                             f"{length} announced")
        if check_etag and source_md5 and len(source_md5) == 32 and md5.hexdigest() != source_md5:
            raise MinioError(f"read {key!r} in {bucket} on {source.endpoint}: the bytes read do not have the MD5 "
                             "of the source's ETag (if this server's ETags are not MD5s, use verify: full)")
        os.replace(temporary, path)
        temporary = None
        _fsync_directory(directory)
    except OSError as exc:
        raise MinioError(f"write {path}: {exc.strerror or exc}") from None
    finally:
        response.close()
        response.release_conn()
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return {"size": size, "sha256": digest.hexdigest()}


def delete_keys(conn, bucket, keys):
    """Delete keys (1000 per request); raises with the first error the server reports."""
    def delete():
        errors = list(conn.s3.remove_objects(bucket, (DeleteObject(key) for key in keys)))
        if errors:
            raise MinioError(f"delete {errors[0].name!r} in {bucket} on {conn.endpoint}: {errors[0].code}: "
                             f"{errors[0].message} ({len(errors)} objects not deleted)")
    conn.call(f"delete {len(keys)} objects in {bucket}", delete)
