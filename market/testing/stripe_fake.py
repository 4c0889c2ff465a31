"""A small Stripe-compatible HTTP server for tests and the demo.

It answers the calls the Stripe rail makes through the official ``stripe`` library pointed
at it with ``base_addresses``: Connect accounts and account links, customers, PaymentIntents
(confirm, manual or automatic capture, cancel; saving the card on the customer with
``setup_future_usage``; confirmed at creation, off-session, with a saved card), payment
methods (Stripe's test ids ``pm_card_visa``, ``pm_card_chargeDeclined``,
``pm_card_authenticationRequired``), charges, refunds, transfers with ``source_transaction``
and ``transfer_group``, transfer reversals, disputes and balance transactions, with Stripe's
shapes: form-encoded bracket parameters, prefixed ids, list objects with cursors, error
objects with 4xx statuses, and an idempotency cache keyed by ``Idempotency-Key`` (the same
key with the same parameters answers the stored response; other parameters 400
``idempotency_error``).

Every change makes an event signed like Stripe's (``Stripe-Signature: t=…,v1=…``, HMAC-SHA256
of ``t.payload`` with the webhook secret); events are kept in :attr:`FakeStripe.events` and,
when :attr:`FakeStripe.webhook_url` is set, posted there. Test helpers change what only
Stripe or the card holder can change: confirm a payment, open and close a dispute, finish an
account's onboarding.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

API_VERSION = "2026-10-28.endive"

Obj = dict[str, Any]


class StripeFault(Exception):
    """An error the fake answers as Stripe would."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 extra: Obj | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "code": code, "message": message,
                               "param": param, **(extra or {})}}


def parse_form(body: str) -> Obj:
    """Stripe's form encoding to nested values: ``a[b]=1`` → ``{"a": {"b": "1"}}``,
    ``a[]=x`` and ``a[0]=x`` → lists."""
    root: Obj = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, _, tail = key.partition("[")
        parts = [head, *re.findall(r"\[([^\]]*)\]", "[" + tail)] if tail else [head]
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            container: Any = [] if nxt == "" or (nxt is not None and nxt.isdigit()) else {}
            if isinstance(node, list):
                if part == "" or int(part) >= len(node):
                    node.append(value if last else container)
                    node = node[-1]
                else:
                    if last:
                        node[int(part)] = value
                    node = node[int(part)]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, container)
    return root


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload`` as Stripe computes it."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _int(params: Obj, name: str, required: bool = True) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise StripeFault(400, f"Missing required param: {name}.", code="parameter_missing",
                              param=name)
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise StripeFault(400, f"Invalid integer: {raw}", code="parameter_invalid_integer",
                          param=name) from None
    if value < 0 or (value == 0 and name in {"amount", "amount_to_capture"}):
        raise StripeFault(400, "Amount must be positive.", code="parameter_invalid_integer",
                          param=name)
    return value


def _flag(params: Obj, name: str) -> bool:
    """A boolean form parameter (the library sends ``true``/``false``)."""
    return str(params.get(name, "")).lower() == "true"


