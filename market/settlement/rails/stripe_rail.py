"""The Stripe rail's worker side: performing persisted Stripe calls outside any database
transaction, applying stored inbound events (re-reading each object from Stripe), the
outbox consumers that turn an order's end into calls, and reconciliation.

A call's life: written ``pending`` in a business transaction; claimed (a lease: its
``next_attempt_at`` moves past the lease, so a worker that dies leaves it to be claimed
again); performed with its idempotency key while no transaction is open; its answer recorded
in a new transaction with the follow-ups (a PaymentIntent's id, a journal, the next call).
A crash between performing and recording repeats the call with the same key once the lease
ends, and Stripe answers the stored result: one effect.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import stripe
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.actor import system_actor
from market.kernel.clock import Clock, SystemClock
from market.kernel.config import Settings
from market.kernel.outbox import Consumer, Delivery
from market.kernel.uow import UnitOfWork
from market.settlement.domain import PLATFORM, AccountKind
from market.settlement.models import Account, Journal, Posting
from market.settlement.rails import STRIPE, RefundLine
from market.settlement.rails.models import (
    CallState,
    CardPayment,
    CardStatus,
    StripeCall,
    StripeEvent,
)
from market.settlement.rails.stripe_client import Outcome, client_for, perform, retrieve
from market.settlement.services import card_answers, cards, connect, renewals, saved_cards

log = logging.getLogger("market.stripe")

PaidHook = Callable[[str, UnitOfWork], Any]
# A renewal the rail was told is due: trading charges the saved card if it is still to be
# collected (returning settlement's outcome, None when not due); a declined try is reported.
RenewalDueHook = Callable[[str, UnitOfWork], str | None]
RenewalFailedHook = Callable[[str, str, UnitOfWork], Any]
# Events whose object the rail re-reads and applies; the others (charges, refunds,
# transfers) are answers to the rail's own calls, recorded when the call is.
READS = {"payment_intent": "payment_intent", "charge.dispute": "dispute", "account": "account"}
ChargebackHook = Callable[[str, str, str, UnitOfWork], Any]


class StripeMoney:
    """The Stripe rail as :class:`market.settlement.rails.PaymentRail`: an order's end
    becomes persisted calls (capture, transfers, cancellations, refunds, reversals)."""

    name = STRIPE
    card_payments = True

    def settled(self, order_id: str, *, uow: UnitOfWork) -> bool:
        return cards.card_order_settled(order_id, uow=uow)

    def refunded(self, order_id: str, *, uow: UnitOfWork) -> bool:
        return cards.card_order_refunded(order_id, uow=uow)

    def cancelled(self, order_id: str, *, uow: UnitOfWork) -> bool:
        return cards.card_order_cancelled(order_id, uow=uow)

    def refund_issued(self, order_id: str, refund_id: str, amount: int,
                      lines: Sequence[RefundLine], *, uow: UnitOfWork) -> bool:
        return cards.card_refund_issued(
            order_id, refund_id, amount,
            [cards.ReversalLine(line.org_id, line.role, line.receivable) for line in lines],
            uow=uow)

    def disputed(self, order_id: str, *, uow: UnitOfWork) -> bool:
        return cards.card_order_disputed(order_id, uow=uow)


@dataclass(frozen=True)
class ClaimedCall:
    id: str
    idempotency_key: str
    operation: str
    params: dict[str, Any]
    attempts: int


@dataclass
class RailRun:
    """What one pass of the rail did."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    renewals: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.done or self.failed or self.events or self.renewals)

    def as_dict(self) -> dict[str, list[str]]:
        return {"calls_done": self.done, "calls_failed": self.failed,
                "calls_retried": self.retried, "events_applied": self.events,
                "renewals_handled": self.renewals}


