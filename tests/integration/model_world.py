"""What the stateful models share: the budget read from the environment, the world they
trade in (built once per test through the services), a clock that can be set back for the
next example, and the invariants checked against the database after every step.

Budget (CI runs the defaults, on SQLite and on PostgreSQL):

* ``MARKET_MODEL_SEED``: Hypothesis' seed (default 17), printed with any failure;
* ``MARKET_MODEL_EXAMPLES``: runs of the machine per test (default 10);
* ``MARKET_MODEL_STEPS``: steps per run (default 30).

``make model`` runs a long hunt with other values (see the Makefile).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hypothesis import HealthCheck, Phase, settings
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from market.kernel.audit import AuditEntry, AuditHead, entry_hash, verify_chain
from market.kernel.clock import FixedClock
from market.kernel.outbox import DONE, PENDING, OutboxMessage
from market.listing.domain import OfferKind, OfferSpec
from market.settlement import ledger
from market.settlement.domain import PLATFORM, AccountKind
from market.settlement.models import Account, Allocation, Payout
from market.settlement.services import OFFLINE
from market.trading.models import Dispute, Order, OrderEvent
from market.webhooks.models import Event
from tests.conftest import Party
from tests.integration.model_book import ALLOWED, TERMINAL, Book, Product
from tests.integration.trading_fixtures import Market

SEED = int(os.environ.get("MARKET_MODEL_SEED", "17"))
EXAMPLES = int(os.environ.get("MARKET_MODEL_EXAMPLES", "10"))
STEPS = int(os.environ.get("MARKET_MODEL_STEPS", "30"))
REPRODUCE = f"reproduce with MARKET_MODEL_SEED={SEED} MARKET_MODEL_EXAMPLES={EXAMPLES} " \
            f"MARKET_MODEL_STEPS={STEPS}"

# MARKET_MODEL_SHRINK=0: report a failure as found, without minimising it (faster).
SHRINK = os.environ.get("MARKET_MODEL_SHRINK", "1") != "0"
BUDGET = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                  database=None, suppress_health_check=list(HealthCheck), print_blob=False,
                  phases=[p for p in Phase if SHRINK or p not in (Phase.shrink, Phase.explain)])

PRICES = (100_000, 300_000)  # whole percents of each are exact shares (see model_book)
FUNDS = 400_000
LIMITED = 2  # units of the second product's offer


class ModelClock(FixedClock):
    """A fixed clock the model sets back to the world's time before each run."""

    def set(self, at: datetime) -> None:
        self._at = at


@dataclass
class World:
    """Built once per test: two listed products on two rights chains (the second offer
    limited to two units), three buyers with money, the operator."""

    market: Market
    products: list[Product]
    buyers: list[Party]
    payees: list[Party]
    start: datetime

    @property
    def operator(self) -> Party:
        return self.market.rights.operator


def build_world(market: Market) -> World:
    rights, shop = market.rights, market.shop
    products = []
    for n, price in enumerate(PRICES):
        chain = rights.chain(f"holder{n}", f"grantee{n}")
        shop.listed(chain, offers=[("标准版", OfferSpec(
            OfferKind.ONE_TIME, amount=price, quantity=LIMITED if n else None))],
            delivery_modes=["api", "file"])
        products.append(Product(chain.product_id, market.offer_id(chain), price,
                                chain.holder.org_id, chain.grantee.org_id,
                                LIMITED if n else None))
    buyers = [market.buyer(f"buyer{n}", funds=FUNDS) for n in range(3)]
    payees = [rights.party(name) for n in range(len(PRICES))
              for name in (f"holder{n}", f"grantee{n}")]
    # What building the world queued (rights, listings, top-ups) is not the model's: the
    # model's workers see only the messages its own steps make.
    with rights.session_factory() as session, session.begin():
        session.execute(update(OutboxMessage).where(OutboxMessage.status == PENDING)
                        .values(status=DONE, processed_at=rights.clock.now()))
    return World(market, products, buyers, payees, rights.clock.now())


def _balances(session: Session) -> dict[tuple[str, str, str], tuple[int, int]]:
    return {(kind, owner, ref): (int(balance), int(pending)) for kind, owner, ref, balance,
            pending in session.execute(select(Account.kind, Account.owner, Account.ref,
                                              Account.balance, Account.pending_out))}