def _public(obj: Obj) -> Obj:
    """The object as Stripe shows it (without the fake's own bookkeeping)."""
    return {k: deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


AUTHORISATION_SECONDS = 7 * 24 * 3600  # how long a card network holds an uncaptured charge


@dataclass
class FakeStripe:
    """The fake's state; :meth:`serve` runs it on a loopback port."""

    api_key: str = "sk_test_market"
    webhook_secret: str = "whsec_test_market"  # noqa: S105 (a test secret)
    webhook_url: str | None = None
    objects: dict[str, Obj] = field(default_factory=dict)
    events: list[Obj] = field(default_factory=list)
    balance_transactions: list[Obj] = field(default_factory=list)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    idempotency: dict[str, tuple[str, str, Obj, int, Obj]] = field(default_factory=dict)
    # what a card now answers a charge (``card_declined``, ``authentication_required``), by
    # payment method: the card holder's bank, which only a test can change
    card_failures: dict[str, str] = field(default_factory=dict)
    authorised_at: dict[str, float] = field(default_factory=dict)
    url: str = ""
    # the card network's time, which lets an uncaptured authorisation lapse after
    # AUTHORISATION_SECONDS (a test may hand it its own clock)
    clock: Callable[[], float] = time.time
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _clock: int = 0

    # -- plumbing ---------------------------------------------------------------------

    def now(self) -> int:
        self._clock = max(self._clock + 1, int(time.time()))
        return self._clock

    @staticmethod
    def new_id(prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def _store(self, obj: Obj) -> Obj:
        self.objects[obj["id"]] = obj
        return obj

    def get(self, object_id: str, kind: str | None = None) -> Obj:
        found = self.objects.get(object_id)
        if found is None or (kind is not None and found["object"] != kind):
            raise StripeFault(404, f"No such {kind or 'object'}: '{object_id}'",
                              code="resource_missing", param="id")
        return found

    def of_kind(self, kind: str) -> list[Obj]:
        return [o for o in self.objects.values() if o["object"] == kind]

    def _emit(self, type_: str, obj: Obj, account: str | None = None) -> Obj:
        event = {"id": self.new_id("evt"), "object": "event", "type": type_,
                 "api_version": API_VERSION, "created": self.now(), "livemode": False,
                 "pending_webhooks": 1, "data": {"object": deepcopy(obj)},
                 "request": {"id": None, "idempotency_key": None}}
        if account:
            event["account"] = account
        self.events.append(event)
        if self.webhook_url:
            payload, header = self.signed(event)
            threading.Thread(target=self._post, args=(payload, header), daemon=True).start()
        return event

    def _post(self, payload: bytes, header: str) -> None:
        assert self.webhook_url is not None
        if not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError("webhook_url must be an http(s) URL")
        request = urllib.request.Request(  # noqa: S310 (http(s) checked above)
            self.webhook_url, data=payload, method="POST",
            headers={"Content-Type": "application/json", "Stripe-Signature": header})
        with contextlib.suppress(OSError):
            urllib.request.urlopen(request, timeout=5).close()  # noqa: S310

    def signed(self, event: Obj, *, secret: str | None = None,
               timestamp: int | None = None) -> tuple[bytes, str]:
        """The body and ``Stripe-Signature`` header Stripe would send for ``event``."""
        payload = json.dumps(event, separators=(",", ":")).encode()
        return payload, signature_header(payload, secret or self.webhook_secret, timestamp)

    def events_of(self, type_: str) -> list[Obj]:
        return [e for e in self.events if e["type"] == type_]

    def _txn(self, amount: int, currency: str, type_: str, source: str) -> Obj:
        txn = self._store({
            "id": self.new_id("txn"), "object": "balance_transaction", "amount": amount,
            "currency": currency, "fee": 0, "net": amount, "type": type_, "source": source,
            "status": "available", "created": self.now(), "reporting_category": type_})
        self.balance_transactions.append(txn)
        return txn

    # -- dispatch -------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str, body: str, headers: dict[str, str],
               ) -> tuple[int, Obj]:
        with self._lock:
            self.requests.append((method, path, headers.get("idempotency-key")))
            if headers.get("authorization") != f"Bearer {self.api_key}":
                return 401, {"error": {"type": "invalid_request_error", "code": None,
                                       "message": "Invalid API Key provided.", "param": None}}
            params = parse_form(body if method == "POST" else query)
            key = headers.get("idempotency-key") if method == "POST" else None
            if key:
                cached = self.idempotency.get(key)
                if cached is not None:
                    if cached[:3] != (method, path, params):
                        return 400, {"error": {
                            "type": "idempotency_error", "code": "idempotency_key_in_use",
                            "param": None,
                            "message": "Keys for idempotent requests can only be used with "
                                       "the same parameters they were first used with."}}
                    return cached[3], cached[4]
            try:
                status, answer = 200, self._route(method, path, params)
            except StripeFault as fault:
                status, answer = fault.status, fault.body
            if key and status < 500:
                self.idempotency[key] = (method, path, params, status, deepcopy(answer))
            return status, deepcopy(answer)

    ROUTES: tuple[tuple[str, str, str], ...] = (
        ("POST", r"/v1/accounts", "create_account"),
        ("GET", r"/v1/accounts/(?P<id>[\w]+)", "retrieve"),
        ("POST", r"/v1/account_links", "create_account_link"),
        ("POST", r"/v1/customers", "create_customer"),
        ("GET", r"/v1/customers/(?P<id>[\w]+)", "retrieve"),
        ("GET", r"/v1/payment_methods/(?P<id>[\w]+)", "retrieve"),
        ("POST", r"/v1/payment_intents", "create_payment_intent"),
        ("GET", r"/v1/payment_intents/(?P<id>[\w]+)", "retrieve_payment_intent"),
        ("POST", r"/v1/payment_intents/(?P<id>[\w]+)/confirm", "confirm_payment_intent"),
        ("POST", r"/v1/payment_intents/(?P<id>[\w]+)/capture", "capture_payment_intent"),
        ("POST", r"/v1/payment_intents/(?P<id>[\w]+)/cancel", "cancel_payment_intent"),
        ("GET", r"/v1/charges/(?P<id>[\w]+)", "retrieve"),
        ("POST", r"/v1/refunds", "create_refund"),
        ("GET", r"/v1/refunds/(?P<id>[\w]+)", "retrieve"),
        ("POST", r"/v1/transfers", "create_transfer"),
        ("GET", r"/v1/transfers", "list_transfers"),
        ("GET", r"/v1/transfers/(?P<id>[\w]+)", "retrieve"),
        ("POST", r"/v1/transfers/(?P<id>[\w]+)/reversals", "create_reversal"),
        ("GET", r"/v1/balance_transactions", "list_balance_transactions"),
        ("GET", r"/v1/disputes/(?P<id>[\w]+)", "retrieve"),
    )

    def _route(self, method: str, path: str, params: Obj) -> Obj:
        for verb, pattern, name in self.ROUTES:
            found = re.fullmatch(pattern, path)
            if verb == method and found:
                handler = getattr(self, name)
                return handler(params, **found.groupdict())  # type: ignore[no-any-return]
        raise StripeFault(404, f"Unrecognized request URL ({method}: {path}).")

    def retrieve(self, params: Obj, id: str) -> Obj:
        return _public(self.get(id))

    def _list(self, items: list[Obj], params: Obj, url: str) -> Obj:
        created = params.get("created") or {}
        if isinstance(created, dict) and "gte" in created:
            items = [i for i in items if i["created"] >= int(created["gte"])]
        items = sorted(items, key=lambda i: (i["created"], i["id"]), reverse=True)
        after = params.get("starting_after")
        if after:
            ids = [i["id"] for i in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        limit = int(params.get("limit") or 10)
        return {"object": "list", "data": items[:limit], "has_more": len(items) > limit,
                "url": url}

    # -- Connect ------------------------------------------------------------------------

    def create_account(self, params: Obj) -> Obj:
        return self._store({
            "id": self.new_id("acct"), "object": "account", "type": params.get("type"),
            "country": params.get("country") or "US", "email": params.get("email"),
            "charges_enabled": False, "payouts_enabled": False, "details_submitted": False,
            "metadata": params.get("metadata") or {}, "created": self.now(),
            "capabilities": {}})

    def create_account_link(self, params: Obj) -> Obj:
        account = self.get(str(params.get("account")), "account")
        for name in ("refresh_url", "return_url", "type"):
            if not params.get(name):
                raise StripeFault(400, f"Missing required param: {name}.",
                                  code="parameter_missing", param=name)
        created = self.now()
        return {"object": "account_link", "created": created, "expires_at": created + 300,
                "url": f"{self.url or 'https://connect.stripe.test'}/setup/"
                       f"{account['id']}/{secrets.token_hex(8)}"}

    def complete_onboarding(self, account_id: str, *, enabled: bool = True) -> Obj:
        """Test helper: the account holder finished onboarding (``account.updated``)."""
        with self._lock:
            account = self.get(account_id, "account")
            account.update(charges_enabled=enabled, payouts_enabled=enabled,
                           details_submitted=True)
            self._emit("account.updated", account, account=account_id)
            return deepcopy(account)

    # -- payments -----------------------------------------------------------------------

    def create_customer(self, params: Obj) -> Obj:
        customer = self._store({
            "id": self.new_id("cus"), "object": "customer", "email": params.get("email"),
            "description": params.get("description"), "metadata": params.get("metadata") or {},
            "created": self.now(), "livemode": False,
            "invoice_settings": {"default_payment_method": None}})
        self._emit("customer.created", customer)
        return customer

    def create_payment_intent(self, params: Obj) -> Obj:
        amount = _int(params, "amount")
        if not params.get("currency"):
            raise StripeFault(400, "Missing required param: currency.",
                              code="parameter_missing", param="currency")
        capture = params.get("capture_method") or "automatic"
        if capture not in {"automatic", "automatic_async", "manual"}:
            raise StripeFault(400, "Invalid capture_method", code="parameter_invalid_string",
                              param="capture_method")
        customer = params.get("customer")
        if customer:
            self.get(str(customer), "customer")
        future = params.get("setup_future_usage")
        if future not in (None, "", "off_session", "on_session"):
            raise StripeFault(400, "Invalid setup_future_usage",
                              code="parameter_invalid_string", param="setup_future_usage")
        if future and not customer:
            raise StripeFault(400, "A customer is required to save a payment method for "
                                   "future usage.", param="customer")
        off_session = _flag(params, "off_session")
        confirm = _flag(params, "confirm")
        if off_session and not confirm:
            raise StripeFault(400, "off_session can only be used with confirm=true.",
                              param="off_session")
        pi_id = self.new_id("pi")
        pi = self._store({
            "id": pi_id, "object": "payment_intent", "amount": amount,
            "amount_capturable": 0, "amount_received": 0,
            "currency": str(params["currency"]).lower(), "capture_method": capture,
            "client_secret": f"{pi_id}_secret_{secrets.token_hex(8)}",
            "status": "requires_payment_method", "transfer_group": params.get("transfer_group"),
            "metadata": params.get("metadata") or {}, "latest_charge": None,
            "customer": customer or None, "setup_future_usage": future or None,
            "payment_method": None, "last_payment_error": None,
            "created": self.now(), "livemode": False, "canceled_at": None})
        self._emit("payment_intent.created", pi)
        if confirm:
            return self._confirm(pi, params.get("payment_method"), off_session=off_session)
        return pi

    def retrieve_payment_intent(self, params: Obj, id: str) -> Obj:
        pi = deepcopy(self.get(id, "payment_intent"))
        if "latest_charge" in (params.get("expand") or []) and pi["latest_charge"]:
            pi["latest_charge"] = deepcopy(self.get(pi["latest_charge"]))
        return pi

    def confirm_payment_intent(self, params: Obj, id: str) -> Obj:
        pi = self.get(id, "payment_intent")
        if pi["status"] not in {"requires_payment_method", "requires_confirmation"}:
            raise StripeFault(400, "This PaymentIntent's status does not allow confirmation.",
                              code="payment_intent_unexpected_state")
        return self._confirm(pi, params.get("payment_method"),
                             off_session=_flag(params, "off_session"))

    TEST_CARDS: ClassVar[dict[str, str | None]] = {
        "pm_card_visa": None, "pm_card_chargeDeclined": "card_declined",
        "pm_card_authenticationRequired": "authentication_required"}
    DECLINES: ClassVar[dict[str, str]] = {"card_declined": "Your card was declined.",
                "authentication_required": "Your card was declined. This transaction "
                                           "requires authentication."}

    def _payment_method(self, pi: Obj, given: Any) -> Obj:
        """The card the PaymentIntent is confirmed with: a test id makes a new payment
        method (as Stripe does), a saved one must belong to the PaymentIntent's customer."""
        if not given:
            raise StripeFault(400, "You cannot confirm this PaymentIntent because it's "
                                   "missing a payment method.",
                              code="payment_intent_unexpected_state", param="payment_method")
        name = str(given)
        if name in self.TEST_CARDS:
            method = self._store({
                "id": self.new_id("pm"), "object": "payment_method", "type": "card",
                "customer": None, "created": self.now(), "livemode": False,
                "card": {"brand": "visa", "last4": "4242" if name == "pm_card_visa"
                         else "0002" if name == "pm_card_chargeDeclined" else "3184",
                         "exp_month": 12, "exp_year": 2034}, "metadata": {}})
            failure = self.TEST_CARDS[name]
            if failure:
                self.card_failures[method["id"]] = failure
            return method
        method = self.get(name, "payment_method")
        if method["customer"] is not None and method["customer"] != pi["customer"]:
            raise StripeFault(400, "The provided PaymentMethod belongs to another customer.",
                              param="payment_method")
        if method["customer"] is None and method.get("_used"):
            raise StripeFault(400, "The provided PaymentMethod was previously used without "
                                   "being attached to a Customer; it may not be used again.",
                              param="payment_method")
        return method

    def _confirm(self, pi: Obj, given: Any, *, off_session: bool) -> Obj:
        method = self._payment_method(pi, given)
        failure = self.card_failures.get(method["id"])
        if failure == "authentication_required" and not off_session:
            failure = None  # on-session the card holder passes 3-D Secure
        method["_used"] = True
        pi["payment_method"] = method["id"]
        if failure:
            error = {"type": "card_error", "code": failure, "message": self.DECLINES[failure],
                     "param": None, "payment_method": _public(method)}
            if failure == "card_declined":
                error["decline_code"] = "generic_decline"
            pi.update(status="requires_payment_method", last_payment_error=error)
            self._emit("payment_intent.payment_failed", pi)
            raise StripeFault(402, self.DECLINES[failure], type_="card_error", code=failure,
                              extra={"payment_intent": deepcopy(pi),
                                     "payment_method": _public(method),
                                     **({"decline_code": "generic_decline"}
                                        if failure == "card_declined" else {})})
        if pi["setup_future_usage"] and pi["customer"] and method["customer"] is None:
            method["customer"] = pi["customer"]
            self._emit("payment_method.attached", _public(method))
        manual = pi["capture_method"] == "manual"
        charge = self._store({
            "id": self.new_id("ch"), "object": "charge", "amount": pi["amount"],
            "amount_captured": 0 if manual else pi["amount"], "amount_refunded": 0,
            "captured": not manual, "currency": pi["currency"], "payment_intent": pi["id"],
            "status": "succeeded", "paid": True, "refunded": False, "disputed": False,
            "transfer_group": pi["transfer_group"], "balance_transaction": None,
            "customer": pi["customer"], "payment_method": method["id"],
            "metadata": pi["metadata"], "created": self.now()})
        pi["latest_charge"] = charge["id"]
        pi["last_payment_error"] = None
        if manual:
            pi.update(status="requires_capture", amount_capturable=pi["amount"])
            self.authorised_at[pi["id"]] = self.clock()
            self._emit("charge.succeeded", charge)
            self._emit("payment_intent.amount_capturable_updated", pi)
        else:
            charge["balance_transaction"] = self._txn(pi["amount"], pi["currency"], "charge",
                                                      charge["id"])["id"]
            pi.update(status="succeeded", amount_received=pi["amount"])
            self._emit("charge.succeeded", charge)
            self._emit("payment_intent.succeeded", pi)
        return pi

    def pay(self, payment_intent_id: str, payment_method: str = "pm_card_visa") -> Obj:
        """Test helper: the buyer confirms the PaymentIntent with a card (Stripe.js)."""
        with self._lock:
            return deepcopy(self.confirm_payment_intent({"payment_method": payment_method},
                                                        payment_intent_id))

    def decline_card(self, payment_method_id: str, code: str = "card_declined") -> None:
        """Test helper: the card holder's bank now refuses the card (``card_declined``) or
        asks for authentication the card holder cannot give off-session
        (``authentication_required``)."""
        with self._lock:
            self.get(payment_method_id, "payment_method")
            if code not in self.DECLINES:
                raise ValueError(f"unknown decline {code}")
            self.card_failures[payment_method_id] = code

    def capture_payment_intent(self, params: Obj, id: str) -> Obj:
        pi = self.get(id, "payment_intent")
        if pi["status"] != "requires_capture":
            raise StripeFault(400, f"This PaymentIntent could not be captured because it has "
                                   f"a status of {pi['status']}.",
                              code="payment_intent_unexpected_state")
        if self.clock() - self.authorised_at.get(id, self.clock()) > AUTHORISATION_SECONDS:
            raise StripeFault(400, "This PaymentIntent's authorization has expired and can no "
                                   "longer be captured.", code="charge_expired_for_capture")
        amount = _int(params, "amount_to_capture", required=False) or pi["amount_capturable"]
        if amount > pi["amount_capturable"]:
            raise StripeFault(400, "amount_to_capture is greater than the amount capturable",
                              code="amount_too_large", param="amount_to_capture")
        charge = self.get(pi["latest_charge"], "charge")
        charge.update(captured=True, amount_captured=amount,
                      balance_transaction=self._txn(amount, pi["currency"], "charge",
                                                    charge["id"])["id"])
        if amount < charge["amount"]:
            charge["amount_refunded"] = charge["amount"] - amount
        pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self._emit("charge.captured", charge)
        self._emit("payment_intent.succeeded", pi)
        return pi

    def cancel_payment_intent(self, params: Obj, id: str) -> Obj:
        pi = self.get(id, "payment_intent")
        if pi["status"] in {"succeeded", "canceled"}:
            raise StripeFault(400, f"You cannot cancel this PaymentIntent because it has a "
                                   f"status of {pi['status']}.",
                              code="payment_intent_unexpected_state")
        pi.update(status="canceled", amount_capturable=0, canceled_at=self.now(),
                  cancellation_reason=params.get("cancellation_reason"))
        self._emit("payment_intent.canceled", pi)
        return pi

    def create_refund(self, params: Obj) -> Obj:
        if params.get("payment_intent"):
            pi = self.get(str(params["payment_intent"]), "payment_intent")
            charge_id = pi["latest_charge"]
        else:
            charge_id = params.get("charge")
        charge = self.get(str(charge_id), "charge")
        if not charge["captured"]:
            raise StripeFault(400, "This charge has not been captured.",
                              code="charge_not_captured")
        left = charge["amount_captured"] - charge["amount_refunded"]
        amount = _int(params, "amount", required=False) or left
        if amount > left:
            raise StripeFault(400, f"Refund amount ({amount}) is greater than unrefunded "
                                   f"amount on charge ({left})",
                              code="amount_too_large", param="amount")
        refund = self._store({
            "id": self.new_id("re"), "object": "refund", "amount": amount,
            "charge": charge["id"], "payment_intent": charge["payment_intent"],
            "currency": charge["currency"], "status": "succeeded",
            "metadata": params.get("metadata") or {}, "created": self.now(),
            "balance_transaction": None})
        refund["balance_transaction"] = self._txn(-amount, charge["currency"], "refund",
                                                  refund["id"])["id"]
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        self._emit("refund.created", refund)
        self._emit("charge.refunded", charge)
        return refund

    # -- transfers ----------------------------------------------------------------------

    def create_transfer(self, params: Obj) -> Obj:
        amount = _int(params, "amount")
        assert amount is not None
        destination = self.get(str(params.get("destination")), "account")
        if not destination["payouts_enabled"]:
            raise StripeFault(400, "Your destination account needs to have at least one of "
                                   "the following capabilities enabled: transfers",
                              code="insufficient_capabilities_for_transfer",
                              param="destination")
        source = params.get("source_transaction")
        if source:
            charge = self.get(str(source), "charge")
            sent = sum(t["amount"] - t["amount_reversed"] for t in self.of_kind("transfer")
                       if t["source_transaction"] == source)
            left = charge["amount_captured"] - charge["amount_refunded"] - sent
            if not charge["captured"] or amount > left:
                raise StripeFault(400, "Insufficient funds in the source transaction.",
                                  code="balance_insufficient", param="amount")
        transfer = self._store({
            "id": self.new_id("tr"), "object": "transfer", "amount": amount,
            "amount_reversed": 0, "currency": str(params.get("currency")).lower(),
            "destination": destination["id"], "source_transaction": source,
            "transfer_group": params.get("transfer_group"), "reversed": False,
            "metadata": params.get("metadata") or {}, "created": self.now(),
            "reversals": {"object": "list", "data": [], "has_more": False, "url": ""},
            "balance_transaction": None})
        transfer["reversals"]["url"] = f"/v1/transfers/{transfer['id']}/reversals"
        transfer["balance_transaction"] = self._txn(-amount, transfer["currency"], "transfer",
                                                    transfer["id"])["id"]
        self._emit("transfer.created", transfer)
        return transfer

    def list_transfers(self, params: Obj) -> Obj:
        items = self.of_kind("transfer")
        if params.get("transfer_group"):
            items = [t for t in items if t["transfer_group"] == params["transfer_group"]]
        return self._list(items, params, "/v1/transfers")

    def create_reversal(self, params: Obj, id: str) -> Obj:
        transfer = self.get(id, "transfer")
        left = transfer["amount"] - transfer["amount_reversed"]
        amount = _int(params, "amount", required=False) or left
        if amount > left:
            raise StripeFault(400, "Transfer reversal amount is greater than the amount left",
                              code="amount_too_large", param="amount")
        reversal = self._store({
            "id": self.new_id("trr"), "object": "transfer_reversal", "amount": amount,
            "currency": transfer["currency"], "transfer": transfer["id"],
            "metadata": params.get("metadata") or {}, "created": self.now(),
            "balance_transaction": None})
        reversal["balance_transaction"] = self._txn(amount, transfer["currency"],
                                                    "transfer_refund", reversal["id"])["id"]
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
        transfer["reversals"]["data"].append(deepcopy(reversal))
        self._emit("transfer.reversed", transfer)
        return reversal

    def list_balance_transactions(self, params: Obj) -> Obj:
        return self._list(list(self.balance_transactions), params, "/v1/balance_transactions")

    # -- disputes (chargebacks) ---------------------------------------------------------

    def open_dispute(self, charge_id: str, amount: int | None = None) -> Obj:
        """Test helper: the card holder disputes a charge; Stripe takes the amount back."""
        with self._lock:
            charge = self.get(charge_id, "charge")
            amount = amount or charge["amount_captured"]
            dispute = self._store({
                "id": self.new_id("dp"), "object": "dispute", "amount": amount,
                "charge": charge_id, "payment_intent": charge["payment_intent"],
                "currency": charge["currency"], "status": "needs_response",
                "reason": "fraudulent", "created": self.now(), "balance_transactions": []})
            dispute["balance_transactions"].append(
                self._txn(-amount, charge["currency"], "adjustment", dispute["id"]))
            charge["disputed"] = True
            self._emit("charge.dispute.created", dispute)
            return deepcopy(dispute)

    def close_dispute(self, dispute_id: str, *, won: bool) -> Obj:
        """Test helper: the card network decides; a won dispute gives the amount back."""
        with self._lock:
            dispute = self.get(dispute_id, "dispute")
            dispute["status"] = "won" if won else "lost"
            if won:
                dispute["balance_transactions"].append(self._txn(
                    dispute["amount"], dispute["currency"], "adjustment", dispute["id"]))
            self._emit("charge.dispute.closed", dispute)
            return deepcopy(dispute)

    def add_balance_transaction(self, amount: int, currency: str, type_: str = "adjustment",
                                ) -> Obj:
        """Test helper: money moved on the platform's balance outside the market."""
        with self._lock:
            return deepcopy(self._txn(amount, currency, type_, self.new_id("adj")))

    # -- serving ------------------------------------------------------------------------

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Run on a free loopback port in a thread; yields the base URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer = fake.handle(self.command, parts.path, parts.query, body,
                                             headers)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(8))
                if headers.get("idempotency-key"):
                    self.send_header("Idempotency-Key", headers["idempotency-key"])
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.url = f"http://{host}:{server.server_address[1]}"
        try:
            yield self.url
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