class StripeRail:
    """The worker's Stripe duties. ``on_paid(order_id, uow)``, ``on_chargeback(order_id,
    dispute_id, what, uow)``, ``on_renewal_due(order_id, uow)`` and
    ``on_renewal_failed(order_id, reason, uow)`` are trading's use cases, given by the
    composition root (trading sits above settlement), run in the transaction that records
    what Stripe said (or handles a renewal request)."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, *,
                 on_paid: PaidHook, on_chargeback: ChargebackHook,
                 on_renewal_due: RenewalDueHook | None = None,
                 on_renewal_failed: RenewalFailedHook | None = None,
                 clock: Clock | None = None, client: stripe.StripeClient | None = None,
                 lease_seconds: int = 60, max_attempts: int = 8,
                 backoff_seconds: float = 2.0) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock or SystemClock()
        self.client = client or client_for(settings)
        self.on_paid = on_paid
        self.on_chargeback = on_chargeback
        self.on_renewal_due = on_renewal_due
        self.on_renewal_failed = on_renewal_failed
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.clock, system_actor("stripe"))

    # -- calls ----------------------------------------------------------------------------

    def claim(self, limit: int = 50) -> list[ClaimedCall]:
        """Take due calls for this worker for the length of a lease."""
        uow = self.uow()
        with uow:
            now = uow.clock.now()
            rows = uow.session.scalars(
                select(StripeCall).where(StripeCall.state == CallState.PENDING.value,
                                         StripeCall.next_attempt_at <= now)
                .order_by(StripeCall.next_attempt_at, StripeCall.id).limit(limit)
                .with_for_update(skip_locked=True)).all()
            claimed = []
            for call in rows:
                call.attempts += 1
                call.next_attempt_at = now + self.lease
                claimed.append(ClaimedCall(call.id, call.idempotency_key, call.operation,
                                           dict(call.params), call.attempts))
            uow.commit()
        return claimed

    def perform(self, call: ClaimedCall) -> Outcome:
        """Make the call at Stripe (no transaction is open)."""
        return perform(self.client, call.operation, call.params, call.idempotency_key)

    def record(self, call: ClaimedCall, outcome: Outcome) -> str:
        """Record Stripe's answer and its follow-ups in a new transaction; returns the
        call's state afterwards."""
        uow = self.uow()
        with uow:
            row = uow.session.get(StripeCall, call.id, with_for_update=True)
            if row is None or row.state != CallState.PENDING.value:
                return row.state if row is not None else "missing"
            now = uow.clock.now()
            row.error = outcome.error
            paid: str | None = None
            declined: str | None = None
            if outcome.ok:
                assert outcome.result is not None
                row.state, row.result = CallState.DONE.value, outcome.result
                row.result_id = str(outcome.result.get("id") or "") or None
                row.completed_at = now
                paid = self._done(uow, row, outcome.result)
            elif outcome.retry and row.attempts < self.max_attempts:
                row.next_attempt_at = now + timedelta(
                    seconds=self.backoff_seconds * 2 ** (row.attempts - 1))
            else:
                row.state, row.completed_at = CallState.FAILED.value, now
                if row.operation == "transfer.create":
                    card_answers.transfer_refused(uow, row.params)
                elif row.operation == "customer.create":  # the card is not saved
                    saved_cards.customer_answered(uow, row.subject_id)
                elif row.operation == "payment_intent.create":
                    declined = renewals.renewal_declined(uow, row)
                log.warning("stripe call %s failed: %s", row.idempotency_key, outcome.error)
            if row.state != CallState.PENDING.value:
                uow.audit.record(uow.actor, f"stripe_call.{row.state}", "stripe_call", row.id,
                                 row.state_dict())
            if paid is not None:
                self.on_paid(paid, uow.joined())
            if declined is not None and self.on_renewal_failed is not None:
                self.on_renewal_failed(declined, str(outcome.error), uow.joined())
            uow.commit()
            return row.state

    def _done(self, uow: UnitOfWork, row: StripeCall, result: Mapping[str, Any]) -> str | None:
        operation = row.operation
        if operation == "payment_intent.create":
            card = uow.session.get(CardPayment, row.subject_id, with_for_update=True)
            if card is not None and card.payment_intent_id is None:
                card.payment_intent_id = str(result["id"])
                card.client_secret = result.get("client_secret")
                card.updated_at = uow.clock.now()
                if card.status == CardStatus.REQUESTED.value:
                    card.status = CardStatus.OPEN.value
                    # confirmed at creation (a renewal charged off-session): paid now
                    return card_answers.payment_intent_changed(uow, result)
                # the order was cancelled before the PaymentIntent existed
                cards.queue_call(uow, key=f"order:{card.order_id}:cancel:v1",
                                 operation="payment_intent.cancel",
                                 subject=("order", card.order_id),
                                 params={"id": card.payment_intent_id,
                                         "cancellation_reason": "abandoned"})
            return None
        if operation == "customer.create":
            saved_cards.customer_answered(uow, row.subject_id)
            return None
        if operation in ("payment_intent.capture", "payment_intent.cancel"):
            return card_answers.payment_intent_changed(uow, result)
        if operation == "refund.create":
            card_answers.refund_made(uow, result)
        elif operation == "transfer.create":
            card_answers.transfer_made(uow, result)
        elif operation == "transfer_reversal.create":
            card_answers.reversal_made(uow, result, str(row.params["metadata"]["org_id"]))
        elif operation == "account.create":
            connect.account_created(uow, row.subject_id, result)
        elif operation == "account_link.create":
            connect.account_link_made(uow, row.subject_id, result)
        return None

    def run_calls(self, limit: int = 50, run: RailRun | None = None) -> RailRun:
        run = run or RailRun()
        for call in self.claim(limit):
            state = self.record(call, self.perform(call))
            {"done": run.done, "failed": run.failed}.get(state, run.retried).append(
                call.idempotency_key)
        return run

    # -- renewals -------------------------------------------------------------------------

    def collect_renewals(self, limit: int = 50, run: RailRun | None = None) -> RailRun:
        """Handle the renewals the rail was told are due, each in a transaction of its own:
        trading charges the saved card if the renewal is still to be collected (queueing the
        PaymentIntent this worker then performs) or records that there is no saved card."""
        run = run or RailRun()
        if self.on_renewal_due is None:
            return run
        uow = self.uow()
        with uow:
            due = renewals.pending_renewals(uow, limit)
        for order_id in due:
            uow = self.uow()
            with uow:
                request = renewals.claim_renewal(uow, order_id)
                if request is None:
                    continue
                outcome = self.on_renewal_due(order_id, uow.joined())
                renewals.renewal_handled(uow, request, outcome)
                uow.commit()
            run.renewals.append(order_id)
        return run

    # -- inbound events ---------------------------------------------------------------------

    def _kind(self, event_type: str) -> str | None:
        for prefix, kind in READS.items():
            if event_type.startswith(prefix + "."):
                return kind
        return None

    def apply_events(self, limit: int = 50, run: RailRun | None = None) -> RailRun:
        """Apply stored events oldest first, each from Stripe's current view of its object,
        so a repeated, late or out-of-order event changes nothing more."""
        run = run or RailRun()
        uow = self.uow()
        with uow:
            now = uow.clock.now()
            pending = [(e.id, e.type, e.object_id) for e in uow.session.scalars(
                select(StripeEvent).where(StripeEvent.applied_at.is_(None),
                                          StripeEvent.attempts < self.max_attempts,
                                          or_(StripeEvent.error.is_(None),
                                              StripeEvent.received_at <= now))
                .order_by(StripeEvent.received_at, StripeEvent.id).limit(limit))]
        for event_id, event_type, object_id in pending:
            kind = self._kind(event_type)
            current: dict[str, Any] | None = None
            error = None
            if kind is not None:
                try:
                    current = retrieve(self.client, kind, object_id)
                except stripe.StripeError as exc:
                    error = f"{exc.http_status or 'network'}: {exc.user_message or exc}"[:1000]
            self._apply(event_id, kind, current, error)
            if error is None:
                run.events.append(event_id)
        return run

    def _apply(self, event_id: str, kind: str | None, current: dict[str, Any] | None,
               error: str | None) -> None:
        uow = self.uow()
        with uow:
            event = uow.session.get(StripeEvent, event_id, with_for_update=True)
            if event is None or event.applied_at is not None:
                return
            event.attempts += 1
            if error is not None:
                event.error = error
                uow.commit()
                return
            paid = chargeback = None
            if kind == "payment_intent" and current is not None:
                paid = card_answers.payment_intent_changed(uow, current)
            elif kind == "dispute" and current is not None:
                chargeback = card_answers.dispute_changed(uow, current)
            elif kind == "account" and current is not None:
                connect.account_changed(uow, current)
            if paid is not None:
                self.on_paid(paid, uow.joined())
            if chargeback is not None and current is not None:
                self.on_chargeback(chargeback[0], str(current["id"]), chargeback[1],
                                   uow.joined())
            event.applied_at, event.error = uow.clock.now(), None
            uow.audit.record(uow.actor, "stripe_event.applied", "stripe_event", event.id,
                             {"id": event.id, "type": event.type, "object_id": event.object_id})
            uow.commit()

    def tick(self, rounds: int = 10) -> RailRun:
        """Perform due calls and apply stored events until nothing is left to do now (a call's
        answer may queue the next call)."""
        run = RailRun()
        for _ in range(rounds):
            before = len(run.done) + len(run.failed) + len(run.events) + len(run.renewals)
            self.collect_renewals(run=run)
            self.run_calls(run=run)
            self.apply_events(run=run)
            if len(run.done) + len(run.failed) + len(run.events) + len(run.renewals) == before:
                break
        return run


