"""Card payments on the Stripe rail, in the caller's transaction: an order's PaymentIntent
requested, the money entering the order's escrow from the rail, given back to the card,
captured and sent on to the payees' Connect accounts after settlement, refunds, transfer
reversals and chargebacks.

No Stripe call is made here: each is a :class:`StripeCall` row with a deterministic
idempotency key, written in the business transaction and performed by the worker
(:mod:`market.settlement.rails.stripe_rail`).

Clearing accounts of the rail (kind ``rail_clearing``, owner ``platform``), so the ledger
shows where card money is:

* ``stripe`` mirrors the platform's Stripe balance (negative: money held at the rail);
  every journal on it names the Stripe object that moved the balance in its memo (a charge,
  refund, transfer, transfer reversal or dispute), which reconciliation compares;
* ``stripe:transit`` holds money authorised on a card and not captured yet, and money on
  its way back to a card (a refund asked for, not yet made);
* ``stripe:dispute`` the disputed amount a chargeback took from the balance until the
  dispute closes; ``stripe:losses`` chargebacks lost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from market.kernel.uow import UnitOfWork
from market.settlement import ledger
from market.settlement.domain import PLATFORM, AccountKind, JournalKind, Leg
from market.settlement.errors import CardPaymentMismatch, InsufficientFunds
from market.settlement.models import Account, Allocation, Journal, Posting
from market.settlement.rails.models import (
    CallState,
    CaptureMethod,
    CardPayment,
    CardStatus,
    ConnectAccount,
    StripeCall,
)
from market.settlement.services.calls import call_of
from market.settlement.services.calls import queue_call as queue_call
from market.settlement.services.saved_cards import queue_payment_intent
from market.settlement.split import HOUSE_ROLES, ShareRole

STRIPE = "stripe"
CLEARING = "stripe"
TRANSIT = "stripe:transit"
DISPUTED = "stripe:dispute"
LOSSES = "stripe:losses"
TRANSFER_HOLD_DAYS = 30


# -- persisted calls ---------------------------------------------------------------------


def _post(uow: UnitOfWork, key: str, kind: JournalKind, legs: Sequence[tuple[ledger.AccountSpec,
          int]], currency: str, *, order_id: str | None = None, memo: str | None = None,
          ) -> str:
    ids = ledger.account_ids(uow.session, [spec for spec, _ in legs], at=uow.clock.now())
    return ledger.transfer(uow, key=key, kind=kind, order_id=order_id, memo=memo, legs=[
        Leg(account, amount, currency) for account, (_, amount) in zip(ids, legs, strict=True)
    ]).id


def _rail(ref: str, currency: str) -> ledger.AccountSpec:
    return (AccountKind.RAIL_CLEARING, PLATFORM, currency, ref)


# -- asking for a card payment -----------------------------------------------------------


@dataclass(frozen=True)
class CardPaymentRequest:
    """What trading asks of the rail for an order."""

    order_id: str
    buyer_org_id: str
    amount: int
    currency: str
    manual_capture: bool
    subscription_id: str | None = None  # the card is saved for the subscription's renewals


@dataclass(frozen=True)
class CardPaymentRecord:
    """An order's card payment, frozen, for trading."""

    order_id: str
    status: str
    amount: int
    currency: str
    capture_method: str
    payment_intent_id: str | None
    client_secret: str | None
    captured_amount: int

    @classmethod
    def of(cls, card: CardPayment) -> CardPaymentRecord:
        return cls(card.order_id, card.status, card.amount, card.currency,
                   card.capture_method, card.payment_intent_id, card.client_secret,
                   card.captured_amount)


