"""Outbound webhooks over the real services, the real outbox worker and a real HTTP server
on loopback: endpoints and their secrets, events rendered as the API shows them to each
party, signatures checked with the README's recipe, retries with backoff, the delivery log,
disabling, replays, and the consumers of every outbox topic."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.cli import TOPICS, consumers
from market.kernel.clock import FixedClock
from market.kernel.config import Settings
from market.kernel.outbox import Delivery as OutboxDelivery
from market.kernel.outbox import OutboxMessage, Worker, noop_consumer
from market.settlement import services as settlement
from market.settlement.domain import AccountKind
from market.trading import services as trading
from market.webhooks import services as webhooks
from market.webhooks.domain import address_allowed, next_attempt, signature, url_problem
from market.webhooks.models import Attempt, Delivery, Endpoint, EndpointSecret, Event
from tests.conftest import Party, problem
from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa: F401
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.trading_fixtures import Market, market_fixture  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"


def readme_verify() -> Callable[..., bool]:
    """The verification recipe exactly as README.md shows it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Webhooks"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    assert len(code.group(1).strip().splitlines()) <= 12  # a recipe, not a library
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    return namespace["verify"]  # type: ignore[no-any-return]


class Receiver:
    """A webhook receiver on loopback that records every request and answers as told."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.answer = b"ok"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.requests.append((dict(self.headers.items()), self.rfile.read(length)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings.with_changes(webhooks_allow_private=True, webhooks_disable_after=5,
                                 webhooks_backoff_base_seconds=10.0)


@pytest.fixture
def app(hook_settings: Settings, session_factory: sessionmaker[Session],
        clock: FixedClock) -> Flask:
    return create_app(hook_settings, session_factory=session_factory, clock=clock)


class Pump:
    """The worker's two jobs, run by hand: drain the outbox (making events), then send."""

    def __init__(self, sessions: sessionmaker[Session], clock: FixedClock,
                 settings: Settings) -> None:
        self.sessions, self.clock, self.settings = sessions, clock, settings
        self.policy = webhooks.policy_of(settings)
        self.worker = Worker(sessions, clock, consumers(sessions, settings, clock),
                             worker_id="w")

    def drain(self) -> None:
        while self.worker.drain_once(100).claimed:
            pass

    def send(self) -> webhooks.SendResult:
        return webhooks.deliver_due(self.sessions, self.clock, self.policy, worker_id="w",
                                    rng=random.Random(7))

    def __call__(self) -> webhooks.SendResult:
        self.drain()
        return self.send()

    def rows(self, model: Any, *where: Any) -> list[Any]:
        with self.sessions() as session:
            return list(session.scalars(select(model).where(*where).order_by(model.id)))


@pytest.fixture
def pump(session_factory: sessionmaker[Session], clock: FixedClock,
         hook_settings: Settings) -> Pump:
    return Pump(session_factory, clock, hook_settings)


def register(client: FlaskClient, party: Party, url: str, types: list[str] | None = None,
             ) -> dict[str, Any]:
    response = client.post(f"{API}/webhooks/endpoints", headers=party.headers,
                           json={"url": url, "event_types": types or ["*"]})
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def seller(market: Market, order_id: str) -> Party:
    return market.party_of(market.order(order_id).seller_org_id)


# -- signatures ----------------------------------------------------------------------------


def test_the_readme_recipe_verifies_a_signature_and_refuses_any_tampering() -> None:
    verify = readme_verify()
    body = b'{"id":"evt_1","type":"order.created","created":"2026-12-03T00:00:00Z","data":{}}'
    secret = "whsec_" + "a" * 43
    now = int(time.time())
    header = f"t={now},v1=" + signature(secret, now, body)

    assert verify(body, header, secret)
    assert webhooks.verify(body, header, secret, now=now)
    assert not verify(body.replace(b"evt_1", b"evt_2"), header, secret)  # body changed
    assert not verify(body + b" ", header, secret)
    assert not verify(body, header, secret[:-1] + "b")  # the wrong secret
    assert not verify(body, header.replace(f"t={now}", f"t={now + 1}"), secret)  # stamp moved
    stale = now - 301
    stale_header = f"t={stale},v1=" + signature(secret, stale, body)
    assert not verify(body, stale_header, secret)  # older than five minutes
    assert not verify(body, "v1=" + header.split("v1=")[1], secret)  # no timestamp
    assert not verify(body, f"t={now},t={now},v1=" + header.split("v1=")[1], secret)
    flipped = header[:-1] + ("0" if header[-1] != "0" else "1")
    assert not verify(body, flipped, secret)


