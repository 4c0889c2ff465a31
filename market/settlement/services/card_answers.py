"""What Stripe answered, recorded in the caller's transaction: a PaymentIntent authorised,
charged, captured or cancelled; refunds, transfers and transfer reversals made (or a
transfer refused); chargebacks opened and closed. Each posts at most one journal per Stripe
object and step (its key), so repeated and out-of-order answers change nothing more. The
clearing accounts are those of :mod:`market.settlement.services.cards`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from market.kernel.uow import UnitOfWork
from market.settlement import ledger
from market.settlement.domain import AccountKind, JournalKind
from market.settlement.models import Hold, Journal
from market.settlement.rails.models import CardStatus
from market.settlement.services.cards import (
    CLEARING,
    DISPUTED,
    LOSSES,
    TRANSIT,
    _post,
    _rail,
    _touch,
    card_payment_by_intent,
    give_back_card_payment,
    queue_transfers,
)
from market.settlement.services.saved_cards import record_saved_card


def payment_intent_changed(uow: UnitOfWork, pi: Mapping[str, Any]) -> str | None:
    """Bring the card payment in line with the PaymentIntent as Stripe shows it now.
    Returns the order id when the card has just paid it (authorised or captured) and the
    caller (trading) is to mark the order paid; None otherwise. Repeated or out-of-order
    events change nothing, since each step is taken from the card payment's state."""
    card = card_payment_by_intent(uow, str(pi["id"]))
    if card is None:
        return None
    charge = pi.get("latest_charge")
    charge_id = charge.get("id") if isinstance(charge, Mapping) else charge
    status = pi.get("status")
    if status in ("requires_capture", "succeeded") and card.charge_id is None:
        card.charge_id = str(charge_id)
        record_saved_card(card, pi)
        if status == "succeeded":
            card.captured_amount = int(pi.get("amount_received") or card.amount)
        if card.status == CardStatus.OPEN.value:
            _touch(uow, card, action="paid_by_card")
            return card.order_id
        # Paid after the order stopped waiting for it (cancelled meanwhile): given back.
        give_back_card_payment(card.order_id, "the order no longer waits for payment",
                               uow=uow)
        return None
    if status == "succeeded" and card.status == CardStatus.AUTHORISED.value \
            and not card.captured_amount:
        captured = int(pi.get("amount_received") or 0)
        card.captured_amount = captured
        _post(uow, f"stripe:capture:{pi['id']}", JournalKind.PAYMENT,
              [(_rail(CLEARING, card.currency), -captured),
               (_rail(TRANSIT, card.currency), captured)], card.currency,
              order_id=card.order_id, memo=card.charge_id)
        _touch(uow, card, CardStatus.CAPTURED, "captured")
        if card.settled:
            queue_transfers(uow, card)
        return None
    if status == "canceled" and card.status == CardStatus.OPEN.value:
        _touch(uow, card, CardStatus.CANCELLED, "cancelled")
    return None


def refund_made(uow: UnitOfWork, refund: Mapping[str, Any]) -> None:
    """Stripe refunded a card: the money leaves the Stripe balance (``stripe:refund:<re>``)."""
    card = card_payment_by_intent(uow, str(refund.get("payment_intent")))
    if card is None or refund.get("status") not in ("succeeded", "pending"):
        return
    amount = int(refund["amount"])
    _post(uow, f"stripe:refund:{refund['id']}", JournalKind.REFUND,
          [(_rail(TRANSIT, card.currency), -amount), (_rail(CLEARING, card.currency), amount)],
          card.currency, order_id=card.order_id, memo=str(refund["id"]))


