"""Limits on the request line and headers, answered as problem+json.

The application refuses a request target longer than ``Settings.max_url_bytes`` with 414
``uri_too_long``, and more than ``max_header_count`` header fields or ``max_header_bytes``
of them with 431 ``headers_too_large``, before any view, authentication or database work.
The server in front (``market/gunicorn_conf.py``) is set to let somewhat more than that
through, so the application is the one that answers; what the server itself refuses beyond
its own limits (and any request it cannot parse) is answered as problem+json too by
:func:`answer_server_errors_as_problems`, instead of gunicorn's HTML page.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import quote

from flask import Flask, request

from market.kernel.errors import MarketError

# Headers WSGI does not prefix with HTTP_.
_UNPREFIXED = ("CONTENT_TYPE", "CONTENT_LENGTH")


class UriTooLong(MarketError):
    """The request target (path and query) is longer than the server accepts."""

    status = 414
    code = "uri_too_long"
    title = "Request URI too long"
    detail_template = "The request target is longer than %(limit)s bytes."


class HeadersTooLarge(MarketError):
    """The request has too many header fields, or too many bytes of them."""

    status = 431
    code = "headers_too_large"
    title = "Request header fields too large"
    detail_template = "At most %(count)s header fields and %(size)s bytes of them are accepted."


def request_target_bytes(environ: dict[str, Any]) -> int:
    """Length of the request target as the client sent it (servers that keep the raw target
    include the query in it; others leave it out, so the query is counted from its own key)."""
    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/;=,")
    query = environ.get("QUERY_STRING", "")
    rebuilt = len(path) + (len(query) + 1 if query else 0)
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    return max(rebuilt, len(str(raw).encode("latin-1", "replace")))


def header_fields(environ: dict[str, Any]) -> tuple[int, int]:
    """(number of header fields, bytes of ``name: value`` lines) of the request."""
    count = size = 0
    for key, value in environ.items():
        if key.startswith("HTTP_") or key in _UNPREFIXED:
            count += 1
            name = key[5:] if key.startswith("HTTP_") else key
            size += len(name) + 2 + len(str(value).encode("latin-1", "replace")) + 2
    return count, size


def register_request_limits(app: Flask, *, max_url_bytes: int, max_header_count: int,
                            max_header_bytes: int) -> None:
    """Refuse over-long request targets and oversized headers before the view runs."""

    def check_limits() -> None:
        environ = request.environ
        if request_target_bytes(environ) > max_url_bytes:
            raise UriTooLong(limit=max_url_bytes)
        count, size = header_fields(environ)
        if count > max_header_count or size > max_header_bytes:
            raise HeadersTooLarge(count=max_header_count, size=max_header_bytes)

    app.before_request(check_limits)


# -- what the server refuses before the application sees the request ------------------------

_SERVER_PROBLEMS = {
    400: ("malformed_request", "Malformed request"),
    403: ("forbidden", "Forbidden"),
    414: (UriTooLong.code, UriTooLong.title),
    417: ("http_417", "Expectation Failed"),
    431: (HeadersTooLarge.code, HeadersTooLarge.title),
    500: ("internal_error", "Internal error"),
    501: ("http_501", "Not Implemented"),
}


def server_problem(status: int, reason: str) -> bytes:
    """A complete HTTP/1.1 problem+json answer for an error found while parsing a request."""
    code, title = _SERVER_PROBLEMS.get(status, (f"http_{status}", reason))
    body = json.dumps({"type": f"urn:market:problem:{code}", "title": title,
                       "status": status, "code": code}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n")
    return head.encode("latin-1") + body


def answer_server_errors_as_problems() -> None:
    """Make gunicorn answer the requests it refuses itself (unparseable, beyond its limits)
    with problem+json rather than its HTML page. Called from a gunicorn server hook."""
    from gunicorn import util  # type: ignore[import-untyped]

    def write_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
        util.write_nonblock(sock, server_problem(status_int, reason))

    util.write_error = write_error