def test_a_trade_reaches_both_parties_signed_and_shown_as_each_sees_it(
        market: Market, client: FlaskClient, receiver: Receiver, pump: Pump,
        clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: clock.now().timestamp())  # the recipe's "now"
    chain = market.listed()
    buyer = market.buyer()
    merchant = market.party_of(market.shop.product(chain.product_id).merchant_org_id)
    buyer_hook = register(client, buyer, receiver.url)
    register(client, merchant, receiver.url + "/merchant", ["payment.*", "order.*"])
    pump()  # what came before the endpoints (listing, top-ups) is not sent to them
    receiver.requests.clear()

    order = market.place(chain, buyer)
    pump()
    seen_by = {party.org_id: client.get(f"{API}/orders/{order.id}", headers=party.headers
                                        ).get_json() for party in (buyer, merchant)}
    market.pay(order)
    pump()

    verify = readme_verify()
    by_type: dict[tuple[str, str], dict[str, Any]] = {}
    for headers, body in receiver.requests:
        assert headers["Content-Type"] == "application/json"
        assert verify(body, headers["Market-Signature"], buyer_hook["secret"]) == (
            headers["Market-Event-Id"] in {e.id for e in pump.rows(
                Event, Event.org_id == buyer.org_id)})
        event = json.loads(body)
        assert set(event) == {"id", "type", "created", "data"}
        assert headers["Market-Event-Type"] == event["type"]
        owner = pump.rows(Event, Event.id == event["id"])[0].org_id
        by_type[(owner, event["type"])] = event
    assert (buyer.org_id, "order.created") in by_type
    assert (merchant.org_id, "order.created") in by_type
    assert (buyer.org_id, "payment.succeeded") in by_type
    assert (merchant.org_id, "payment.succeeded") in by_type
    # The merchant chose order.* and payment.* only: the buyer's other events are not its.
    assert {t for o, t in by_type if o == merchant.org_id} <= {
        "order.created", "order.awaiting_payment", "payment.succeeded"}
    for party in (buyer, merchant):  # each got the order exactly as the API showed it then
        assert by_type[(party.org_id, "order.created")]["data"] == seen_by[party.org_id]


def test_a_participant_sees_its_event_feed_and_a_foreign_event_is_not_found(
        market: Market, client: FlaskClient, pump: Pump) -> None:
    order = market.trade()
    buyer = market.party_of(order.buyer_org_id)
    other = market.buyer("other buyer")
    pump.drain()

    feed = client.get(f"{API}/webhooks/events", headers=buyer.headers).get_json()["items"]
    types = [e["type"] for e in feed]
    for expected in ("order.created", "payment.succeeded", "delivery.completed",
                     "acceptance.recorded", "order.settled", "filing.created"):
        assert expected in types
    assert {e["subject_id"] for e in feed if e["subject_type"] == "order"} == {order.id}
    one = feed[0]["id"]
    assert client.get(f"{API}/webhooks/events/{one}", headers=buyer.headers).status_code == 200
    foreign = client.get(f"{API}/webhooks/events/{one}", headers=other.headers)
    assert foreign.status_code == 404
    assert problem(foreign)["code"] == "webhook_event_not_found"
    assert all(e["subject_type"] != "order" for e in client.get(
        f"{API}/webhooks/events", headers=other.headers).get_json()["items"])
    only = client.get(f"{API}/webhooks/events?type=order.settled",
                      headers=buyer.headers).get_json()["items"]
    assert [e["type"] for e in only] == ["order.settled"]


