"""The pure-Python model the stateful tests hold the market to: orders, their money and
their deadlines, written from DESIGN.md's state machine and money flow without the
market's code.

It says what each use case must answer (``None`` for success, else the problem ``code``)
and, when it succeeds, what changes: order states, each buyer's available balance, each
order's escrow, each payee's net earnings (payable plus receivable), what payouts reserve,
the platform's fee, the rail's clearing account and the units a limited offer has left.
Shares follow the default split (platform fee 1 % of the price, resource holder 10 % and
processor 10 % of the rest, the merchant the remainder), and refunds are whole percents of
the price, so every share is an exact integer and the model needs no rounding rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

PAYMENT_WINDOW = timedelta(hours=24)
DELIVERY_WINDOW = timedelta(days=7)
ACCEPTANCE_WINDOW = timedelta(hours=72)
ANSWER_WINDOW = timedelta(hours=72)
PAYOUT_TTL = timedelta(days=14)

FEE = Fraction(1, 100)
HOLDER = (1 - FEE) * Fraction(1, 10)
PROCESSOR = (1 - FEE) * Fraction(1, 10)
MERCHANT = 1 - FEE - HOLDER - PROCESSOR

# DESIGN.md, "Main state machines", Order (created → paid directly only for a free order).
ALLOWED: dict[str | None, frozenset[str]] = {
    None: frozenset({"created"}),
    "created": frozenset({"awaiting_payment", "paid", "cancelled"}),
    "awaiting_payment": frozenset({"paid", "cancelled"}),
    "paid": frozenset({"delivered", "disputed", "refunded"}),
    "delivered": frozenset({"accepted", "disputed"}),
    "accepted": frozenset({"settled"}),
    "disputed": frozenset({"resolved"}),
    "resolved": frozenset({"settled", "refunded"}),
    "settled": frozenset(), "cancelled": frozenset(), "refunded": frozenset(),
}
TERMINAL = frozenset(status for status, targets in ALLOWED.items() if status and not targets)
HELD = frozenset({"paid", "delivered", "disputed"})  # the price is in the order's escrow

INVALID = "invalid_transition"


@dataclass(frozen=True)
class Product:
    id: str
    offer_id: str
    price: int
    holder: str  # the resource holder's organisation
    seller: str  # processor and merchant: the chain's grantee
    quantity: int | None = None

    def shares(self, amount: int) -> dict[str, int]:
        """What each payee earns of ``amount`` billed (exact: see the module)."""
        exact = {self.holder: HOLDER * amount, self.seller: (PROCESSOR + MERCHANT) * amount}
        assert all(part.denominator == 1 for part in exact.values()), (amount, exact)
        return {org: int(part) for org, part in exact.items()}

    def fee(self, amount: int) -> int:
        part = FEE * amount
        assert part.denominator == 1
        return int(part)


@dataclass
class Dispute:
    id: str
    order_id: str
    answer_by: datetime
    window: timedelta  # the escalation window its decision waits for
    status: str = "open"  # open, answered, unanswered, decided, carried_out
    outcome: str | None = None
    refund: int = 0
    escalate_by: datetime | None = None


@dataclass
class Order:
    id: str
    buyer: str
    product: Product
    status: str
    pay_by: datetime
    deliver_by: datetime | None = None
    accept_by: datetime | None = None
    refunded: int = 0
    dispute: str | None = None

    @property
    def price(self) -> int:
        return self.product.price

    @property
    def escrow(self) -> int:
        return self.price if self.status in HELD else 0


@dataclass
class Payout:
    id: str
    org: str
    amount: int
    expires_at: datetime
    status: str = "requested"


@dataclass
class Book:
    """The market as the model sees it; ``baseline`` balances are read once from the world."""

    products: list[Product]
    available: dict[str, int]
    net: dict[str, int]  # payee: payable + receivable
    fee: int
    clearing: int
    pending: dict[str, int] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    disputes: dict[str, Dispute] = field(default_factory=dict)
    payouts: dict[str, Payout] = field(default_factory=dict)
    top_ups: dict[str, tuple[str, int]] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)  # units taken per product

    # -- expectations: None when the use case must succeed, else its problem code -------

    def expect_place(self, product: Product) -> str | None:
        if product.quantity is not None and self.units.get(product.id, 0) >= product.quantity:
            return "sold_out"
        return None

    def expect_pay(self, order: Order, now: datetime) -> str | None:
        if order.status != "awaiting_payment":
            return INVALID
        if now >= order.pay_by:
            return "payment_window_closed"
        if self.available[order.buyer] < order.price:
            return "insufficient_funds"
        return None

    def expect_cancel(self, order: Order) -> str | None:
        return None if order.status in ("created", "awaiting_payment") else INVALID

    def expect_deliver(self, order: Order, now: datetime) -> str | None:
        if order.status != "paid":
            return INVALID
        assert order.deliver_by is not None
        return "delivery_window_closed" if now >= order.deliver_by else None

    def expect_accept(self, order: Order) -> str | None:
        return None if order.status == "delivered" else INVALID

    def expect_dispute(self, order: Order, now: datetime) -> str | None:
        if order.accept_by is not None and now >= order.accept_by:
            return "dispute_window_closed"
        return None if order.status in ("paid", "delivered") else INVALID

    def expect_answer(self, dispute: Dispute, now: datetime) -> str | None:
        return None if dispute.status == "open" and now < dispute.answer_by \
            else "dispute_not_open"

    def expect_decide(self, dispute: Dispute, now: datetime) -> str | None:
        if dispute.status in ("decided", "carried_out"):
            return "dispute_not_open"
        if dispute.status == "open" and now < dispute.answer_by:
            return "dispute_awaiting_answer"
        return None

    def expect_refund(self, order: Order, amount: int) -> str | None:
        if order.status != "settled":
            return "order_not_settled"
        return "refund_exceeds_paid" if amount > order.price - order.refunded else None

    def spendable(self, org: str) -> int:
        return self.net.get(org, 0) - self.pending.get(org, 0)

    def expect_payout(self, org: str, amount: int) -> str | None:
        return None if amount <= self.spendable(org) else "insufficient_funds"

    def expect_resolve_payout(self, payout: Payout) -> str | None:
        return None if payout.status == "requested" else INVALID

    def expect_top_up(self, org: str, amount: int, reference: str) -> str | None:
        seen = self.top_ups.get(reference)
        return None if seen is None or seen == (org, amount) else "top_up_reference_reused"

    # -- effects --------------------------------------------------------------------------

    def placed(self, order_id: str, buyer: str, product: Product, now: datetime) -> Order:
        if product.quantity is not None:
            self.units[product.id] = self.units.get(product.id, 0) + 1
        order = Order(order_id, buyer, product, "awaiting_payment", now + PAYMENT_WINDOW)
        self.orders[order_id] = order
        return order

    def paid(self, order: Order, now: datetime) -> None:
        self.available[order.buyer] -= order.price
        order.status, order.deliver_by = "paid", now + DELIVERY_WINDOW

    def _give_back_unit(self, order: Order) -> None:
        if order.product.quantity is not None:
            self.units[order.product.id] -= 1

    def cancelled(self, order: Order) -> None:
        order.status = "cancelled"
        self._give_back_unit(order)

    def delivered(self, order: Order, now: datetime) -> None:
        order.status, order.accept_by = "delivered", now + ACCEPTANCE_WINDOW

    def settled(self, order: Order, refund: int = 0) -> None:
        """The escrow is split by the shares, less a dispute's refund taken in proportion."""
        billed = order.price - refund
        for org, part in order.product.shares(billed).items():
            self.net[org] = self.net.get(org, 0) + part
        self.fee += order.product.fee(billed)
        self.available[order.buyer] += refund
        order.status, order.refunded = "settled", refund

    def refunded_in_full(self, order: Order) -> None:
        self.available[order.buyer] += order.price
        order.status, order.refunded = "refunded", order.price
        self._give_back_unit(order)

    def refunded_after_settlement(self, order: Order, amount: int) -> None:
        for org, part in order.product.shares(amount).items():
            self.net[org] -= part
        self.fee -= order.product.fee(amount)
        self.available[order.buyer] += amount
        order.refunded += amount

    def disputed(self, order: Order, dispute_id: str, now: datetime,
                 window: timedelta) -> Dispute:
        order.status, order.dispute = "disputed", dispute_id
        dispute = Dispute(dispute_id, order.id, now + ANSWER_WINDOW, window)
        self.disputes[dispute_id] = dispute
        return dispute

    def decided(self, dispute: Dispute, outcome: str, refund: int, now: datetime) -> None:
        dispute.status, dispute.outcome, dispute.refund = "decided", outcome, refund
        dispute.escalate_by = now + dispute.window
        if not dispute.window:
            self.carry_out(dispute)

    def carry_out(self, dispute: Dispute) -> None:
        order = self.orders[dispute.order_id]
        dispute.status = "carried_out"
        if dispute.outcome == "full_refund":
            self.refunded_in_full(order)
        else:
            self.settled(order, dispute.refund)

    def payout_requested(self, payout_id: str, org: str, amount: int, now: datetime) -> None:
        self.pending[org] = self.pending.get(org, 0) + amount
        self.payouts[payout_id] = Payout(payout_id, org, amount, now + PAYOUT_TTL)

    def payout_resolved(self, payout: Payout, status: str) -> None:
        self.pending[payout.org] -= payout.amount
        payout.status = status
        if status == "paid":
            self.net[payout.org] -= payout.amount
            self.clearing += payout.amount

    def topped_up(self, org: str, amount: int, reference: str) -> None:
        if reference not in self.top_ups:
            self.top_ups[reference] = (org, amount)
            self.available[org] += amount
            self.clearing -= amount

    # -- the worker's deadline sweep --------------------------------------------------------

    def sweep(self, now: datetime) -> dict[str, set[str]]:
        """What the deadline sweep must do at ``now``, done to the model; returns the ids
        by duty, as the sweep reports them."""
        done: dict[str, set[str]] = {"cancelled": set(), "refunded": set(),
                                     "auto_accepted": set(), "unanswered": set(),
                                     "decisions_carried_out": set(), "payouts_expired": set()}
        for order in self.orders.values():
            if order.status == "awaiting_payment" and order.pay_by <= now:
                self.cancelled(order)
                done["cancelled"].add(order.id)
            elif order.status == "paid" and order.deliver_by and order.deliver_by <= now:
                self.refunded_in_full(order)
                done["refunded"].add(order.id)
            elif order.status == "delivered" and order.accept_by and order.accept_by <= now:
                self.settled(order)
                done["auto_accepted"].add(order.id)
        for dispute in self.disputes.values():
            if dispute.status == "open" and dispute.answer_by <= now:
                dispute.status = "unanswered"
                done["unanswered"].add(dispute.id)
            if dispute.status == "decided" and dispute.escalate_by \
                    and dispute.escalate_by <= now:
                self.carry_out(dispute)
                done["decisions_carried_out"].add(dispute.id)
        for payout in self.payouts.values():
            if payout.status == "requested" and payout.expires_at <= now:
                self.payout_resolved(payout, "expired")
                done["payouts_expired"].add(payout.id)
        return done

    # -- what the ledger must hold ------------------------------------------------------------

    def escrow_total(self) -> int:
        return sum(order.escrow for order in self.orders.values())