# -- outbox consumers --------------------------------------------------------------------


RefundLines = Callable[..., Sequence[RefundLine]]


def _refund_lines() -> RefundLines:
    """Settlement's ``refund_lines(refund_id, *, uow)``: what a refund after settlement took
    back from each payee."""
    from market.settlement import services

    found: RefundLines = getattr(services, "refund_lines")  # noqa: B009
    return found


def stripe_consumers(sessions: sessionmaker[Session], settings: Settings, *,
                     clock: Clock | None = None, refund_lines: RefundLines | None = None,
                     ) -> dict[str, Consumer]:
    """The worker's consumers of the topics that end an order's money life on the Stripe
    rail: each turns the order's end into persisted Stripe calls, once per order (the card
    payment's state) or per refund (the call keys)."""
    rail = StripeMoney()
    tick = clock or SystemClock()

    def uow() -> UnitOfWork:
        return UnitOfWork(sessions, tick, system_actor("stripe"))

    def settled(delivery: Delivery) -> None:
        rail.settled(str(delivery.payload["order_id"]), uow=uow())

    def refunded(delivery: Delivery) -> None:
        rail.refunded(str(delivery.payload["order_id"]), uow=uow())

    def cancelled(delivery: Delivery) -> None:
        rail.cancelled(str(delivery.payload["order_id"]), uow=uow())

    def disputed(delivery: Delivery) -> None:
        rail.disputed(str(delivery.payload["order_id"]), uow=uow())

    def refund_issued(delivery: Delivery) -> None:
        payload = delivery.payload
        lines_of = refund_lines or _refund_lines()
        lines = list(lines_of(str(payload["refund_id"]), uow=uow()))
        rail.refund_issued(str(payload["order_id"]), str(payload["refund_id"]),
                           int(payload["amount"]), lines, uow=uow())

    def renewal_due(delivery: Delivery) -> None:
        # Recorded here; the worker's rail (holding trading's use cases) charges the card.
        renewals.renewal_requested(str(delivery.payload["order_id"]),
                                   str(delivery.payload["subscription_id"]), uow=uow())

    return {"order.settled": settled, "order.refunded": refunded, "order.disputed": disputed,
            "order.cancelled": cancelled, "refund.issued": refund_issued,
            "subscription.renewal_due": renewal_due}


