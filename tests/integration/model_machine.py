"""The stateful model of the market (Hypothesis ``RuleBasedStateMachine``), shared by the
service variant (``tests/integration/test_stateful_model.py``) and the HTTP variant
(``tests/api/test_stateful_api.py``), which differ only in their :class:`Driver`.

Each rule asks the pure-Python :class:`Book` what a use case must answer in the current
state (success, or the problem code), performs it through the driver, compares, and moves
the book when it succeeded. Orders, disputes and payouts are picked among all that exist,
in any state, so events arrive in every order: a payment after the order was cancelled or
auto-accepted, an acceptance before the delivery, a decision before the answer, a refund
before settlement, a payout confirmed twice. Besides the use cases: the clock moves and the
worker's deadline sweep runs (and runs again, changing nothing); the outbox is drained by a
worker, or claimed by one that dies mid-way (its consumers may have run) and recovered by
another after the lease; a unit of work crashes after writing, and the same call is retried.

After every step the invariants hold (see :mod:`tests.integration.model_world`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from unittest import mock

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.actor import system_actor
from market.kernel.audit import AuditLog
from market.kernel.outbox import Consumer, Worker
from market.kernel.uow import UnitOfWork
from market.settlement import ledger
from market.settlement import services as settlement
from market.trading import services as trading
from tests.integration import model_world as checks
from tests.integration.model_book import Dispute, Order
from tests.integration.model_world import REPRODUCE, ModelClock, World

LEASE = 60
OUTCOMES = ("release", "partial_refund", "full_refund")
CRASH_POINTS = ("before_commit", "after_journal")
NEXT = ("awaiting_payment", "paid", "delivered")
FITS = {"pay": ("awaiting_payment",), "deliver": ("paid",), "accept": ("delivered",),
        "refund": ("settled",)}


class Crash(Exception):
    """Injected: the process died at this point of the use case."""


@dataclass(frozen=True)
class Outcome:
    """What a use case answered: ``code`` is None on success (``value``: the new id)."""

    code: str | None
    value: str | None = None


class Driver(Protocol):
    def top_up(self, org: str, amount: int, reference: str) -> Outcome: ...
    def place(self, buyer: str, product_index: int) -> Outcome: ...
    def pay(self, order: Order) -> Outcome: ...
    def cancel(self, order: Order) -> Outcome: ...
    def deliver(self, order: Order) -> Outcome: ...
    def accept(self, order: Order) -> Outcome: ...
    def open_dispute(self, order: Order, instant: bool) -> Outcome: ...
    def answer(self, dispute_id: str, seller: str) -> Outcome: ...
    def decide(self, dispute_id: str, outcome: str, refund: int | None) -> Outcome: ...
    def refund(self, order: Order, amount: int, goodwill: bool) -> Outcome: ...
    def request_payout(self, org: str, amount: int) -> Outcome: ...
    def resolve_payout(self, payout_id: str, confirm: bool) -> Outcome: ...
    def dispute_window(self, instant: bool) -> timedelta: ...


@dataclass
class Context:
    """What one test hands its machines: the world, the test's connection (each run is a
    savepoint of it, rolled back at teardown), the clock and the worker's consumers."""

    world: World
    connection: Connection
    clock: ModelClock
    consumers: dict[str, Consumer]
    driver: Callable[[MarketModel], Driver]
    runs: int = 0
    seen: Counter[str] = field(default_factory=Counter)  # what steps answered, by kind
    checked: int = 0  # invariant passes: one after each run's start and after each step

    @property
    def steps(self) -> int:
        return self.checked - self.runs

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.world.market.rights.session_factory


@contextlib.contextmanager
def crashing(point: str) -> Iterator[None]:
    """The next use case dies at ``point``: ``after_journal``, once the first ledger journal
    it posts is written; ``before_commit``, once everything is written and flushed, as its
    audit entries are chained (the last thing a unit of work does before committing)."""
    if point == "after_journal":
        real = ledger.transfer

        def transfer(*args: Any, **kwargs: Any) -> Any:
            real(*args, **kwargs)
            raise Crash("after the first journal")

        with mock.patch.object(ledger, "transfer", transfer):
            yield
        return
    real_write = AuditLog.write

    def write(log: AuditLog) -> int | None:
        if log.pending:
            raise Crash("before the commit")
        return real_write(log)

    with mock.patch.object(AuditLog, "write", write):
        yield


