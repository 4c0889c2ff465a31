"""Where delivered files, samples and evidence are kept: content-addressed objects in a
local folder (the embedded default) or in an S3-compatible object store that several
application machines share.

A store maps keys (``deliveries/<sha256>``, ``samples/<ab>/<sha256>``, ``evidence/...``)
to bytes. ``under(name)`` gives the store of one kind of file, its keys relative to
``name``. Content is written once and never changed: :meth:`FileStore.put` hashes a stream
while writing it to a staging place, in bounded memory, and only then gives it the key its
SHA-256 names; a key that is already there is kept as it is.

:class:`LocalStorage` keeps the files under the instance folder exactly as before (a
temporary file renamed into place). :class:`S3Storage` uploads in parts of
``part_size`` (multipart for anything larger, so a 2 GiB delivery never sits in memory),
then copies the staged object to its key on the server and deletes the staged one; reads
are ranged GETs.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, cast

from market.kernel.errors import ConfigurationError

if TYPE_CHECKING:
    from market.kernel.config import Settings

CHUNK = 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part but the last
STAGING = ".staging"


@dataclass(frozen=True)
class Stored:
    """What was put: the content's SHA-256, its size in bytes and the key it is kept at."""

    sha256: str
    size: int
    key: str


def _read_anywhere(end: int) -> None:
    """A local file needs no notice of where a read will stop."""


@dataclass(frozen=True)
class Opened:
    """A stored file opened for reading: a seekable stream, its length, and ``until(end)``
    telling the stream that no byte from ``end`` on will be read (a ranged response), so a
    remote read asks for no more."""

    stream: IO[bytes]
    size: int
    until: Callable[[int], None] = _read_anywhere


class FileStore(Protocol):
    """Content-addressed file storage (see the module's docstring)."""

    def under(self, name: str) -> FileStore:
        """The store of keys beginning ``name/``, with keys relative to it."""
        ...

    def put(self, stream: IO[bytes], key_of: Callable[[str], str], *,
            before_placing: Callable[[str], None] | None = None) -> Stored:
        """Write ``stream`` while hashing it, then keep it at ``key_of(sha256)`` unless
        something is there already. ``before_placing(sha256)`` runs between the two
        (to take a lock a deletion of the same content also takes)."""
        ...

    def exists(self, key: str) -> bool: ...

    def open(self, key: str) -> Opened:
        """The file for reading, from any offset.

        Raises:
            FileNotFoundError: nothing is stored at ``key``.
        """
        ...

    def local_path(self, key: str) -> Path | None:
        """The file's path when it is a file on this machine (served as such), else None."""
        ...

    def delete(self, key: str) -> bool:
        """Delete the file; whether it was there."""
        ...

    def close(self) -> None:
        """Let go of connections (a store made for one command)."""
        ...


def file_store(where: FileStore | Path) -> FileStore:
    """A store as given, or a folder's :class:`LocalStorage`."""
    return LocalStorage(where) if isinstance(where, Path) else where


def sharded(sha256: str) -> str:
    """The key layout of samples and evidence: ``<first two hex digits>/<sha256>``."""
    return f"{sha256[:2]}/{sha256}"


def flat(sha256: str) -> str:
    """The key layout of delivered files: ``<sha256>``."""
    return sha256


