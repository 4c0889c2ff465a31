"""Stored files over HTTP: the application's file store, and a stored file as a download
with conditional and Range requests (206, 416, ETag) whichever store keeps it."""

from __future__ import annotations

from typing import cast

from flask import Response, current_app, request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wsgi import FileWrapper

from market.kernel.storage import CHUNK, FileStore


def stored_files(kind: str) -> FileStore:
    """The store of one kind of file (``deliveries``, ``samples``, ``evidence``) in the
    application's store (``create_app`` builds it once)."""
    return cast(FileStore, current_app.extensions["market.files"]).under(kind)


def send_stored(store: FileStore, key: str, *, media_type: str, name: str, etag: str,
                conditional: bool = True) -> Response:
    """The file at ``key`` as an attachment with ``etag``; ``conditional`` answers ``Range``
    (206, 416) and ``If-None-Match`` / ``If-Range`` against it.

    Raises:
        FileNotFoundError: nothing is stored at ``key``.
    """
    path = store.local_path(key)
    if path is not None:
        return send_file(path, mimetype=media_type, as_attachment=True, download_name=name,
                         conditional=conditional, etag=etag)
    opened = store.open(key)
    response = send_file(opened.stream, mimetype=media_type, as_attachment=True,
                         download_name=name, conditional=False, etag=etag)
    # werkzeug's own wrapper is seekable, so a range starts reading at its first byte
    # (a server's wsgi.file_wrapper would read its way there from the start).
    response.response = FileWrapper(opened.stream, CHUNK)
    response.content_length = opened.size
    if not conditional:
        return response
    try:
        response.make_conditional(request, accept_ranges=True, complete_length=opened.size)
    except RequestedRangeNotSatisfiable:
        opened.stream.close()
        raise
    if response.status_code == 206 and response.content_range is not None:
        opened.until(response.content_range.stop or opened.size)
    return response