def open_card_payment(request: CardPaymentRequest, *, uow: UnitOfWork) -> CardPaymentRecord:
    """Queue the order's PaymentIntent (in trading's transaction); asking again returns the
    card payment already asked for.

    Raises:
        CardPaymentMismatch: the order is already being paid by card for another amount.
    """
    found = uow.session.get(CardPayment, request.order_id, with_for_update=True)
    if found is not None:
        if (found.amount, found.currency) != (request.amount, request.currency):
            raise CardPaymentMismatch()
        return CardPaymentRecord.of(found)
    now = uow.clock.now()
    method = CaptureMethod.MANUAL if request.manual_capture else CaptureMethod.AUTOMATIC
    card = CardPayment(order_id=request.order_id, buyer_org_id=request.buyer_org_id,
                       amount=request.amount, currency=request.currency,
                       capture_method=method.value, status=CardStatus.REQUESTED.value,
                       captured_amount=0, settled=False, subscription_id=request.subscription_id,
                       off_session=False, attempts=1, created_at=now, updated_at=now)
    uow.session.add(card)
    uow.session.flush()
    queue_payment_intent(uow, card)
    uow.audit.record(uow.actor, "card_payment.requested", "card_payment", card.order_id,
                     card.state())
    return CardPaymentRecord.of(card)


def card_payment_of(order_id: str, *, uow: UnitOfWork) -> CardPaymentRecord | None:
    """The order's card payment, if it was asked to be paid by card."""
    found = uow.session.get(CardPayment, order_id)
    return CardPaymentRecord.of(found) if found is not None else None


def card_payment_by_intent(uow: UnitOfWork, payment_intent_id: str) -> CardPayment | None:
    return uow.session.scalars(select(CardPayment).where(
        CardPayment.payment_intent_id == payment_intent_id).with_for_update()).one_or_none()


def _touch(uow: UnitOfWork, card: CardPayment, status: CardStatus | None = None,
           action: str | None = None) -> None:
    if status is not None:
        card.status = status.value
    card.updated_at = uow.clock.now()
    uow.session.flush()
    if action:
        uow.audit.record(uow.actor, f"card_payment.{action}", "card_payment", card.order_id,
                         card.state())


# -- the card paid: into the order's escrow, or back ----------------------------------------


def card_into_escrow(order_id: str, *, uow: UnitOfWork) -> str:
    """The card paid an order trading has just marked paid: the price enters the order's
    escrow from the rail (``payment:<order>``, the key a balance payment uses, so an order
    is paid once). Authorised money comes from ``stripe:transit`` until it is captured;
    captured money from the Stripe balance."""
    card = uow.session.get(CardPayment, order_id, with_for_update=True)
    assert card is not None
    assert card.charge_id is not None
    captured = card.captured_amount > 0
    source = _rail(CLEARING if captured else TRANSIT, card.currency)
    escrow = (AccountKind.ESCROW, card.buyer_org_id, card.currency, order_id)
    journal = _post(uow, f"payment:{order_id}", JournalKind.PAYMENT,
                    [(source, -card.amount), (escrow, card.amount)], card.currency,
                    order_id=order_id, memo=card.charge_id if captured else None)
    _touch(uow, card, CardStatus.CAPTURED if captured else CardStatus.AUTHORISED, "in_escrow")
    return journal


def give_back_card_payment(order_id: str, reason: str, *, uow: UnitOfWork) -> None:
    """The order can no longer be paid (cancelled, flagged, its window closed, paid another
    way): an authorisation is cancelled, a captured charge refunded; nothing entered the
    escrow."""
    card = uow.session.get(CardPayment, order_id, with_for_update=True)
    assert card is not None
    if card.captured_amount:
        _post(uow, f"stripe:received:{card.payment_intent_id}", JournalKind.REFUND,
              [(_rail(CLEARING, card.currency), -card.captured_amount),
               (_rail(TRANSIT, card.currency), card.captured_amount)], card.currency,
              order_id=order_id, memo=card.charge_id)
        _refund_card(uow, card, key=f"order:{order_id}:refund:v1", amount=card.captured_amount,
                     reason=reason)
    elif card.charge_id is not None:
        _cancel_authorisation(uow, card, reason)
    _touch(uow, card, CardStatus.RETURNED, "given_back")


def _cancel_authorisation(uow: UnitOfWork, card: CardPayment, reason: str) -> None:
    queue_call(uow, key=f"order:{card.order_id}:cancel:v1", operation="payment_intent.cancel",
               subject=("order", card.order_id),
               params={"id": card.payment_intent_id,
                       "cancellation_reason": "abandoned" if reason else "requested_by_customer"})