class MarketModel(RuleBasedStateMachine):
    def __init__(self, context: Context) -> None:
        super().__init__()
        note(REPRODUCE)
        self.context = context
        self.world = context.world
        self.clock = context.clock
        self.clock.set(self.world.start)
        self.savepoint = context.connection.begin_nested()
        with self.session() as session:
            self.book = checks.new_book(self.world, session)
            self.audited = checks.audit_cursor(session)
        self.driver = context.driver(self)
        self.crash_before_commit = False  # read by drivers that make their units of work
        context.runs += 1
        if context.runs % 100 == 0:  # progress of a long run (make model)
            print(f"model: {context.runs} runs, {context.steps} steps", flush=True)
        self.doomed = 0
        self.held = False  # a dead worker's claims wait for their lease
        self.references: list[str] = []

    def teardown(self) -> None:
        with self.session() as session:
            checks.check_audit(session)
        self.savepoint.rollback()

    def session(self) -> Session:
        return self.context.sessions()

    def system(self, label: str = "worker") -> UnitOfWork:
        return UnitOfWork(self.context.sessions, self.clock, system_actor(label))

    def order(self, index: int, fit: int = 0, *statuses: str) -> Order | None:
        """The ``index``-th order; unless ``fit`` is 0, among those in ``statuses`` if any
        is (so most steps move orders on, and the rest arrive out of order)."""
        ids = list(self.book.orders)
        if fit and statuses:
            ids = [o.id for o in self.book.orders.values() if o.status in statuses] or ids
        found = checks.pick(ids, index)
        return self.book.orders[found] if found else None

    def dispute(self, index: int, fit: int, *statuses: str) -> Dispute:
        ids = list(self.book.disputes)
        if fit and statuses:
            ids = [d.id for d in self.book.disputes.values() if d.status in statuses] or ids
        return self.book.disputes[checks.pick(ids, index) or ""]

    def expect(self, got: Outcome, expected: str | None, what: str) -> None:
        self.context.seen[f"{what}: {got.code or 'ok'}"] += 1
        assert got.code == expected, f"{what}: answered {got.code!r}, the model expects " \
                                     f"{expected!r}"

    # -- participants and money in -----------------------------------------------------------

    @rule(buyer=st.integers(0, 2), amount=st.sampled_from([50_000, 100_000, 300_000]),
          again=st.integers(0, 9))
    def top_up(self, buyer: int, amount: int, again: int) -> None:
        """The operator records a bank transfer; a notification delivered twice (the same
        bank reference) is recorded once, the same reference for another amount refused."""
        org = self.world.buyers[buyer].org_id
        if self.references and again < 4:
            reference = self.references[again % len(self.references)]
        else:
            reference = f"BANK-MODEL-{len(self.references)}"
            self.references.append(reference)
        expected = self.book.expect_top_up(org, amount, reference)
        self.expect(self.driver.top_up(org, amount, reference), expected, "top-up")
        if expected is None:
            self.book.topped_up(org, amount, reference)

    # -- orders ----------------------------------------------------------------------------

    @rule(buyer=st.integers(0, 2), product=st.integers(0, 1))
    def place(self, buyer: int, product: int) -> None:
        org = self.world.buyers[buyer].org_id
        expected = self.book.expect_place(self.book.products[product])
        got = self.driver.place(org, product)
        self.expect(got, expected, "place")
        if expected is None:
            assert got.value is not None
            self.book.placed(got.value, org, self.book.products[product], self.clock.now())

    @precondition(lambda self: self.book.orders)
    @rule(index=st.integers(0, 63), fit=st.integers(0, 3), twice=st.booleans())
    def pay(self, index: int, fit: int, twice: bool) -> None:
        """The buyer pays; paying again (a duplicate confirmation) changes nothing."""
        order = self.order(index, fit, "awaiting_payment")
        assert order is not None
        expected = self.book.expect_pay(order, self.clock.now())
        self.expect(self.driver.pay(order), expected, "pay")
        if expected is None:
            self.book.paid(order, self.clock.now())
        if twice:
            self.expect(self.driver.pay(order), self.book.expect_pay(order, self.clock.now()),
                        "pay again")

    @precondition(lambda self: self.book.orders)
    @rule(index=st.integers(0, 63), fit=st.integers(0, 1))
    def cancel(self, index: int, fit: int) -> None:
        order = self.order(index, fit, "awaiting_payment")
        assert order is not None
        expected = self.book.expect_cancel(order)
        self.expect(self.driver.cancel(order), expected, "cancel")
        if expected is None:
            self.book.cancelled(order)

    @precondition(lambda self: self.book.orders)
    @rule(index=st.integers(0, 63), fit=st.integers(0, 3))
    def deliver(self, index: int, fit: int) -> None:
        order = self.order(index, fit, "paid")
        assert order is not None
        expected = self.book.expect_deliver(order, self.clock.now())
        self.expect(self.driver.deliver(order), expected, "deliver")
        if expected is None:
            self.book.delivered(order, self.clock.now())

    @precondition(lambda self: self.book.orders)
    @rule(index=st.integers(0, 63), fit=st.integers(0, 3), twice=st.booleans())
    def accept(self, index: int, fit: int, twice: bool) -> None:
        order = self.order(index, fit, "delivered")
        assert order is not None
        expected = self.book.expect_accept(order)
        self.expect(self.driver.accept(order), expected, "accept")
        if expected is None:
            self.book.settled(order)
        if twice:
            self.expect(self.driver.accept(order), self.book.expect_accept(order),
                        "accept again")

    @precondition(lambda self: any(o.status in NEXT for o in self.book.orders.values()))
    @rule(index=st.integers(0, 63), steps=st.integers(1, 3))
    def progress(self, index: int, steps: int) -> None:
        """An order's ordinary life, a few steps on: paid, delivered, accepted."""
        order = self.order(index, 1, *NEXT)
        assert order is not None
        for _ in range(steps):
            now = self.clock.now()
            if order.status == "awaiting_payment":
                expected = self.book.expect_pay(order, now)
                self.expect(self.driver.pay(order), expected, "pay")
                if expected is None:
                    self.book.paid(order, now)
            elif order.status == "paid":
                expected = self.book.expect_deliver(order, now)
                self.expect(self.driver.deliver(order), expected, "deliver")
                if expected is None:
                    self.book.delivered(order, now)
            elif order.status == "delivered":
                expected = self.book.expect_accept(order)
                self.expect(self.driver.accept(order), expected, "accept")
                self.book.settled(order)
            else:
                return
            if expected is not None:
                return

    # -- disputes and refunds ----------------------------------------------------------------

    @precondition(lambda self: self.book.orders)
    @rule(index=st.integers(0, 63), fit=st.integers(0, 3), instant=st.booleans())
    def open_dispute(self, index: int, fit: int, instant: bool) -> None:
        order = self.order(index, fit, "paid", "delivered")
        assert order is not None
        expected = self.book.expect_dispute(order, self.clock.now())
        got = self.driver.open_dispute(order, instant)
        self.expect(got, expected, "open a dispute")
        if expected is None:
            assert got.value is not None
            self.book.disputed(order, got.value, self.clock.now(),
                               self.driver.dispute_window(instant))

    @precondition(lambda self: self.book.disputes)
    @rule(index=st.integers(0, 63), fit=st.integers(0, 3))
    def answer(self, index: int, fit: int) -> None:
        dispute = self.dispute(index, fit, "open")
        seller = self.book.orders[dispute.order_id].product.seller
        expected = self.book.expect_answer(dispute, self.clock.now())
        self.expect(self.driver.answer(dispute.id, seller), expected, "answer")
        if expected is None:
            dispute.status = "answered"

    @precondition(lambda self: self.book.disputes)
    @rule(index=st.integers(0, 63), fit=st.integers(0, 3), outcome=st.sampled_from(OUTCOMES),
          percent=st.integers(1, 99))
    def decide(self, index: int, fit: int, outcome: str, percent: int) -> None:
        dispute = self.dispute(index, fit, "answered", "unanswered")
        order = self.book.orders[dispute.order_id]
        refund = order.price * percent // 100 if outcome == "partial_refund" else None
        expected = self.book.expect_decide(dispute, self.clock.now())
        self.expect(self.driver.decide(dispute.id, outcome, refund), expected, "decide")
        if expected is None:
            full = order.price if outcome == "full_refund" else 0
            self.book.decided(dispute, outcome, refund or full, self.clock.now())

    @precondition(lambda self: self.book.orders)
    @rule(index=st.integers(0, 63), fit=st.integers(0, 3), percent=st.integers(1, 120),
          goodwill=st.booleans())
    def refund(self, index: int, fit: int, percent: int, goodwill: bool) -> None:
        """A refund after settlement, by the merchant or the operator; beyond what is left
        it is refused."""
        order = self.order(index, fit, "settled")
        assert order is not None
        amount = order.price * percent // 100
        expected = self.book.expect_refund(order, amount)
        self.expect(self.driver.refund(order, amount, goodwill), expected, "refund")
        if expected is None:
            self.book.refunded_after_settlement(order, amount)

    # -- payouts -----------------------------------------------------------------------------

    @precondition(lambda self: any(self.book.spendable(p.org_id) > 0
                                   for p in self.world.payees))
    @rule(payee=st.integers(0, 3), percent=st.integers(1, 130))
    def request_payout(self, payee: int, percent: int) -> None:
        org = self.world.payees[payee].org_id
        amount = max(self.book.spendable(org) * percent // 100, 1)
        expected = self.book.expect_payout(org, amount)
        got = self.driver.request_payout(org, amount)
        self.expect(got, expected, "request a payout")
        if expected is None:
            assert got.value is not None
            self.book.payout_requested(got.value, org, amount, self.clock.now())

    @precondition(lambda self: self.book.payouts)
    @rule(index=st.integers(0, 63), fit=st.integers(0, 3), confirm=st.booleans())
    def resolve_payout(self, index: int, fit: int, confirm: bool) -> None:
        ids = [p.id for p in self.book.payouts.values() if p.status == "requested" or not fit]
        payout = self.book.payouts[checks.pick(ids or self.book.payouts, index) or ""]
        expected = self.book.expect_resolve_payout(payout)
        self.expect(self.driver.resolve_payout(payout.id, confirm), expected, "payout")
        if expected is None:
            self.book.payout_resolved(payout, "paid" if confirm else "rejected")

    # -- time and the worker ---------------------------------------------------------------

    # at most 28 days on: the test parties' API keys last 30
    @precondition(lambda self: self.clock.now() - self.world.start < timedelta(days=14))
    @rule(hours=st.sampled_from([1, 6, 23, 24, 25, 48, 72, 73, 24 * 7, 24 * 14]),
          again=st.booleans())
    def advance_and_sweep(self, hours: int, again: bool) -> None:
        """The clock moves and the worker enforces the deadlines (a second pass right after,
        as two workers would, does nothing)."""
        self.clock.advance(timedelta(hours=hours))
        expected = self.book.sweep(self.clock.now())
        for _ in range(2 if again else 1):
            run = trading.run_deadlines(uow=self.system()).as_dict()
            expired = settlement.expire_payouts(uow=self.system())
            found = {key: set(run[key]) for key in expected if key in run}
            found["payouts_expired"] = set(expired)
            assert found == expected, (found, expected)
            for key, ids in found.items():
                self.context.seen[f"sweep {key}"] += len(ids)
            expected = {key: set() for key in expected}

    @rule(batch=st.integers(1, 6))
    def drain(self, batch: int) -> None:
        """A worker's pass over the outbox."""
        worker = Worker(self.context.sessions, self.clock, self.context.consumers,
                        worker_id="model-worker", lease_seconds=LEASE)
        result = worker.drain_once(batch)
        self.context.seen["outbox messages done"] += result.done
        assert result.claimed == result.done, result

    @precondition(lambda self: not self.held)
    @rule(claim=st.integers(1, 4), consumed=st.integers(0, 4))
    def kill_worker(self, claim: int, consumed: int) -> None:
        """A worker claims messages, runs the consumers of some, and dies before recording
        any completion; its claims wait for their lease to end."""
        self.doomed += 1
        worker = Worker(self.context.sessions, self.clock, self.context.consumers,
                        worker_id=f"doomed-{self.doomed}", lease_seconds=LEASE)
        claimed = worker.claim(claim)
        self.held = bool(claimed)
        self.context.seen["outbox messages claimed by a worker that died"] += len(claimed)
        for delivery in claimed[:consumed]:
            self.context.consumers[delivery.topic](delivery)

    @precondition(lambda self: self.held)
    @rule()
    def recover(self) -> None:
        """After the lease a live worker takes over what dead ones held: everything is
        done, each consumer's effect once (the invariants count the events)."""
        self.clock.advance(timedelta(seconds=LEASE + 1))
        worker = Worker(self.context.sessions, self.clock, self.context.consumers,
                        worker_id="model-worker", lease_seconds=LEASE)
        while worker.drain_once(50).claimed:
            pass
        self.held = False
        with self.session() as session:
            assert set(checks.outbox_counts(session)) <= {"done"}

    # -- crashes ------------------------------------------------------------------------------

    def _attempt(self, action: str, index: int, percent: int
                 ) -> tuple[str | None, Callable[[], Outcome], Callable[[Outcome], None]]:
        """What ``action`` on the ``index``-th object must answer, the call, and what it does
        to the book when it succeeds."""
        now = self.clock.now()
        order = self.order(index, 1, *FITS.get(action, ()))
        if action == "place" or order is None:
            product = self.book.products[index % 2]
            buyer = self.world.buyers[index % 3].org_id

            def placed(got: Outcome) -> None:
                assert got.value is not None
                self.book.placed(got.value, buyer, product, now)

            return (self.book.expect_place(product),
                    lambda: self.driver.place(buyer, index % 2), placed)
        if action == "pay":
            return (self.book.expect_pay(order, now), lambda: self.driver.pay(order),
                    lambda _: self.book.paid(order, now))
        if action == "deliver":
            return (self.book.expect_deliver(order, now), lambda: self.driver.deliver(order),
                    lambda _: self.book.delivered(order, now))
        if action == "accept":
            return (self.book.expect_accept(order), lambda: self.driver.accept(order),
                    lambda _: self.book.settled(order))
        amount = order.price * percent // 100
        return (self.book.expect_refund(order, amount),
                lambda: self.driver.refund(order, amount, False),
                lambda _: self.book.refunded_after_settlement(order, amount))

    def check_all(self) -> None:
        with self.session() as session:
            checks.check_ledger(session)
            checks.check_balances(self.book, session)
            checks.check_orders(self.book, session)

    @rule(action=st.sampled_from(["place", "pay", "deliver", "accept", "refund"]),
          index=st.integers(0, 63), percent=st.integers(1, 99),
          point=st.sampled_from(CRASH_POINTS))
    def crash_then_retry(self, action: str, index: int, percent: int, point: str) -> None:
        """The use case dies after writing (its unit of work abandoned): nothing of it
        remains; the same call retried has its one effect."""
        expected, call, apply = self._attempt(action, index, percent)
        try:
            with crashing(point):
                got = call()
        except Crash:
            got = Outcome("crash")
        if got.code != "crash":  # nothing to crash on (no journal), or refused before
            self.expect(got, expected, f"{action} (no crash)")
            if expected is None:
                apply(got)
            return
        assert expected is None, f"{action} crashed where the model expects {expected!r}"
        self.context.seen[f"crash {point}"] += 1
        self.check_all()  # the abandoned unit of work left nothing
        got = call()
        self.expect(got, expected, f"{action} retried after a crash")
        if expected is None:
            apply(got)

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def ledger_verifies(self) -> None:
        self.context.checked += 1
        with self.session() as session:
            checks.check_ledger(session)

    @invariant()
    def balances_equal_the_model(self) -> None:
        with self.session() as session:
            checks.check_balances(self.book, session)

    @invariant()
    def orders_follow_the_state_machine(self) -> None:
        with self.session() as session:
            checks.check_orders(self.book, session)
            checks.check_disputes_and_payouts(self.book, session)

    @invariant()
    def outbox_effects_once(self) -> None:
        with self.session() as session:
            checks.check_outbox(session, checks.parties_of(self.book))

    @invariant()
    def audit_chain_verifies(self) -> None:
        with self.session() as session:
            self.audited = checks.check_audit_since(session, self.audited)
