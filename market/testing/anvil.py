"""A local EVM node for the tests and the benchmarks: the npm ``@foundry-rs/anvil`` binary
(``npm install --prefix contracts``) on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ANVIL = Path(__file__).resolve().parents[2] / "contracts" / "node_modules" / ".bin" / "anvil"
CHAIN_ID = 31337


@contextmanager
def anvil_node(binary: Path = ANVIL, *, chain_id: int = CHAIN_ID) -> Iterator[str]:
    """anvil on a free loopback port until the block ends; yields its URL once it answers.

    Raises:
        RuntimeError: it did not answer within 30 seconds.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([str(binary), "--port", str(port), "--chain-id", str(chain_id),  # noqa: S603
                                "--silent"], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            request = urllib.request.Request(url, data=b'{"jsonrpc":"2.0","id":1,'
                                             b'"method":"eth_chainId","params":[]}',
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=1):  # noqa: S310 (loopback)
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"anvil did not start on {url}") from None
                time.sleep(0.1)
        yield url
    finally:  # the npm wrapper runs the binary as its child: end the group started here
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