def transfer_made(uow: UnitOfWork, transfer: Mapping[str, Any]) -> None:
    """A Transfer reached a payee's Connect account: the hold on its payable balance is
    posted to the Stripe balance."""
    hold_id = str((transfer.get("metadata") or {}).get("hold_id"))
    held = uow.session.get(Hold, hold_id, with_for_update=True)
    if held is None or held.status != "pending":
        if held is not None and held.journal_id is None:
            # The hold expired before Stripe answered: the transfer was made all the same.
            _post(uow, f"stripe:transfer:{transfer['id']}", JournalKind.PAYOUT,
                  [((AccountKind.PAYABLE, str(transfer["metadata"]["org_id"]), held.currency,
                     ""), -int(transfer["amount"])),
                   (_rail(CLEARING, held.currency), int(transfer["amount"]))],
                  held.currency, memo=str(transfer["id"]))
        return
    ledger.post_hold(uow, held, journal_kind=JournalKind.PAYOUT, memo=str(transfer["id"]))


def transfer_refused(uow: UnitOfWork, params: Mapping[str, Any]) -> None:
    """Stripe refused a Transfer: the payee's balance is released for the ordinary payout."""
    held = uow.session.get(Hold, str((params.get("metadata") or {}).get("hold_id")),
                           with_for_update=True)
    if held is not None and held.status == "pending":
        ledger.void_hold(uow, held)


def reversal_made(uow: UnitOfWork, reversal: Mapping[str, Any], org_id: str) -> None:
    """A transfer reversal brought money back from a payee's Connect account to the
    platform's balance: it settles what the refund recorded as owed by that payee. If the
    debt was meanwhile recovered otherwise (from the payee's next earnings), what the
    reversal brings beyond what is still owed is the payee's again, on its payable
    balance, so it never pays twice."""
    key = f"stripe:reversal:{reversal['id']}"
    if _posted(uow, key):
        return
    currency = str(reversal["currency"]).upper()
    amount = int(reversal["amount"])
    (receivable,) = ledger.account_ids(uow.session, [
        (AccountKind.RECEIVABLE, org_id, currency, "")], at=uow.clock.now())
    owed = -ledger.lock_balances(uow.session, [receivable])[receivable][0]
    settles = min(amount, max(owed, 0))
    _post(uow, key, JournalKind.PAYOUT,
          [(_rail(CLEARING, currency), -amount),
           *([((AccountKind.RECEIVABLE, org_id, currency, ""), settles)] if settles else []),
           *([((AccountKind.PAYABLE, org_id, currency, ""), amount - settles)]
             if amount - settles else [])], currency,
          order_id=str((reversal.get("metadata") or {}).get("order_id") or "") or None,
          memo=str(reversal["id"]))


def dispute_changed(uow: UnitOfWork, dispute: Mapping[str, Any]) -> tuple[str, str] | None:
    """A chargeback: the disputed amount leaves the Stripe balance for the dispute suspense
    account while it is decided, and comes back (won) or is written off (lost). Returns
    (order id, what happened: ``opened``, ``won`` or ``lost``) the first time each step is
    posted, for trading to freeze or release the order."""
    card = card_payment_by_intent(uow, str(dispute.get("payment_intent")))
    if card is None:
        return None
    dp = str(dispute["id"])
    amount = int(dispute["amount"])
    currency = card.currency
    happened = []
    opened_key = f"stripe:dispute:{dp}:opened"
    if not _posted(uow, opened_key):
        _post(uow, opened_key, JournalKind.REFUND,
              [(_rail(CLEARING, currency), amount), (_rail(DISPUTED, currency), -amount)],
              currency, order_id=card.order_id, memo=dp)
        happened.append("opened")
    status = dispute.get("status")
    if status in ("won", "lost") and not _posted(uow, f"stripe:dispute:{dp}:{status}"):
        other = _rail(CLEARING, currency) if status == "won" else _rail(LOSSES, currency)
        _post(uow, f"stripe:dispute:{dp}:{status}", JournalKind.REFUND,
              [(_rail(DISPUTED, currency), amount), (other, -amount)], currency,
              order_id=card.order_id, memo=dp if status == "won" else None)
        happened.append(str(status))
    return (card.order_id, happened[-1]) if happened else None


def _posted(uow: UnitOfWork, key: str) -> bool:
    return uow.session.scalar(select(Journal.id).where(Journal.key == key)) is not None