class LocalStorage:
    """Files under a folder of this machine (the embedded default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def under(self, name: str) -> LocalStorage:
        return LocalStorage(self.root / name)

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / key

    def put(self, stream: IO[bytes], key_of: Callable[[str], str], *,
            before_placing: Callable[[str], None] | None = None) -> Stored:
        self.root.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".part-", delete=False) as out:
            try:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            except BaseException:
                out.close()
                Path(out.name).unlink(missing_ok=True)
                raise
        sha = digest.hexdigest()
        key = key_of(sha)
        try:
            if before_placing is not None:
                before_placing(sha)
            target = self._path(key)
            if target.exists():
                Path(out.name).unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(out.name, target)
        except BaseException:
            Path(out.name).unlink(missing_ok=True)
            raise
        return Stored(sha, size, key)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def open(self, key: str) -> Opened:
        stream = self._path(key).open("rb")
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        return Opened(stream, size)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def close(self) -> None:
        pass

    def delete(self, key: str) -> bool:
        path = self._path(key)
        present = path.exists()
        path.unlink(missing_ok=True)
        return present


@dataclass(frozen=True)
class S3Config:
    """Where an S3-compatible store is and how to reach it; empty credentials leave them to
    boto3 (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, a profile, an instance role)."""

    bucket: str
    endpoint_url: str = ""
    region: str = ""
    prefix: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    part_size: int = 8 * 1024 * 1024

    def client(self) -> Any:
        import boto3  # imported when S3 storage is chosen: the local default never needs it
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url or None, region_name=self.region or None,
            aws_access_key_id=self.access_key_id or None,
            aws_secret_access_key=self.secret_access_key or None,
            config=Config(s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                          retries={"max_attempts": 5, "mode": "standard"},
                          connect_timeout=5, read_timeout=60))


class S3Storage:
    """Files as objects of one bucket (keys beginning ``prefix``), shared by every machine
    that names the same bucket."""

    def __init__(self, config: S3Config, *, client: Any = None, prefix: str | None = None
                 ) -> None:
        if config.part_size < MIN_PART_SIZE:
            raise ConfigurationError(
                f"the S3 part size must be at least {MIN_PART_SIZE} bytes (5 MiB)")
        self.config = config
        self.client = client if client is not None else config.client()
        self.bucket = config.bucket
        if prefix is None:
            root = config.prefix.strip("/")
            prefix = root + "/" if root else ""
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"S3Storage({self.bucket!r}, prefix={self.prefix!r})"

    def under(self, name: str) -> S3Storage:
        return S3Storage(self.config, client=self.client, prefix=f"{self.prefix}{name}/")

    def close(self) -> None:
        self.client.close()

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"not a storage key: {key!r}")
        return self.prefix + key

    def put(self, stream: IO[bytes], key_of: Callable[[str], str], *,
            before_placing: Callable[[str], None] | None = None) -> Stored:
        staged = f"{self.prefix}{STAGING}/{uuid.uuid4().hex}"
        digest, size = self._upload(stream, staged)
        try:
            sha = digest.hexdigest()
            key = key_of(sha)
            if before_placing is not None:
                before_placing(sha)
            if not self.exists(key):
                self.client.copy_object(Bucket=self.bucket, Key=self._key(key),
                                        CopySource={"Bucket": self.bucket, "Key": staged})
        finally:
            self.client.delete_object(Bucket=self.bucket, Key=staged)
        return Stored(sha, size, key)

    def _upload(self, stream: IO[bytes], staged: str) -> tuple[Any, int]:
        """Upload to ``staged`` one part at a time (one PUT when it fits in one part)."""
        digest, size = hashlib.sha256(), 0
        part = _read_part(stream, self.config.part_size)
        digest.update(part)
        size += len(part)
        if len(part) < self.config.part_size:
            self.client.put_object(Bucket=self.bucket, Key=staged, Body=part)
            return digest, size
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=staged)
        upload_id, parts = upload["UploadId"], list[dict[str, Any]]()
        try:
            while part:
                number = len(parts) + 1
                sent = self.client.upload_part(Bucket=self.bucket, Key=staged,
                                               UploadId=upload_id, PartNumber=number, Body=part)
                parts.append({"PartNumber": number, "ETag": sent["ETag"]})
                part = _read_part(stream, self.config.part_size)
                digest.update(part)
                size += len(part)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=staged, UploadId=upload_id,
                MultipartUpload={"Parts": parts})
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=staged,
                                               UploadId=upload_id)
            raise
        return digest, size

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket,
                                                           Key=self._key(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return head

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def open(self, key: str) -> Opened:
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(f"s3://{self.bucket}/{self._key(key)}")
        size = int(head["ContentLength"])
        reader = _RangedObject(self, self._key(key), size)
        return Opened(cast(IO[bytes], reader), size, reader.until)

    def local_path(self, key: str) -> Path | None:
        return None

    def delete(self, key: str) -> bool:
        present = self.exists(key)
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        return present


def _read_part(stream: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes: short only at the end of the stream."""
    buffer = bytearray()
    while len(buffer) < size and (chunk := stream.read(min(CHUNK, size - len(buffer)))):
        buffer += chunk
    return bytes(buffer)


class _RangedObject(io.RawIOBase):
    """A stored object read from any offset: a seek ends the current GET, the next read
    starts one for ``bytes=<offset>-<end>`` (``end`` narrowed by :meth:`until`)."""

    def __init__(self, store: S3Storage, key: str, size: int) -> None:
        self._store, self._key, self._size = store, key, size
        self._position, self._end = 0, size
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def until(self, end: int) -> None:
        """Read no further than byte ``end`` (exclusive): the range a response sends."""
        self._drop()
        self._end = max(0, min(end, self._size))

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        position = max(0, base + offset)
        if position != self._position:
            self._drop()
            self._position = position
        return position

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._end:
            return 0
        if self._body is None:
            found = self._store.client.get_object(
                Bucket=self._store.bucket, Key=self._key,
                Range=f"bytes={self._position}-{self._end - 1}")
            self._body = found["Body"]
        data = self._body.read(min(len(buffer), self._end - self._position))
        if not data:
            raise OSError(f"the object {self._key} ended at byte {self._position}, "
                          f"before {self._end}")
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)

    def _drop(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop()
        super().close()


def open_file_store(settings: Settings) -> FileStore:
    """The store the settings choose: the instance folder, or the S3 bucket.

    Raises:
        ConfigurationError: ``MARKET_STORAGE`` names no known store.
    """
    if settings.storage == "local":
        return LocalStorage(settings.instance_path)
    if settings.storage == "s3":
        return S3Storage(S3Config(
            bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region, prefix=settings.s3_prefix,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            part_size=settings.s3_part_size))
    raise ConfigurationError(f"unknown storage {settings.storage!r}: local or s3")