# -- reconciliation ------------------------------------------------------------------------


@dataclass
class Reconciliation:
    """Differences between Stripe's balance transactions and transfers and the ledger's
    journals on the ``stripe`` clearing account, per Stripe object."""

    balance_transactions: int = 0
    transfers: int = 0
    journals: int = 0
    fees: int = 0
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "balance_transactions": self.balance_transactions,
                "transfers": self.transfers, "journals": self.journals, "fees": self.fees,
                "differences": self.differences}


def reconcile(sessions: sessionmaker[Session], settings: Settings, *,
              since: datetime | None = None, client: stripe.StripeClient | None = None,
              ) -> Reconciliation:
    """Compare what moved the platform's Stripe balance (balance transactions, paged through
    the library) and the transfers to Connect accounts with the ledger: every journal on the
    ``stripe`` clearing account names the Stripe object in its memo, and the sums per object
    must be equal and opposite (the clearing account is the negative of the balance)."""
    client = client or client_for(settings)
    report = Reconciliation()
    params: dict[str, Any] = {"limit": 100}
    if since is not None:
        params["created"] = {"gte": int(since.timestamp())}
    stripe_side: dict[tuple[str, str], int] = defaultdict(int)
    kinds: dict[str, str] = {}
    for txn in client.v1.balance_transactions.list(params=params).auto_paging_iter():  # type: ignore[arg-type]
        report.balance_transactions += 1
        report.fees += int(txn.fee or 0)
        source = str(txn.source)
        stripe_side[(source, str(txn.currency).upper())] += int(txn.amount)
        kinds[source] = str(txn.type)
    transfers: dict[str, int] = {}
    for transfer in client.v1.transfers.list(params=params).auto_paging_iter():  # type: ignore[arg-type]
        report.transfers += 1
        transfers[str(transfer.id)] = int(transfer.amount)
    ledger_side: dict[tuple[str, str], int] = defaultdict(int)
    with sessions() as session:
        query = (select(Journal.id, Journal.memo, Posting.amount, Posting.currency)
                 .join(Posting, Posting.journal_id == Journal.id)
                 .join(Account, Account.id == Posting.account_id)
                 .where(Account.kind == AccountKind.RAIL_CLEARING.value,
                        Account.owner == PLATFORM, Account.ref == cards.CLEARING))
        if since is not None:
            query = query.where(Journal.posted_at >= since)
        journals = set()
        for journal_id, memo, amount, currency in session.execute(query):
            journals.add(journal_id)
            ledger_side[(str(memo or journal_id), currency)] -= int(amount)
        report.journals = len(journals)
    for key in sorted(set(stripe_side) | set(ledger_side)):
        at_stripe, in_ledger = stripe_side.get(key, 0), ledger_side.get(key, 0)
        if at_stripe != in_ledger:
            report.differences.append({
                "object": key[0], "currency": key[1], "type": kinds.get(key[0]),
                "stripe": at_stripe, "ledger": in_ledger,
                "problem": ("missing_in_ledger" if key not in ledger_side
                            else "missing_at_stripe" if key not in stripe_side
                            else "amount_differs")})
    for transfer_id, amount in sorted(transfers.items()):
        moved = [v for (source, _), v in ledger_side.items() if source == transfer_id]
        if moved and -sum(moved) != amount:
            report.differences.append({"object": transfer_id, "type": "transfer",
                                       "stripe": amount, "ledger": -sum(moved),
                                       "problem": "transfer_amount_differs"})
    return report