def _refund_card(uow: UnitOfWork, card: CardPayment, *, key: str, amount: int,
                 reason: str, refund_id: str | None = None) -> None:
    metadata = {"order_id": card.order_id, "reason": reason[:200]}
    if refund_id:
        metadata["refund_id"] = refund_id
    queue_call(uow, key=key, operation="refund.create", subject=("order", card.order_id),
               params={"payment_intent": card.payment_intent_id, "amount": amount,
                       "metadata": metadata})


def _back_from_buyer(uow: UnitOfWork, card: CardPayment, key: str, amount: int) -> bool:
    """Money the ledger gave back to the buyer's available balance leaves for the card.
    False when the buyer has already spent it: it stays on the balance."""
    try:
        with uow.session.begin_nested():
            _post(uow, key, JournalKind.REFUND,
                  [((AccountKind.AVAILABLE, card.buyer_org_id, card.currency, ""), -amount),
                   (_rail(TRANSIT, card.currency), amount)], card.currency,
                  order_id=card.order_id)
    except InsufficientFunds:
        uow.audit.record(uow.actor, "card_payment.kept_on_balance", "card_payment",
                         card.order_id, {**card.state(), "amount": amount})
        return False
    return True


# -- what the order's end means for the card ----------------------------------------------


def net_allocations(uow: UnitOfWork, order_id: str) -> dict[str, int]:
    """What each payee (not the platform) keeps of a settled order, by organisation."""
    kept: dict[str, int] = defaultdict(int)
    for org_id, role, amount, refunded in uow.session.execute(
            select(Allocation.org_id, Allocation.role, Allocation.amount, Allocation.refunded)
            .where(Allocation.order_id == order_id)):
        if ShareRole(role) not in HOUSE_ROLES and amount - refunded > 0:
            kept[org_id] += amount - refunded
    return dict(kept)


def settled_credits(uow: UnitOfWork, order_id: str) -> dict[str, int]:
    """What the order's settlement journal credited each payee's payable balance: its share
    less a dispute's partial refund and less what the payee owed from an earlier refund
    after settlement (recovered from the share inside the journal)."""
    credited: dict[str, int] = defaultdict(int)
    for owner, amount in uow.session.execute(
            select(Account.owner, Posting.amount)
            .join(Posting, Posting.account_id == Account.id)
            .join(Journal, Journal.id == Posting.journal_id)
            .where(Journal.key == f"settlement:{order_id}",
                   Account.kind == AccountKind.PAYABLE.value)):
        credited[owner] += int(amount)
    return {org: amount for org, amount in credited.items() if amount > 0}


def kept_of(uow: UnitOfWork, order_id: str) -> int:
    total = uow.session.scalar(select(func.coalesce(func.sum(
        Allocation.amount - Allocation.refunded), 0)).where(Allocation.order_id == order_id))
    return int(total or 0)


def card_order_settled(order_id: str, *, uow: UnitOfWork) -> bool:
    """An order paid by card settled: what the settlement gave back to the buyer (a
    dispute's partial refund, a pay-per-use deposit's rest) goes back to the card, the rest
    is captured (manual capture) and sent on to the payees. False when the order was not
    paid by card."""
    with uow:
        card = uow.session.get(CardPayment, order_id, with_for_update=True)
        if card is None or card.settled or card.status not in (CardStatus.AUTHORISED.value,
                                                               CardStatus.CAPTURED.value):
            return False
        _not_capturing(uow, card)
        card.settled = True
        returned = card.amount - kept_of(uow, order_id)
        if returned > 0 and not _back_from_buyer(uow, card, f"stripe:return:{order_id}:settled",
                                                 returned):
            returned = 0
        if card.status == CardStatus.AUTHORISED.value:
            if card.amount - returned > 0:
                queue_call(uow, key=f"order:{order_id}:capture:v1",
                           operation="payment_intent.capture", subject=("order", order_id),
                           params={"id": card.payment_intent_id,
                                   "amount_to_capture": card.amount - returned})
            else:
                _cancel_authorisation(uow, card, "")
        else:
            if returned > 0:
                _refund_card(uow, card, key=f"order:{order_id}:refund:settled:v1",
                             amount=returned, reason="settled with a refund")
            queue_transfers(uow, card)
        _touch(uow, card, action="settled")
        uow.commit()
        return True