def test_handling_an_outbox_message_twice_makes_no_second_event(
        market: Market, client: FlaskClient, receiver: Receiver, pump: Pump) -> None:
    buyer = market.buyer()
    register(client, buyer, receiver.url)
    order = market.place(market.listed(), buyer)
    pump.drain()
    before = len(pump.rows(Event)), len(pump.rows(Delivery))
    with pump.sessions() as session:
        message = session.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "order.created")).one()
        again = (message.id, message.topic, dict(message.payload))
    consumer = consumers(pump.sessions, pump.settings, pump.clock)["order.created"]
    consumer(OutboxDelivery(again[0], again[1], again[2], 2))

    assert (len(pump.rows(Event)), len(pump.rows(Delivery))) == before
    assert order.id in {e.subject_id for e in pump.rows(Event)}


# -- retries, the log, disabling, replays ------------------------------------------------


def test_a_failing_endpoint_is_retried_with_backoff_logged_and_then_given_up(
        market: Market, client: FlaskClient, receiver: Receiver, pump: Pump,
        clock: FixedClock) -> None:
    buyer = market.buyer()
    hook = register(client, buyer, receiver.url, ["order.created"])
    receiver.status, receiver.answer = 503, b"x" * 5000
    market.place(market.listed(), buyer)
    assert pump().retrying == 1
    [delivery] = pump.rows(Delivery, Delivery.endpoint_id == hook["id"])
    gaps = []
    last = clock.now()
    while delivery.status == "pending" and delivery.attempts < 4:
        assert pump.send().claimed == 0  # not due yet
        clock.advance(delivery.next_attempt_at - clock.now())
        gaps.append(delivery.next_attempt_at - last)
        last = delivery.next_attempt_at
        pump.send()
        [delivery] = pump.rows(Delivery, Delivery.endpoint_id == hook["id"])
    # Exponential from 10 s with jitter in the upper half: 5–10, 10–20, 20–40, 40–80 s.
    for n, gap in enumerate(gaps):
        assert timedelta(seconds=5 * 2 ** n) <= gap <= timedelta(seconds=10 * 2 ** n)

    log = client.get(f"{API}/webhooks/endpoints/{hook['id']}/deliveries",
                     headers=buyer.headers).get_json()["items"]
    attempts = log[0]["attempt_log"]
    assert len(attempts) == delivery.attempts == 4
    assert {a["status_code"] for a in attempts} == {503}
    assert all(len(a["response_excerpt"]) == 1024 and not a["succeeded"] for a in attempts)
    assert all(a["latency_ms"] >= 0 for a in attempts)

    clock.advance(delivery.deadline_at + timedelta(seconds=1) - clock.now())
    pump.send()  # past the window: this attempt is the last
    [delivery] = pump.rows(Delivery, Delivery.endpoint_id == hook["id"])
    assert delivery.status == "failed"
    assert len(receiver.requests) == 5