def new_book(world: World, session: Session) -> Book:
    """The model of the world as built: balances read once, nothing traded yet."""
    held = _balances(session)

    def balance(kind: AccountKind, owner: str, ref: str = "") -> int:
        return held.get((kind.value, owner, ref), (0, 0))[0]

    return Book(
        products=list(world.products),
        available={b.org_id: balance(AccountKind.AVAILABLE, b.org_id) for b in world.buyers},
        net={p.org_id: balance(AccountKind.PAYABLE, p.org_id)
             + balance(AccountKind.RECEIVABLE, p.org_id) for p in world.payees},
        fee=balance(AccountKind.FEE_REVENUE, PLATFORM),
        clearing=balance(AccountKind.RAIL_CLEARING, PLATFORM, OFFLINE))


# -- invariants -------------------------------------------------------------------------------


def check_ledger(session: Session) -> None:
    """``market ledger verify``'s check: journals balance, cached balances equal the
    postings, no non-negative account below zero, reservations equal pending holds, closed
    escrows empty, each currency sums to zero."""
    found = ledger.verify(session)
    assert found.ok, found.problems


def check_audit(session: Session) -> None:
    """``market audit verify``'s check: the hash chain recomputes to its head."""
    found = verify_chain(session)
    assert found.ok, found.as_dict()


@dataclass
class AuditCursor:
    """How far the chain has been verified: the last entry's number and hash."""

    seq: int
    hash: str


def audit_cursor(session: Session) -> AuditCursor:
    """The whole chain verified (:func:`check_audit`); where it ends."""
    check_audit(session)
    seq, head = session.execute(select(AuditHead.seq, AuditHead.hash)).one()
    return AuditCursor(int(seq), str(head))


def check_audit_since(session: Session, cursor: AuditCursor) -> AuditCursor:
    """The entries written since ``cursor`` recompute and link onto it, up to the head (the
    per-step part of :func:`check_audit`; the whole chain is verified at each run's end)."""
    seq, head = session.execute(select(AuditHead.seq, AuditHead.hash)).one()
    at, prev = cursor.seq, cursor.hash
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.seq > cursor.seq)
                                 .order_by(AuditEntry.seq)):
        assert entry.seq == at + 1, ("audit entry missing", at + 1)
        assert entry.prev_hash == prev, ("audit link", entry.seq)
        assert entry.hash == entry_hash(
            seq=entry.seq, at=entry.at, actor_kind=entry.actor_kind,
            actor_label=entry.actor_label, actor_user_id=entry.actor_user_id,
            actor_org_id=entry.actor_org_id, action=entry.action,
            object_type=entry.object_type, object_id=entry.object_id,
            state_digest=entry.state_digest, request_id=entry.request_id,
            prev_hash=entry.prev_hash), ("audit entry altered", entry.seq)
        at, prev = entry.seq, entry.hash
    assert (at, prev) == (int(seq), str(head)), ("audit head", at, seq)
    return AuditCursor(at, prev)


def check_balances(book: Book, session: Session) -> None:
    """Every balance the model knows equals the ledger's, and the escrow accounts hold
    exactly the paid and unsettled orders' prices."""
    held = _balances(session)

    def balance(kind: AccountKind, owner: str, ref: str = "") -> tuple[int, int]:
        return held.get((kind.value, owner, ref), (0, 0))

    for buyer, amount in book.available.items():
        assert balance(AccountKind.AVAILABLE, buyer)[0] == amount, ("available", buyer)
    for payee, amount in book.net.items():
        payable, pending = balance(AccountKind.PAYABLE, payee)
        receivable = balance(AccountKind.RECEIVABLE, payee)[0]
        assert payable + receivable == amount, ("earned", payee, payable, receivable, amount)
        assert pending == book.pending.get(payee, 0), ("reserved", payee, pending)
        assert receivable <= 0 <= payable - pending, ("payee", payee, payable, receivable)
    assert balance(AccountKind.FEE_REVENUE, PLATFORM)[0] == book.fee, "platform fee"
    assert balance(AccountKind.RAIL_CLEARING, PLATFORM, OFFLINE)[0] == book.clearing, "rail"
    escrows = {ref: amount for (kind, _, ref), (amount, _) in held.items()
               if kind == AccountKind.ESCROW.value}
    for order in book.orders.values():
        assert escrows.get(order.id, 0) == order.escrow, ("escrow", order.id, order.status)
    assert sum(escrows.values()) == book.escrow_total(), "escrow holds only unsettled orders"
    closed = dict(session.execute(select(Account.ref, Account.closed_at).where(
        Account.kind == AccountKind.ESCROW.value)).all())
    for order in book.orders.values():
        if order.status in TERMINAL and order.id in closed:
            assert closed[order.id] is not None, ("escrow left open", order.id)