class CaptureInFlight(Exception):
    """The card's capture for a dispute is queued and not yet answered: what follows the
    order's end waits for it (the outbox tries the message again)."""


def _not_capturing(uow: UnitOfWork, card: CardPayment) -> None:
    if card.status != CardStatus.AUTHORISED.value:
        return
    capture = call_of(uow, f"order:{card.order_id}:capture:v1")
    if capture is not None and capture.state == CallState.PENDING.value:
        raise CaptureInFlight(card.order_id)


def card_order_disputed(order_id: str, *, uow: UnitOfWork) -> bool:
    """A disputed order's authorisation is captured at once: a decision may come after the
    card network lets the authorisation lapse, and the money must still be there for it.
    Settlement then refunds the card what the decision gives back and transfers the rest.
    False when there is nothing to capture."""
    with uow:
        card = uow.session.get(CardPayment, order_id, with_for_update=True)
        if card is None or card.settled or card.status != CardStatus.AUTHORISED.value:
            return False
        queue_call(uow, key=f"order:{order_id}:capture:v1",
                   operation="payment_intent.capture", subject=("order", order_id),
                   params={"id": card.payment_intent_id, "amount_to_capture": card.amount})
        _touch(uow, card, action="capture_for_dispute")
        uow.commit()
        return True


def card_order_refunded(order_id: str, *, uow: UnitOfWork) -> bool:
    """An order paid by card was refunded before settlement (undelivered, cancelled after
    payment, a dispute's full refund): the escrow went back to the buyer's balance, from
    which it leaves for the card: the authorisation is cancelled or the charge refunded."""
    with uow:
        card = uow.session.get(CardPayment, order_id, with_for_update=True)
        if card is None or card.status not in (CardStatus.AUTHORISED.value,
                                               CardStatus.CAPTURED.value):
            return False
        _not_capturing(uow, card)
        if _back_from_buyer(uow, card, f"stripe:return:{order_id}:refunded", card.amount):
            if card.status == CardStatus.AUTHORISED.value:
                _cancel_authorisation(uow, card, "")
            else:
                _refund_card(uow, card, key=f"order:{order_id}:refund:v1",
                             amount=card.captured_amount, reason="order refunded")
            _touch(uow, card, CardStatus.RETURNED, "returned")
        uow.commit()
        return True


@dataclass(frozen=True)
class ReversalLine:
    """What a refund after settlement recorded as owed by one payee (its balances could not
    give it): the part to take back from the payee's transfer."""

    org_id: str
    role: str
    amount: int


def card_refund_issued(order_id: str, refund_id: str, amount: int,
                       lines: Sequence[ReversalLine], *, uow: UnitOfWork) -> bool:
    """A settled order paid by card was refunded (in part or in full): the amount leaves
    the buyer's balance for the card, and each payee's transfer is reversed by what the
    refund recorded as owed by that payee (the refund's lines, in proportion to the split;
    what the refund took from a payee's payable balance is back already)."""
    with uow:
        card = uow.session.get(CardPayment, order_id, with_for_update=True)
        if card is None or not card.captured_amount:
            return False
        if _back_from_buyer(uow, card, f"stripe:return:{order_id}:{refund_id}", amount):
            _refund_card(uow, card, key=f"refund:{refund_id}:v1", amount=amount,
                         reason="refund after settlement", refund_id=refund_id)
        owed: dict[str, int] = defaultdict(int)
        for line in lines:
            owed[line.org_id] += line.amount
        for org_id, amount in sorted(owed.items()):
            transfer = _transfer_of(uow, order_id, org_id)
            if transfer is None or amount <= 0:
                continue
            left = int((transfer.result or {}).get("amount", 0)) - _reversed(uow, transfer)
            take = min(amount, left)
            if take > 0:
                queue_call(uow, key=f"refund:{refund_id}:reversal:{org_id}:v1",
                           operation="transfer_reversal.create", subject=("order", order_id),
                           params={"id": transfer.result_id, "amount": take,
                                   "metadata": {"order_id": order_id, "refund_id": refund_id,
                                                "org_id": org_id}})
        _touch(uow, card, action="refund_issued")
        uow.commit()
        return True