def test_a_retry_that_succeeds_resets_the_endpoints_failures(
        market: Market, client: FlaskClient, receiver: Receiver, pump: Pump,
        clock: FixedClock) -> None:
    buyer = market.buyer()
    hook = register(client, buyer, receiver.url, ["order.created"])
    receiver.status = 500
    market.place(market.listed(), buyer)
    pump()
    [endpoint] = pump.rows(Endpoint, Endpoint.id == hook["id"])
    assert endpoint.consecutive_failures == 1
    receiver.status = 204
    clock.advance(timedelta(minutes=5))
    assert pump.send().succeeded == 1
    [endpoint] = pump.rows(Endpoint, Endpoint.id == hook["id"])
    assert (endpoint.consecutive_failures, endpoint.failing_since) == (0, None)
    [delivery] = pump.rows(Delivery, Delivery.endpoint_id == hook["id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "succeeded", 2, 204)


def test_an_endpoint_failing_again_and_again_is_disabled_and_its_owner_told(
        market: Market, client: FlaskClient, receiver: Receiver, pump: Pump,
        clock: FixedClock) -> None:
    buyer = market.buyer()
    hook = register(client, buyer, receiver.url, ["order.*"])
    receiver.status = 500
    chain = market.listed()
    for _ in range(5):
        market.place(chain, buyer)
    pump()
    [endpoint] = pump.rows(Endpoint, Endpoint.id == hook["id"])
    assert endpoint.status == "disabled"
    assert endpoint.consecutive_failures >= 5  # a pass sends its deliveries before it records
    assert f"{endpoint.consecutive_failures} failed attempts in a row" in (
        endpoint.disabled_reason or "")
    assert {d.status for d in pump.rows(Delivery, Delivery.endpoint_id == hook["id"])} == {
        "failed"}
    pump.drain()
    told = client.get(f"{API}/webhooks/events?type=webhook_endpoint.disabled",
                      headers=buyer.headers).get_json()["items"]
    assert [e["data"]["id"] for e in told] == [hook["id"]]
    assert told[0]["data"]["status"] == "disabled"

    # Fixed, enabled again, and the missed events replayed over their time range.
    receiver.status = 200
    receiver.requests.clear()
    enabled = client.patch(f"{API}/webhooks/endpoints/{hook['id']}", headers=buyer.headers,
                           json={"status": "enabled"})
    assert enabled.status_code == 200
    assert enabled.get_json()["consecutive_failures"] == 0
    replayed = client.post(f"{API}/webhooks/endpoints/{hook['id']}/replays",
                           headers=buyer.headers,
                           json={"since": (clock.now() - timedelta(hours=1)).isoformat()})
    assert replayed.status_code == 202
    assert replayed.get_json()["queued"] == 10  # created and awaiting payment, five orders
    assert pump.send().succeeded == 10
    assert sorted(e["type"] for e in receiver.events()).count("order.created") == 5


def test_replaying_one_event_sends_the_same_id_and_body_again(
        market: Market, client: FlaskClient, receiver: Receiver, pump: Pump) -> None:
    buyer = market.buyer()
    hook = register(client, buyer, receiver.url, ["order.created"])
    market.place(market.listed(), buyer)
    pump()
    [(_, first)] = receiver.requests
    event_id = json.loads(first)["id"]
    answer = client.post(f"{API}/webhooks/endpoints/{hook['id']}/replays",
                         headers=buyer.headers, json={"event_id": event_id})
    assert answer.get_json() == {"queued": 1}
    pump.send()
    assert receiver.requests[1][1] == first
    deliveries = pump.rows(Delivery, Delivery.endpoint_id == hook["id"])
    assert [d.replay for d in deliveries] == [False, True]
    neither = client.post(f"{API}/webhooks/endpoints/{hook['id']}/replays",
                          headers=buyer.headers, json={})
    assert neither.status_code == 422


def test_a_rotated_secret_overlaps_then_only_the_new_one_signs(
        market: Market, client: FlaskClient, receiver: Receiver, pump: Pump,
        clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    verify = readme_verify()
    buyer = market.buyer()
    hook = register(client, buyer, receiver.url, ["order.created"])
    rotated = client.post(f"{API}/webhooks/endpoints/{hook['id']}/secret-rotations",
                          headers=buyer.headers, json={"overlap_seconds": 3600})
    assert rotated.status_code == 201
    new = rotated.get_json()["secret"]
    assert new != hook["secret"]
    assert new.startswith("whsec_")
    chain = market.listed()
    market.place(chain, buyer)
    pump()
    headers, body = receiver.requests[-1]
    assert headers["Market-Signature"].count("v1=") == 2
    monkeypatch.setattr(time, "time", lambda: clock.now().timestamp())
    assert verify(body, headers["Market-Signature"], hook["secret"])
    assert verify(body, headers["Market-Signature"], new)

    clock.advance(timedelta(hours=1, seconds=1))
    market.place(chain, buyer)
    pump()
    headers, body = receiver.requests[-1]
    assert headers["Market-Signature"].count("v1=") == 1
    assert webhooks.verify(body, headers["Market-Signature"], new, now=clock.now().timestamp())
    assert not webhooks.verify(body, headers["Market-Signature"], hook["secret"],
                               now=clock.now().timestamp())


def test_the_secret_is_shown_once_and_sealed_at_rest(
        market: Market, client: FlaskClient, receiver: Receiver, pump: Pump) -> None:
    buyer = market.buyer()
    hook = register(client, buyer, receiver.url)
    shown = client.get(f"{API}/webhooks/endpoints/{hook['id']}", headers=buyer.headers)
    assert "secret" not in shown.get_json()
    listed = client.get(f"{API}/webhooks/endpoints", headers=buyer.headers).get_json()
    assert "secret" not in json.dumps(listed)
    [stored] = pump.rows(EndpointSecret, EndpointSecret.endpoint_id == hook["id"])
    assert hook["secret"] not in stored.sealed
    assert pump.policy.unseal(stored.sealed) == hook["secret"]


def test_a_deleted_endpoint_gets_nothing_more(
        market: Market, client: FlaskClient, receiver: Receiver, pump: Pump) -> None:
    buyer = market.buyer()
    hook = register(client, buyer, receiver.url, ["order.created"])
    receiver.status = 500
    market.place(market.listed(), buyer)
    pump()
    assert client.delete(f"{API}/webhooks/endpoints/{hook['id']}",
                         headers=buyer.headers).status_code == 204
    assert [d.status for d in pump.rows(Delivery, Delivery.endpoint_id == hook["id"])] == [
        "failed"]
    market.place(market.listed(), buyer)
    pump()
    assert len(receiver.requests) == 1
    gone = client.get(f"{API}/webhooks/endpoints/{hook['id']}", headers=buyer.headers)
    assert gone.status_code == 404


# -- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://hooks.example.com/in",  # not https
    "https://127.0.0.1/in", "https://localhost/in", "https://api.localhost/in",
    "https://10.1.2.3/in", "https://172.16.0.9/in", "https://192.168.1.1/in",
    "https://169.254.169.254/latest", "https://[::1]/in", "https://[fd00::1]/in",
    "https://[::ffff:10.0.0.1]/in", "https://100.64.0.1/in", "https://0.0.0.0/in",
    "https://intranet/in", "https://printer.local/in", "https://user:pw@hooks.example.com/",
    "ftp://hooks.example.com/", "https:///nohost",
])
def test_local_private_and_plain_http_addresses_are_refused(url: str) -> None:
    assert url_problem(url, allow_private=False) is not None


@pytest.mark.parametrize("url", ["https://hooks.example.com/in", "https://8.8.8.8:8443/x",
                                 "https://[2606:4700::1111]/in"])
def test_public_https_addresses_are_accepted(url: str) -> None:
    assert url_problem(url, allow_private=False) is None


def test_the_api_refuses_a_private_address_unless_allowed(
        settings: Settings, session_factory: sessionmaker[Session], clock: FixedClock,
        market: Market) -> None:
    buyer = market.buyer()
    strict = create_app(settings, session_factory=session_factory, clock=clock).test_client()
    refused = strict.post(f"{API}/webhooks/endpoints", headers=buyer.headers,
                          json={"url": "https://192.168.0.10/in", "event_types": ["*"]})
    assert refused.status_code == 422
    assert problem(refused)["code"] == "webhook_url_refused"
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Endpoint)) == 0
    unknown = strict.post(f"{API}/webhooks/endpoints", headers=buyer.headers,
                          json={"url": "https://hooks.example.com/", "event_types": ["nope"]})
    assert unknown.status_code == 422
    assert "event_types" in problem(unknown)["errors"]


