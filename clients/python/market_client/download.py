"""Downloads to a file: streamed, resumed with ``Range`` from the byte reached, and checked
against the SHA-256 the exchange declares (``X-Content-SHA256``, also the ``ETag``) before
the file takes its name. An unfinished download is kept as ``DEST.part`` beside
``DEST.part.json`` (the link, its ETag and declared SHA-256), so a later call resumes it
through the same link: the exchange counts a download when its first byte is sent, and
serves later ranges only of a download that started."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from market_client.errors import (
    ChecksumMismatch,
    ConnectionFailed,
    DownloadError,
    MarketError,
)

if TYPE_CHECKING:
    from market_client._http import Http

CHUNK = 64 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass(frozen=True)
class Downloaded:
    """A finished download: where it is, its size and SHA-256, the byte the first request
    of this call started from (non-zero when a partial file was resumed) and how many
    requests it took."""

    path: Path
    size: int
    sha256: str
    media_type: str | None
    resumed_from: int
    requests: int


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def state_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


def saved_link(dest: str | os.PathLike[str]) -> str | None:
    """The link an unfinished download of ``dest`` was made through, if one is kept."""
    return _state(Path(dest)).get("url")


def _state(dest: Path) -> dict[str, str]:
    try:
        found = json.loads(state_path(dest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict) or not part_path(dest).exists():
        return {}
    return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}


def _keep_state(dest: Path, **state: str | None) -> None:
    kept = {name: value for name, value in state.items() if value is not None}
    state_path(dest).write_text(json.dumps(kept), encoding="utf-8")


def _forget(dest: Path) -> None:
    part_path(dest).unlink(missing_ok=True)
    state_path(dest).unlink(missing_ok=True)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _header(response: httpx.Response, name: str) -> str | None:
    value = response.headers.get(name)
    return str(value) if value is not None else None


def _etag(response: httpx.Response) -> str | None:
    return _header(response, "etag")


def _declared_sha256(response: httpx.Response) -> str | None:
    declared = _header(response, "x-content-sha256")
    if declared:
        return declared.strip().lower()
    etag = (response.headers.get("etag") or "").removeprefix("W/").strip('"')
    return etag.lower() if re.fullmatch(r"[0-9a-fA-F]{64}", etag) else None


def _total(response: httpx.Response) -> int | None:
    if response.status_code == 206:
        found = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        return int(found.group(3)) if found and found.group(3) != "*" else None
    length = response.headers.get("content-length")
    return int(length) if length and length.isdigit() else None


Progress = Callable[[int, int | None], None]


def download(http: Http, url: str, dest: str | os.PathLike[str], *,
             expected_sha256: str | None = None, progress: Progress | None = None,
             ) -> Downloaded:
    """Download ``url`` (a path under the API, e.g. a download link's ``url``) to ``dest``.

    A ``DEST.part`` left by an earlier attempt is continued from its last byte; a connection
    that drops mid-stream is reopened from the byte reached (``Range: bytes=N-`` with
    ``If-Range`` on the ETag, so a changed file is sent whole instead), up to the client's
    retries. At the end the whole file's SHA-256 must equal the one the exchange declares
    (and ``expected_sha256`` when given, e.g. the delivery's fingerprint); otherwise the
    partial file is removed and :class:`ChecksumMismatch` raised. ``progress(bytes, total)``
    is told how far it got as the bytes arrive (total None when the exchange does not say).

    Raises:
        ChecksumMismatch: the bytes do not hash to the declared SHA-256.
        ConnectionFailed: the connection dropped more often than the retries allow.
        DownloadError: the exchange answered something that is not the file.
        MarketError: the link was refused (expired, used up: 403 ``download_not_allowed``).
    """
    target = Path(dest)
    partial = part_path(target)
    state = _state(target)
    offset = partial.stat().st_size if partial.exists() else 0
    started_from: int | None = None
    etag = state.get("etag") if state.get("url") == url else None
    declared = state.get("sha256") if state.get("url") == url else None
    media_type: str | None = None
    total: int | None = None
    requests = 0
    drops = 0
    while True:
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if etag:
                headers["If-Range"] = etag
        requests += 1
        try:
            with http.stream("GET", url, headers=headers) as response:
                if response.status_code == 206:
                    found = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
                    if not found or int(found.group(1)) != offset:
                        raise DownloadError(f"{url}: asked for bytes from {offset}, got "
                                            f"{response.headers.get('content-range')!r}")
                elif response.status_code == 200:
                    offset = 0  # the whole file: what was kept is replaced
                else:
                    raise DownloadError(f"{url}: unexpected answer {response.status_code}")
                if etag is not None and _etag(response) not in (None, etag):
                    raise DownloadError(f"{url}: the file changed during the download")
                etag = _etag(response) or etag
                declared = _declared_sha256(response) or declared
                media_type = response.headers.get("content-type") or media_type
                total = _total(response) or total
                started_from = offset if started_from is None else started_from
                _keep_state(target, url=url, etag=etag, sha256=declared)
                with partial.open("r+b" if offset else "wb") as handle:
                    handle.seek(offset)
                    handle.truncate()
                    for block in response.iter_raw():
                        handle.write(block)
                        offset += len(block)
                        if progress is not None:
                            progress(offset, total)
        except (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError) as exc:
            drops += 1
            if drops > http.retries:
                raise ConnectionFailed(f"{url}: dropped at byte {offset}: {exc!r}") from exc
            http.sleep(http.delay(drops - 1, None))
            continue
        except MarketError as exc:
            if exc.status == 403 and offset and started_from is None and etag is None:
                # A partial file from another link: this one serves no range before its
                # first byte was sent, so the download starts over.
                _forget(target)
                offset = 0
                continue
            if exc.status != 416 or not offset:
                raise
            # The partial file reaches (or passes) the end: ask what the file is, unused.
            head = http.send("HEAD", url, headers={"Accept-Encoding": "identity"})
            declared, etag = _declared_sha256(head) or declared, _etag(head) or etag
            media_type = head.headers.get("content-type") or media_type
            total = _total(head)
            started_from = offset if started_from is None else started_from
            if total != offset:
                _forget(target)
                offset = 0
                continue
        if total is not None and offset < total:
            drops += 1  # the stream ended early without an error: go on from where it stopped
            if drops > http.retries:
                raise ConnectionFailed(f"{url}: ended at byte {offset} of {total}")
            continue
        break
    actual = _hash_file(partial)
    for wanted in (declared, expected_sha256.lower() if expected_sha256 else None):
        if wanted is not None and wanted != actual:
            _forget(target)
            raise ChecksumMismatch(str(target), wanted, actual)
    if declared is None and expected_sha256 is None:
        raise DownloadError(f"{url}: the exchange declared no SHA-256 to check the file by")
    os.replace(partial, target)
    state_path(target).unlink(missing_ok=True)
    return Downloaded(target, offset, actual, media_type, started_from or 0, requests)


@dataclass(frozen=True)
class Saved:
    """A streamed answer written to a file: where, how many bytes, its media type."""

    path: Path
    size: int
    media_type: str | None


def save(http: Http, path: str, dest: str | os.PathLike[str], *,
         params: dict[str, object] | None = None, progress: Progress | None = None) -> Saved:
    """Stream a GET answer (an export) into ``dest`` in flat memory; the file takes its name
    only once the answer is complete. An answer that drops mid-stream is asked for again
    from the start (exports have no ranges), up to the client's retries.
    ``progress(bytes, None)`` is told how far it got (an export's size is not known ahead).

    Raises:
        ConnectionFailed: it dropped more often than the retries allow.
        MarketError: the exchange refused the request.
    """
    target = Path(dest)
    partial = part_path(target)
    drops = 0
    while True:
        size = 0
        try:
            with http.stream("GET", path, params=params,
                             headers={"Accept": "*/*"}) as response, partial.open("wb") as out:
                media_type = response.headers.get("content-type")
                for block in response.iter_bytes(CHUNK):
                    out.write(block)
                    size += len(block)
                    if progress is not None:
                        progress(size, None)
        except (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError) as exc:
            drops += 1
            if drops > http.retries:
                partial.unlink(missing_ok=True)
                raise ConnectionFailed(f"{path}: dropped after {size} bytes: {exc!r}") from exc
            http.sleep(http.delay(drops - 1, None))
            continue
        os.replace(partial, target)
        return Saved(target, size, media_type)