def _transfer_of(uow: UnitOfWork, order_id: str, org_id: str) -> StripeCall | None:
    return uow.session.scalars(select(StripeCall).where(
        StripeCall.idempotency_key == f"order:{order_id}:transfer:{org_id}:v1",
        StripeCall.state == CallState.DONE.value)).one_or_none()


def _reversed(uow: UnitOfWork, transfer: StripeCall) -> int:
    """What reversals (done or queued, not failed) take back from a transfer."""
    rows = uow.session.scalars(select(StripeCall).where(
        StripeCall.operation == "transfer_reversal.create",
        StripeCall.subject_id == transfer.subject_id,
        StripeCall.state != CallState.FAILED.value)).all()
    return sum(int(call.params["amount"]) for call in rows
               if call.params.get("id") == transfer.result_id)


def queue_transfers(uow: UnitOfWork, card: CardPayment) -> list[str]:
    """One Transfer per payee with a Connect account that takes transfers, from the
    order's charge (``source_transaction``, ``transfer_group``). What the settlement put on
    a payee's payable balance (its share less a debt recovered from it) is reserved there
    by a hold until the transfer is made; a payee without
    an account, or whose payable balance already went to a payout, keeps the balance for
    the ordinary payout."""
    queued = []
    credited = settled_credits(uow, card.order_id)
    for org_id, kept in sorted(net_allocations(uow, card.order_id).items()):
        # Only what the payable balance got: the part of the share that settled a debt of
        # the payee's is the platform's already and must not be sent on again.
        amount = min(kept, credited.get(org_id, 0))
        if amount <= 0:
            continue
        account = uow.session.scalars(select(ConnectAccount).where(
            ConnectAccount.org_id == org_id)).one_or_none()
        if account is None or not account.transfers_possible:
            continue
        now = uow.clock.now()
        payable = ledger.account(uow.session, AccountKind.PAYABLE, org_id, card.currency,
                                 at=now)
        clearing = ledger.account(uow.session, AccountKind.RAIL_CLEARING, PLATFORM,
                                  card.currency, CLEARING, at=now)
        try:
            with uow.session.begin_nested():
                held = ledger.hold(uow, key=f"stripe:transfer:{card.order_id}:{org_id}",
                                   kind="transfer", debit=payable, credit=clearing,
                                   amount=amount,
                                   expires_at=now + timedelta(days=TRANSFER_HOLD_DAYS))
        except InsufficientFunds:
            continue
        queue_call(uow, key=f"order:{card.order_id}:transfer:{org_id}:v1",
                   operation="transfer.create", subject=("order", card.order_id),
                   params={"amount": amount, "currency": card.currency.lower(),
                           "destination": account.stripe_account_id,
                           "source_transaction": card.charge_id,
                           "transfer_group": f"order_{card.order_id}",
                           "metadata": {"order_id": card.order_id, "org_id": org_id,
                                        "hold_id": held.id}})
        queued.append(org_id)
    return queued


def card_order_cancelled(order_id: str, *, uow: UnitOfWork) -> bool:
    """An order cancelled before payment: its open PaymentIntent is cancelled so the buyer
    can no longer pay it (one paid meanwhile is given back when Stripe reports it)."""
    with uow:
        card = uow.session.get(CardPayment, order_id, with_for_update=True)
        if card is None or card.status not in (CardStatus.REQUESTED.value,
                                               CardStatus.OPEN.value):
            return False
        if card.payment_intent_id is not None:
            _cancel_authorisation(uow, card, "order cancelled")
        _touch(uow, card, CardStatus.CANCELLED, "cancelled")
        uow.commit()
        return True