def test_a_name_resolving_to_a_private_address_is_not_called(
        market: Market, client: FlaskClient, pump: Pump, receiver: Receiver) -> None:
    """At delivery the name is resolved again, so a public-looking name that points at
    loopback (DNS rebinding) is refused then, and the attempt says why."""
    buyer = market.buyer()
    hook = register(client, buyer, receiver.url.replace("127.0.0.1", "localhost"),
                    ["order.created"])
    strict = webhooks.WebhookPolicy(**{**pump.policy.__dict__, "allow_private": False})
    market.place(market.listed(), buyer)
    pump.drain()
    webhooks.deliver_due(pump.sessions, pump.clock, strict, worker_id="w")
    [attempt] = pump.rows(Attempt)
    assert attempt.status_code is None
    assert "private or local address" in (attempt.error or "")
    assert receiver.requests == []
    assert hook["status"] == "enabled"


def test_only_global_unicast_addresses_are_allowed() -> None:
    assert address_allowed("8.8.8.8")
    assert address_allowed("2606:4700::1111")
    for bad in ("127.0.0.1", "10.0.0.1", "::1", "fe80::1", "224.0.0.1", "::ffff:127.0.0.1",
                "198.18.0.1", "not an ip"):
        assert not address_allowed(bad)


def test_backoff_doubles_to_an_hour_with_jitter_in_the_upper_half() -> None:
    rng = random.Random(1)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for attempts in range(1, 20):
        delay = next_attempt(attempts, start, base=timedelta(seconds=30), rng=rng) - start
        ceiling = min(timedelta(seconds=30) * 2 ** (attempts - 1), timedelta(hours=1))
        assert ceiling / 2 <= delay <= ceiling


