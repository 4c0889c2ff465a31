"""Over-long request lines and oversized headers answer problem+json, whoever refuses them.

The application refuses a request target over ``max_url_bytes`` (414 ``uri_too_long``) and
more than ``max_header_count`` header fields or ``max_header_bytes`` of them (431
``headers_too_large``); gunicorn, set by ``market/gunicorn_conf.py``, lets that much through
and answers what it still refuses itself (past its hard limits, or unparseable) as
problem+json as well. Checked through the test client and against a real gunicorn on
loopback, with raw bytes over a socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from market.kernel import migrate
from market.kernel.db import make_engine
from market.kernel.web import PROBLEM_JSON
from tests.conftest import TEST_SECRET, TEST_SIGNING_KEY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


# -- the application's own limits (any server) ------------------------------------------


def test_app_refuses_an_over_long_request_target(client):
    response = client.get("/api/v1/catalog", query_string={"q": "数" * 2000})
    assert response.status_code == 414
    assert response.mimetype == PROBLEM_JSON
    assert response.get_json()["code"] == "uri_too_long"


def test_app_refuses_too_many_header_fields(client):
    headers = {f"X-Filler-{n}": "x" for n in range(120)}
    response = client.get("/healthz", headers=headers)
    assert response.status_code == 431
    assert response.mimetype == PROBLEM_JSON
    assert response.get_json()["code"] == "headers_too_large"


def test_app_refuses_too_many_header_bytes(client):
    response = client.get("/healthz", headers={"X-One": "a" * 9000, "X-Two": "b" * 9000})
    assert response.status_code == 431
    assert response.get_json()["code"] == "headers_too_large"


def test_app_answers_requests_within_its_limits(client):
    response = client.get("/healthz", query_string={"pad": "a" * 3000},
                          headers={f"X-Filler-{n}": "x" * 100 for n in range(50)})
    assert response.status_code == 200


# -- a real gunicorn on loopback --------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a new connection; the answer's status, headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # the server may answer and close before reading everything
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def _request(target: str = "/healthz", headers: list[tuple[str, str]] = ()) -> bytes:  # type: ignore[assignment]
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _problem(answer: tuple[int, dict[str, str], bytes]) -> dict[str, Any]:
    _, headers, body = answer
    assert headers["content-type"].split(";")[0] == PROBLEM_JSON
    problem: dict[str, Any] = json.loads(body)
    return problem


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``gunicorn -c python:market.gunicorn_conf wsgi:app`` on a free loopback port, on a
    migrated SQLite file in a temporary folder."""
    folder = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{folder / 'market.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "MARKET_DATABASE_URL": url, "MARKET_INSTANCE_PATH": str(folder),
           "MARKET_SECRET_KEY": TEST_SECRET, "MARKET_SIGNING_KEY": TEST_SIGNING_KEY,
           "MARKET_LOG_LEVEL": "WARNING", "MARKET_BIND": f"127.0.0.1:{port}",
           "MARKET_WORKERS": "1"}
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "python:market.gunicorn_conf", "--log-level", "error",
         "wsgi:app"], env=env, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _exchange(port, _request())[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def test_served_over_long_request_line_is_refused_by_the_app(gunicorn):
    answer = _exchange(gunicorn, _request("/api/v1/catalog?q=" + "a" * 5000))
    assert answer[0] == 414
    problem = _problem(answer)
    assert problem["code"] == "uri_too_long"
    assert problem["request_id"]  # the application answered, not the server


def test_served_request_line_past_the_servers_maximum_is_problem_json(gunicorn):
    answer = _exchange(gunicorn, _request("/api/v1/catalog?q=" + "a" * 9000))
    assert answer[0] == 414
    assert _problem(answer)["code"] == "uri_too_long"


def test_served_too_many_headers_are_refused_by_the_app(gunicorn):
    answer = _exchange(gunicorn, _request(headers=[(f"X-F{n}", "x") for n in range(150)]))
    assert answer[0] == 431
    problem = _problem(answer)
    assert problem["code"] == "headers_too_large"
    assert problem["request_id"]


def test_served_headers_past_the_servers_limits_are_problem_json(gunicorn):
    many = _exchange(gunicorn, _request(headers=[(f"X-F{n}", "x") for n in range(400)]))
    huge = _exchange(gunicorn, _request(headers=[("X-Huge", "h" * 20_000)]))
    for answer in (many, huge):
        assert answer[0] == 431
        assert _problem(answer)["code"] == "headers_too_large"


def test_served_unparseable_request_is_problem_json(gunicorn):
    answer = _exchange(gunicorn, b"NOT A REQUEST LINE\r\n\r\n")
    assert answer[0] == 400
    assert _problem(answer)["code"] == "malformed_request"


def test_served_request_within_limits_is_answered(gunicorn):
    answer = _exchange(gunicorn, _request("/healthz?pad=" + "a" * 3000,
                                          [(f"X-F{n}", "x" * 50) for n in range(60)]))
    assert answer[0] == 200
