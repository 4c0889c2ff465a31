"""Transports that fail as networks do, around the transport that reaches the app: an
answer lost after the app produced it, a stream cut after some bytes, a refused connection,
and an answer a busy server might give before the app is reached."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx

Match = Callable[[httpx.Request], bool]


def on(method: str, path: str) -> Match:
    return lambda r: r.method == method and r.url.path.startswith(path)


@dataclass
class LoseAnswer(httpx.BaseTransport):
    """The request reaches the app and takes effect; the first ``times`` answers to matching
    requests are lost on the way back (a connection reset)."""

    inner: httpx.BaseTransport
    match: Match
    times: int = 1
    lost: list[httpx.Request] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.match(request) and len(self.lost) < self.times:
            response.read()
            response.close()
            self.lost.append(request)
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


class _Cut(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, after: int, request: httpx.Request) -> None:
        self.inner, self.after, self.request = inner, after, request

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for chunk in self.inner:
            if sent + len(chunk) >= self.after:
                yield chunk[: self.after - sent]
                raise httpx.ReadError("connection dropped mid-stream", request=self.request)
            sent += len(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


@dataclass
class CutStream(httpx.BaseTransport):
    """The first ``times`` matching answers stop after ``after`` bytes of their body."""

    inner: httpx.BaseTransport
    match: Match
    after: int
    times: int = 1
    cut: int = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not self.match(request) or self.cut >= self.times or response.status_code >= 300:
            return response
        self.cut += 1
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=_Cut(response.stream, self.after, request),
                              request=request)


@dataclass
class BusyFirst(httpx.BaseTransport):
    """Before the app is reached, the first ``times`` matching requests get the problem a
    busy exchange answers (``status``, ``code``, ``Retry-After``); then requests go through.
    The app writes nothing for those, as the real answers promise."""

    inner: httpx.BaseTransport
    match: Match
    status: int
    code: str
    retry_after: str | None = "1"
    times: int = 1
    answered: list[httpx.Request] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.match(request) and len(self.answered) < self.times:
            self.answered.append(request)
            headers = {"Content-Type": "application/problem+json",
                       "X-Request-Id": f"req_busy{len(self.answered)}"}
            if self.retry_after is not None:
                headers["Retry-After"] = self.retry_after
            body = {"type": f"urn:market:problem:{self.code}", "title": "Busy",
                    "status": self.status, "code": self.code}
            return httpx.Response(self.status, headers=headers, content=json.dumps(body),
                                  request=request)
        return self.inner.handle_request(request)


@dataclass
class Refuse(httpx.BaseTransport):
    """Every connection is refused (nothing is listening)."""

    attempts: int = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        raise httpx.ConnectError("connection refused", request=request)