# -- every topic has a consumer that does something ---------------------------------------
# (tests/unit/test_worker_topics.py checks that every topic the code enqueues is a topic the
# worker knows)


def test_no_topic_is_consumed_by_a_no_op(session_factory: sessionmaker[Session],
                                         hook_settings: Settings) -> None:
    found = consumers(session_factory, hook_settings)
    assert set(found) == set(TOPICS)
    for topic in TOPICS:
        assert found[topic] is not noop_consumer, topic
        sample = {"subject_type": "product"} if topic == "review.decided" else {}
        assert webhooks.specs_of(topic, sample), f"{topic} makes no event"


def test_the_event_types_are_published_and_selectors_checked(
        client: FlaskClient, market: Market) -> None:
    buyer = market.buyer()
    listed = client.get(f"{API}/webhooks/event-types", headers=buyer.headers).get_json()
    assert "payment.succeeded" in listed["event_types"]
    assert {"order", "payment", "delivery", "acceptance", "dispute", "refund", "payout",
            "right", "certificate", "listing", "review", "filing", "alert", "demand",
            "negotiation"} <= set(listed["categories"])
    for category in listed["categories"]:
        assert any(t.startswith(category + ".") for t in listed["event_types"]), category


def test_payouts_are_told_to_their_owner(market: Market, client: FlaskClient,
                                         pump: Pump) -> None:
    order = market.trade()
    merchant = seller(market, order.id)
    payable = market.balance(merchant.org_id, AccountKind.PAYABLE)
    asked = settlement.request_payout(payable, "CNY", {"holder": "x", "bank": "y",
                                                       "number": "6222 0000"},
                                      uow=market.uow(merchant))
    settlement.confirm_payout(asked.id, "BANK-REF-1", uow=market.uow(market.rights.operator))
    pump.drain()
    feed = client.get(f"{API}/webhooks/events", headers=merchant.headers).get_json()["items"]
    payouts = [e for e in feed if e["type"].startswith("payout.")]
    assert [e["type"] for e in payouts] == ["payout.requested", "payout.paid"]
    assert payouts[1]["data"]["id"] == asked.id
    assert payouts[1]["data"]["status"] == "paid"
    buyer = market.party_of(order.buyer_org_id)
    assert not [e for e in client.get(f"{API}/webhooks/events", headers=buyer.headers
                                      ).get_json()["items"] if e["type"].startswith("payout.")]



# -- nobody hears of another's objects: a matrix over event types --------------------------


def _parties_of(pump: Pump, event: Event) -> set[str]:
    """Who an event's object belongs to, read straight from the tables."""
    from market.compliance.models import Filing
    from market.listing.models import Product
    from market.rights.models import Grant, Right
    from market.settlement.models import Payout
    from market.trading.models import Order

    with pump.sessions() as session:
        match event.subject_type:
            case "order":
                order = session.get(Order, event.subject_id)
                assert order is not None
                return {order.buyer_org_id, order.seller_org_id}
            case "product":
                product = session.get(Product, event.subject_id)
                assert product is not None
                return {product.merchant_org_id}
            case "right":
                right = session.get(Right, event.subject_id)
                assert right is not None
                return {right.holder_org_id}
            case "certificate":
                right = session.scalars(select(Right).where(
                    Right.certificate_number == event.subject_id)).one()
                return {right.holder_org_id}
            case "grant":
                grant = session.get(Grant, event.subject_id)
                assert grant is not None
                return {grant.grantor_org_id, grant.grantee_org_id}
            case "filing":
                filing = session.get(Filing, event.subject_id)
                assert filing is not None
                return {filing.buyer_org_id, filing.seller_org_id}
            case "payout":
                payout = session.get(Payout, event.subject_id)
                assert payout is not None
                return {payout.org_id}
            case "participant" | "credit":
                return {event.subject_id}
            case "webhook_endpoint":
                endpoint = session.get(Endpoint, event.subject_id)
                assert endpoint is not None
                return {endpoint.org_id}
    raise AssertionError(f"no parties known for {event.subject_type}")


