"""Downloads of a delivered file from the real application: a partial file left by an
earlier attempt is resumed from its last byte, a stream cut mid-way is reopened from the
byte reached (Range + If-Range on the ETag), the result's SHA-256 is checked against what
the exchange declares, and a corrupted partial file is caught; the regulator's export is
streamed to a file and asked for again when cut."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from market_client import ChecksumMismatch, ConnectionFailed

from tests.client.conftest import Exchange
from tests.client.faults import CutStream
from tests.client.world import CONTENT, SHA256, World
from tests.conftest import Party

DOWNLOADS = "/api/v1/downloads/"


@pytest.fixture
def world(exchange: Exchange, make_party: Callable[..., Party]) -> World:
    return World(exchange, make_party)


@pytest.fixture
def delivered(world: World) -> str:
    return world.delivered_order(world.listed_product())


def _interrupted(world: World, order_id: str, target: Path, after: int) -> int:
    """A download of the order cut after ``after`` bytes by a client that does not retry:
    it leaves ``DEST.part`` (and the link it was made through) behind."""
    exchange = world.exchange
    cut = CutStream(exchange.recorder, lambda r: r.url.path.startswith(DOWNLOADS), after=after)
    with pytest.raises(ConnectionFailed):
        exchange.client(world.parties["buyer"], transport=cut, retries=0).orders.download(
            order_id, target)
    assert not target.exists()
    return len(exchange.recorder.requests("GET", DOWNLOADS))


def test_a_partial_file_is_resumed_from_its_last_byte(
    world: World, delivered: str, tmp_path: Path
) -> None:
    assert len(CONTENT) > 200_000
    target = tmp_path / "客流.csv"
    before = _interrupted(world, delivered, target, after=150_000)
    assert (tmp_path / "客流.csv.part").read_bytes() == CONTENT[:150_000]

    got = world.as_("buyer").orders.download(delivered, target)
    assert (got.resumed_from, got.requests, got.size, got.sha256) == (
        150_000, 1, len(CONTENT), SHA256)
    assert target.read_bytes() == CONTENT
    assert not (tmp_path / "客流.csv.part").exists()
    assert not (tmp_path / "客流.csv.part.json").exists()
    first, resumed = world.exchange.recorder.exchanges("GET", DOWNLOADS)[before - 1:]
    assert resumed[0].url == first[0].url  # through the link the download started with
    assert resumed[0].headers["Range"] == "bytes=150000-"
    assert resumed[0].headers["If-Range"] == first[1].headers["ETag"] == f'"{SHA256}"'
    assert resumed[1].status_code == 206
    tokens = [r for r in world.exchange.recorder.requests("POST", "/api/v1/orders/")
              if r.url.path.endswith("/download-tokens")]
    assert len(tokens) == 1  # no new link was issued to resume


def test_a_stream_cut_mid_way_continues_from_the_byte_reached(
    world: World, delivered: str, tmp_path: Path
) -> None:
    exchange = world.exchange
    cut = CutStream(exchange.recorder, lambda r: r.url.path.startswith(DOWNLOADS),
                    after=70_000, times=2)
    buyer = exchange.client(world.parties["buyer"], transport=cut)
    link = buyer.orders.download_token(delivered)
    got = buyer.download(link["url"], str(tmp_path / "data.csv"), expected_sha256=SHA256)
    assert (got.resumed_from, got.requests, got.sha256) == (0, 3, SHA256)
    assert (tmp_path / "data.csv").read_bytes() == CONTENT
    first, second, third = exchange.recorder.exchanges("GET", DOWNLOADS)
    assert "Range" not in first[0].headers
    assert second[0].headers["Range"] == "bytes=70000-"
    assert third[0].headers["Range"] == "bytes=140000-"
    assert second[0].headers["If-Range"] == first[1].headers["ETag"] == f'"{SHA256}"'
    assert [a.status_code for _, a in (first, second, third)] == [200, 206, 206]
    # The resumed ranges did not use up the link: one whole download was counted.
    assert third[1].headers["X-Downloads-Remaining"] == str(link["max_downloads"] - 1)


def test_a_corrupted_partial_file_is_detected_and_removed(
    world: World, delivered: str, tmp_path: Path
) -> None:
    target, partial = tmp_path / "data.csv", tmp_path / "data.csv.part"
    _interrupted(world, delivered, target, after=100_000)
    partial.write_bytes(b"x" * 100_000)  # same length, other bytes
    buyer = world.as_("buyer")
    with pytest.raises(ChecksumMismatch) as raised:
        buyer.orders.download(delivered, target)
    assert raised.value.expected == SHA256
    assert raised.value.actual != SHA256
    assert not partial.exists()
    assert not target.exists()
    got = buyer.orders.download(delivered, target)  # the next attempt starts afresh
    assert (got.resumed_from, got.sha256) == (0, SHA256)
    assert target.read_bytes() == CONTENT


def test_a_complete_partial_file_is_checked_without_downloading_again(
    world: World, delivered: str, tmp_path: Path
) -> None:
    before = _interrupted(world, delivered, tmp_path / "data.csv", after=10)
    (tmp_path / "data.csv.part").write_bytes(CONTENT)
    got = world.as_("buyer").orders.download(delivered, tmp_path / "data.csv")
    assert (got.resumed_from, got.sha256) == (len(CONTENT), SHA256)
    statuses = [(r.method, a.status_code)
                for r, a in world.exchange.recorder.exchanges(path=DOWNLOADS)]
    assert statuses[before:] == [("GET", 416), ("HEAD", 200)]


def test_a_partial_file_of_another_link_starts_over(
    world: World, delivered: str, tmp_path: Path
) -> None:
    (tmp_path / "data.csv.part").write_bytes(CONTENT[:5000])  # no link kept beside it
    got = world.as_("buyer").orders.download(delivered, tmp_path / "data.csv")
    assert (got.resumed_from, got.requests, got.sha256) == (0, 2, SHA256)
    refused, whole = world.exchange.recorder.exchanges("GET", DOWNLOADS)
    assert (refused[1].status_code, whole[1].status_code) == (403, 200)


def test_the_regulator_exports_filings_to_a_file_even_when_cut(
    world: World, tmp_path: Path
) -> None:
    listed = world.listed_product()
    orders = [world.delivered_order(listed, buyer=f"buyer{n}", content=b"a,b\n1,2\n")
              for n in range(3)]
    for n, order_id in enumerate(orders):
        world.as_(f"buyer{n}").orders.accept(order_id)
    exchange = world.exchange
    export = "/api/v1/regulator/filings/export"
    cut = CutStream(exchange.recorder, lambda r: r.url.path == export, after=300)
    regulator = exchange.client(world.party("regulator", "regulator"), transport=cut)

    saved = regulator.regulator.export_filings(tmp_path / "filings.csv", sector="transport")
    with (tmp_path / "filings.csv").open(encoding="utf-8", newline="") as exported:
        rows = list(csv.DictReader(exported))
    assert sorted(r["order_id"] for r in rows) == sorted(orders)
    assert saved.size == (tmp_path / "filings.csv").stat().st_size
    assert len(exchange.recorder.requests("GET", export)) == 2  # cut once, asked again
    assert not (tmp_path / "filings.csv.part").exists()

    regulator.regulator.export_filings(tmp_path / "filings.jsonl", format="jsonl")
    lines = (tmp_path / "filings.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["order_id"] for line in lines) == sorted(orders)


class _Terminal:
    """Standard error on a terminal, kept."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_a_resumed_download_reports_its_progress_to_the_end(
    world: World, delivered: str, tmp_path: Path
) -> None:
    from market_client._output import Bar

    target = tmp_path / "data.csv"
    _interrupted(world, delivered, target, after=150_000)
    seen: list[tuple[int, int | None]] = []
    world.as_("buyer").orders.download(delivered, target,
                                       progress=lambda done, total: seen.append((done, total)))
    assert seen[0][0] > 150_000  # counted from the byte the partial file had reached
    assert seen[-1] == (len(CONTENT), len(CONTENT))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)

    terminal, quiet = _Terminal(), _Terminal()
    for stream, is_quiet in ((terminal, False), (quiet, True)):
        bar = Bar("download", stream, quiet=is_quiet)  # type: ignore[arg-type]
        for done, total in seen:
            bar(done, total)
        bar.close()
    assert "100%" in terminal.text
    assert f"{len(CONTENT):,}/{len(CONTENT):,} B" in terminal.text
    assert quiet.text == ""