def check_orders(book: Book, session: Session) -> None:
    """Each order's state, refunds and allocations equal the model's; its history is one
    path through DESIGN.md's state machine ending in its state."""
    ids = list(book.orders)
    if not ids:
        return
    rows = {o.id: (o.status, o.refunded_amount) for o in session.scalars(
        select(Order).where(Order.id.in_(ids)))}
    for order in book.orders.values():
        assert rows[order.id] == (order.status, order.refunded), (order.id, rows[order.id],
                                                                   order.status, order.refunded)
    moves: dict[str, dict[str | None, str]] = defaultdict(dict)
    for order_id, before, after in session.execute(select(
            OrderEvent.order_id, OrderEvent.from_status, OrderEvent.to_status).where(
            OrderEvent.order_id.in_(ids))):
        assert before not in moves[order_id], ("two moves out of", before, order_id)
        assert after in ALLOWED[before], ("a move DESIGN.md does not allow", before, after)
        moves[order_id][before] = after
    for order in book.orders.values():
        path, at = moves[order.id], None
        for _ in range(len(path)):
            at = path[at]
        assert at == order.status, (order.id, path)
        assert len(set(path.values())) == len(path), (order.id, path)
    lines: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for order_id, org, amount, refunded in session.execute(select(
            Allocation.order_id, Allocation.org_id, Allocation.amount, Allocation.refunded)
            .where(Allocation.order_id.in_(ids))):
        lines[order_id][org] += amount - refunded
    for order in book.orders.values():
        kept = order.price - order.refunded
        expected = order.product.shares(kept) | {PLATFORM: order.product.fee(kept)} \
            if order.status == "settled" else {}
        assert dict(lines.get(order.id, {})) == expected, ("allocations", order.id)


def check_disputes_and_payouts(book: Book, session: Session) -> None:
    if book.disputes:
        found = {d.id: (d.status, d.carried_out_at is not None) for d in session.scalars(
            select(Dispute).where(Dispute.id.in_(list(book.disputes))))}
        for dispute in book.disputes.values():
            carried = dispute.status == "carried_out"
            status = "decided" if carried else dispute.status
            assert found[dispute.id] == (status, carried), (dispute, found[dispute.id])
    if book.payouts:
        paid = dict(session.execute(select(Payout.id, Payout.status).where(
            Payout.id.in_(list(book.payouts)))).all())
        assert paid == {p.id: p.status for p in book.payouts.values()}, "payouts"


def check_outbox(session: Session, buyers_and_sellers: dict[str, set[str]]) -> None:
    """Every message is pending or done (none failed or died), and each done order message
    made its event for the buyer and the seller exactly once."""
    failed = session.execute(select(OutboxMessage.id, OutboxMessage.topic,
                                    OutboxMessage.last_error).where(
        (OutboxMessage.status.not_in([PENDING, DONE]))
        | OutboxMessage.last_error.is_not(None))).all()
    assert not failed, failed
    done: dict[str, dict[str, object]] = dict(session.execute(select(
        OutboxMessage.id, OutboxMessage.payload).where(
        OutboxMessage.status == DONE, OutboxMessage.topic.like("order.%"))).all())
    made: dict[str, list[str]] = defaultdict(list)
    for message_id, org in session.execute(select(Event.message_id, Event.org_id).where(
            Event.message_id.in_(list(done)))):
        made[message_id].append(org)
    for message_id, payload in done.items():
        parties = buyers_and_sellers.get(str(payload.get("order_id")))
        if parties is not None:
            assert sorted(made[message_id]) == sorted(parties), (message_id, made[message_id])


def outbox_counts(session: Session) -> dict[str, int]:
    return {status: int(n) for status, n in session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))}


def parties_of(book: Book) -> dict[str, set[str]]:
    return {o.id: {o.buyer, o.product.seller} for o in book.orders.values()}


def pick(items: Iterable[str], index: int) -> str | None:
    ordered = sorted(items)
    return ordered[index % len(ordered)] if ordered else None