SUBJECT_PATHS = {"order": "/orders/{}", "product": "/products/{}", "right": "/rights/{}",
                 "certificate": "/certificates/{}", "grant": "/grants/{}",
                 "filing": "/filings/{}", "payout": "/payouts/{}",
                 "participant": "/participants/{}", "credit": "/participants/{}/credit",
                 "webhook_endpoint": "/webhooks/endpoints/{}"}


def test_no_participant_receives_events_about_anothers_objects(
        market: Market, client: FlaskClient, pump: Pump) -> None:
    """Two separate trading worlds (each a holder, a merchant and a buyer) go through
    registration, listing, trades that settle, are cancelled, disputed and refunded, and
    payouts. Every event goes only to a party of its object, each party can read that
    object through the API, and for every event type a world makes, the other world's
    participants get none of it."""
    from market.listing.domain import OfferKind, OfferSpec
    from market.trading.domain import DisputeOutcome

    worlds: dict[str, set[str]] = {}
    for n in ("a", "b"):
        chain = market.rights.chain(f"holder {n}", f"merchant {n}")
        market.shop.listed(chain, offers=[("标准版", OfferSpec(OfferKind.ONE_TIME,
                                                               amount=100_000))],
                           delivery_modes=["file", "api", "sandbox"])
        buyer = market.buyer(f"buyer {n}")
        merchant = market.party_of(market.shop.product(chain.product_id).merchant_org_id)
        worlds[n] = {chain.holder.org_id, merchant.org_id, buyer.org_id}
        settled = market.place(chain, buyer)
        market.pay(settled)
        market.deliver_file(settled)
        market.accept(settled)
        cancelled = market.place(chain, buyer)
        trading.cancel_order(cancelled.id, "changed my mind", uow=market.uow(buyer))
        disputed = market.place(chain, buyer)
        market.pay(disputed)
        market.deliver_file(disputed)
        dispute = trading.open_dispute(disputed.id, "wrong columns", [],
                                       policy=market.policy, uow=market.uow(buyer))
        trading.answer_dispute(dispute.id, "they are right", [], uow=market.uow(merchant))
        trading.decide_dispute(dispute.id, DisputeOutcome.FULL_REFUND, "refund",
                               uow=market.uow(market.rights.operator))
        payable = market.balance(merchant.org_id, AccountKind.PAYABLE)
        payout = settlement.request_payout(payable, "CNY", {
            "holder": n, "bank": "bank", "number": "6222 0000"}, uow=market.uow(merchant))
        settlement.confirm_payout(payout.id, f"REF-{n}", uow=market.uow(market.rights.operator))
    pump.drain()

    events = pump.rows(Event)
    types_by_world: dict[str, set[str]] = {"a": set(), "b": set()}
    party_by_org = {p.org_id: p for p in [*market.rights._parties.values(),
                                          *market._buyers.values()]}
    for event in events:
        parties = _parties_of(pump, event)
        assert event.org_id in parties, (event.type, event.subject_type)
        party = party_by_org[event.org_id]
        path = API + SUBJECT_PATHS[event.subject_type].format(event.subject_id)
        assert client.get(path, headers=party.headers).status_code == 200, (event.type, path)
        for n, orgs in worlds.items():
            if event.org_id in orgs:
                types_by_world[n].add(event.type)
                assert parties & orgs, "an event crossed between worlds"
    for n, other in (("a", "b"), ("b", "a")):
        strangers = worlds[other]
        for event in events:
            if _parties_of(pump, event) <= worlds[n] - strangers:
                assert event.org_id not in strangers
    made = types_by_world["a"] & types_by_world["b"]
    for expected in ("order.created", "order.awaiting_payment", "order.cancelled",
                     "payment.succeeded", "delivery.completed", "acceptance.recorded",
                     "order.settled", "dispute.opened", "dispute.resolved",
                     "refund.completed", "filing.created", "payout.requested", "payout.paid",
                     "right.registered", "certificate.issued", "right.grant_created",
                     "listing.listed", "review.decided", "participant.admitted"):
        assert expected in made, expected


