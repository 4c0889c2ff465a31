"""The crash run's clients: each is a buyer trading with the merchant (and the operator for
disputes) over HTTP, every call with an ``Idempotency-Key`` and the same ``X-Request-Id``
(so the audit log names the call that caused each effect), retrying a call that got no
answer (the server was killed) with the same key until it is answered, like a real client.

A call ends as one of: ``acked`` (2xx), ``refused`` (4xx other than a request in flight),
``error`` (500) or ``unresolved`` (still no answer when its retry budget ran out, or 409
``idempotency_request_in_flight`` for longer than three leases: an attempt committed its
effect and was killed before it stored its answer, which no retry can get back). A call
``interrupted`` lost at least one attempt to a kill, so an answer it got later may be the
answer to a retry of something that had already happened."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from crash_seed import COMMITMENT, World

API = "/api/v1"
RETRYABLE = {502, 503, 504}
IN_FLIGHT = "idempotency_request_in_flight"
IN_FLIGHT_GIVE_UP = 15.0  # seconds of 409 in flight: three of the run's idempotency leases


@dataclass
class Call:
    kind: str
    key: str
    order_id: str | None
    outcome: str = "pending"
    status: int | None = None
    code: str | None = None
    attempts: int = 0
    interrupted: bool = False
    replayed: bool = False
    object_id: str | None = None
    done_before: bool = False  # refused, but an earlier attempt had done it (state checked)
    seconds: float = 0.0


@dataclass
class Stats:
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    flows: int = 0

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)


class Stop(Exception):
    pass


class Client:
    """One buyer's thread of trades."""

    def __init__(self, index: int, base_url: str, world: World, stats: Stats, seed: int,
                 stop: threading.Event, give_up: float) -> None:
        self.index = index
        self.world = world
        self.buyer = world.buyers[index]
        self.stats = stats
        self.rng = random.Random(f"{seed}-{index}")  # noqa: S311  (load mix, not secrets)
        self.stop = stop
        self.give_up = give_up
        self.http = httpx.Client(base_url=base_url, timeout=30.0, trust_env=False)
        self.seed = seed
        self.flow = 0

    def close(self) -> None:
        self.http.close()

    # -- one call, retried until answered -----------------------------------------------

    def call(self, kind: str, token: str, method: str, path: str, step: str,
             order_id: str | None, **kwargs: Any) -> Call:
        key = f"crash-{self.seed}-{self.index}-{self.flow}-{step}"
        call = Call(kind, key, order_id)
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key,
                   "X-Request-Id": key}
        began = time.monotonic()
        deadline = began + self.give_up
        in_flight: float | None = None
        while True:
            call.attempts += 1
            try:
                response = self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError:
                call.interrupted = True  # killed mid-request or down: ask again, same key
                if time.monotonic() > deadline:
                    call.outcome = "unresolved"
                    break
                time.sleep(0.2)
                continue
            call.status = response.status_code
            body = _json(response)
            call.code = body.get("code") if response.status_code >= 400 else None
            if call.code == IN_FLIGHT:
                # The key's lease (5 s) outlives a killed attempt; past three leases the
                # attempt that holds it committed and died before storing its answer.
                in_flight = in_flight or time.monotonic()
                if time.monotonic() - in_flight > IN_FLIGHT_GIVE_UP:
                    call.outcome = "unresolved"
                    break
                time.sleep(0.3)
                continue
            in_flight = None
            if response.status_code in RETRYABLE:
                if time.monotonic() > deadline:
                    call.outcome = "unresolved"
                    break
                time.sleep(0.3)
                continue
            call.replayed = response.headers.get("Idempotent-Replayed") == "true"
            if response.status_code < 300:
                call.outcome = "acked"
                call.object_id = _object_id(kind, body)
            elif response.status_code >= 500:
                call.outcome = "error"
            else:
                call.outcome = "refused"
            break
        call.seconds = time.monotonic() - began
        self.stats.add(call)
        return call

    def get(self, token: str, path: str) -> dict[str, Any]:
        """A read, retried until the server answers it."""
        for _ in range(int(self.give_up / 0.2) + 1):
            try:
                response = self.http.get(path, headers={"Authorization": f"Bearer {token}"})
                if response.status_code == 200:
                    return _json(response)
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise Stop(f"GET {path} never answered")

    # -- the trades ---------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.flow += 1
                with self.stats.lock:
                    self.stats.flows += 1
                self.trade()
        except Stop:
            pass
        finally:
            self.close()

    def step_ok(self, call: Call, order_id: str | None, status: str | None) -> bool:
        """Whether the flow goes on after ``call``: answered 2xx, or refused after an
        interrupted attempt that (the order's state shows) had done it already."""
        if call.outcome == "acked":
            return True
        if call.outcome == "refused" and call.interrupted and order_id and status:
            found = self.get(self.buyer.token, f"{API}/orders/{order_id}")
            if found.get("status") in status.split("|"):
                call.done_before = True
                return True
        return False

    def trade(self) -> None:
        w, buyer, merchant = self.world, self.buyer.token, self.world.merchant.token
        placed = self.call("place", buyer, "POST", f"{API}/orders", "place", None, json={
            "product_id": w.product_id, "offer_id": w.offer_id, "commitment": COMMITMENT})
        if placed.outcome != "acked" or placed.object_id is None:
            return
        order = placed.object_id
        base = f"{API}/orders/{order}"
        if self.rng.random() < 0.05 or self.stop.is_set():  # an order left unpaid
            return
        paid = self.call("pay", buyer, "POST", f"{base}/payment", "pay", order)
        if not self.step_ok(paid, order, "paid") or self.stop.is_set():
            return
        if self.rng.random() < 0.15:
            self.dispute(order, delivered=False)
            return
        if self.rng.random() < 0.2:
            content = f"crash delivery {order}\n".encode() * 64
            done = self.call("deliver", merchant, "POST", f"{base}/deliveries/file", "deliver",
                             order, files={"file": ("data.csv", content, "text/csv")},
                             data={"note": "crash run"})
        else:
            done = self.call("deliver", merchant, "POST", f"{base}/deliveries", "deliver",
                             order, json={"mode": "api",
                                          "endpoint": "https://api.example.cn/v1/risk"})
        if not self.step_ok(done, order, "delivered") or self.stop.is_set():
            return
        if self.rng.random() < 0.1:
            self.dispute(order, delivered=True)
            return
        accepted = self.call("accept", buyer, "POST", f"{base}/acceptance", "accept", order,
                             json={})
        if not self.step_ok(accepted, order, "settled"):
            return
        for n in range(self.rng.choice((0, 0, 0, 1, 2))):
            if self.stop.is_set():
                return
            self.call("refund", merchant, "POST", f"{base}/refunds", f"refund{n}", order,
                      json={"amount": 1000 + n, "cause": "goodwill",
                            "reason": "crash run goodwill"})

    def dispute(self, order: str, *, delivered: bool) -> None:
        buyer, merchant = self.buyer.token, self.world.merchant.token
        opened = self.call("dispute", buyer, "POST", f"{API}/orders/{order}/disputes",
                           "dispute", order, json={"reason": "数据与约定不符",
                                                   "evidence_sha256": ["a" * 64]})
        if not self.step_ok(opened, order, "disputed"):
            return
        dispute = opened.object_id
        if dispute is None:  # done by an attempt whose answer was lost: find it
            listed = self.get(buyer, f"{API}/disputes?limit=100")
            found = [d for d in listed.get("items", []) if d.get("order_id") == order]
            if not found:
                return
            dispute = str(found[0]["id"])
        answered = self.call("answer", merchant, "POST", f"{API}/disputes/{dispute}/answer",
                             "answer", order, json={"answer": "已按约定交付",
                                                    "evidence_sha256": ["b" * 64]})
        if answered.outcome != "acked" and not (answered.outcome == "refused"
                                                 and answered.interrupted):
            return
        outcome = self.rng.choice(("release", "partial_refund", "full_refund"))
        body: dict[str, Any] = {"outcome": outcome, "reason": "crash run decision"}
        if outcome == "partial_refund":
            body["refund_amount"] = 2500
        self.call("decide", self.world.operator.token, "POST",
                  f"{API}/disputes/{dispute}/decision", "decide", order, json=body)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _object_id(kind: str, body: dict[str, Any]) -> str | None:
    if kind in ("place", "pay", "accept"):
        return body.get("id")
    if kind == "deliver":
        return (body.get("order") or {}).get("id")
    return body.get("id")  # refund, dispute, answer, decide