def test_a_refund_after_settlement_is_told_to_both_parties_as_each_sees_it(
        market: Market, client: FlaskClient, pump: Pump) -> None:
    order = market.trade()
    merchant, buyer = seller(market, order.id), market.party_of(order.buyer_org_id)
    refund = trading.refund_order(order.id, 30_000, settlement.RefundCause.GOODWILL,
                                  "late data", uow=market.uow(merchant))
    pump.drain()
    listed = {}
    for party in (buyer, merchant):
        feed = client.get(f"{API}/webhooks/events?type=refund.issued",
                          headers=party.headers).get_json()["items"]
        assert [e["subject_id"] for e in feed] == [refund.id]
        shown = client.get(f"{API}/orders/{order.id}/refunds", headers=party.headers
                           ).get_json()["items"]
        assert feed[0]["data"] == next(r for r in shown if r["id"] == refund.id)
        listed[party.org_id] = feed[0]["data"]
    assert listed[buyer.org_id]["amount"] == 30_000
    stranger = market.buyer("stranger")
    assert client.get(f"{API}/webhooks/events?type=refund.issued",
                      headers=stranger.headers).get_json()["items"] == []


def test_a_subscription_renewal_is_told_to_its_buyer_and_seller(
        market: Market, client: FlaskClient, pump: Pump) -> None:
    from market.listing.domain import OfferKind, OfferSpec
    from market.trading.domain import period_end
    from market.trading.models import Subscription

    chain = market.shop.listed(offers=[("月度订阅", OfferSpec(
        OfferKind.SUBSCRIPTION, amount=100_000, period="month"))],
        delivery_modes=["file", "api", "sandbox"])
    buyer = market.buyer("subscriber")
    order = market.place(chain, buyer)
    market.pay(order)
    market.deliver_file(order)
    merchant = seller(market, order.id)
    clock = market.rights.clock
    clock.advance(period_end(clock.now(), "month") - timedelta(hours=12) - clock.now())
    trading.run_renewals(policy=market.policy, uow=market.system())
    pump.drain()
    [sub] = pump.rows(Subscription, Subscription.first_order_id == order.id)
    for party in (buyer, merchant):
        feed = client.get(f"{API}/webhooks/events?type=subscription.renewed",
                          headers=party.headers).get_json()["items"]
        assert [e["subject_id"] for e in feed] == [sub.id]
        now = client.get(f"{API}/subscriptions/{sub.id}", headers=party.headers).get_json()
        assert feed[0]["data"]["id"] == sub.id
        assert feed[0]["data"]["periods"] == now["periods"] == 2


def test_a_public_data_authorisation_and_its_revocation_reach_its_holder_only(
        market: Market, client: FlaskClient, pump: Pump) -> None:
    from tests.api.test_public_data_api import AUTHORISATION

    order = market.trade()
    holder = market.party_of(order.seller_org_id)
    buyer = market.party_of(order.buyer_org_id)
    operator = market.rights.operator
    made = client.post(f"{API}/public-data/authorisations", headers=operator.headers,
                       json={**AUTHORISATION, "org_id": holder.org_id})
    assert made.status_code == 201, made.get_json()
    revoked = client.post(f"{API}/public-data/authorisations/{made.json['id']}/revoke",
                          headers=operator.headers, json={"reason": "信誉复核未通过"})
    assert revoked.status_code == 200, revoked.get_json()
    pump.drain()

    feed = [e for e in client.get(f"{API}/webhooks/events?limit=200", headers=holder.headers
                                  ).get_json()["items"] if e["type"].startswith("public_data.")]
    assert [(e["type"], e["subject_type"], e["subject_id"]) for e in feed] == [
        ("public_data.authorised", "public_data_authorisation", made.json["id"]),
        ("public_data.authorisation_revoked", "public_data_authorisation", made.json["id"])]
    shown = client.get(f"{API}/webhooks/events/{feed[1]['id']}", headers=holder.headers)
    assert shown.get_json()["data"]["status"] == "revoked"  # as the holder reads it
    assert all(not e["type"].startswith("public_data.") for e in client.get(
        f"{API}/webhooks/events?limit=200", headers=buyer.headers).get_json()["items"])
