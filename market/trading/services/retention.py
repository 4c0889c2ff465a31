"""A delivered copy's term ends with its contract (存储期限不得超过业务有效期, 超过存储期限的数据
应进行归档或销毁): when an order's term ends the buyer is asked to destroy what was delivered
and declare it (销毁声明), an overdue declaration raises one alert for the regulator, and a
stored delivery file no contract needs any more is deleted from storage, audited, its
delivery keeping the SHA-256.

An order's term ends at the earliest of: its usage terms' ``duration_days`` after delivery,
its subscription's end, the end of a licence in its rights chain, or its refund after
delivery. With none of these (a licence for the product's life) it never ends, and the file
stays while the buyer may download it. Sandbox deliveries leave no copy with the buyer, so
only file and API deliveries are asked to be destroyed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from market.compliance import services as compliance
from market.kernel.db import lock_name
from market.kernel.errors import InvalidInput
from market.kernel.storage import FileStore, file_store, flat
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.trading import repository
from market.trading.domain import DeliveryMode, OrderStatus, SubscriptionStatus
from market.trading.errors import (
    DestructionAlreadyDeclared,
    DestructionNotDue,
    DestructionRequestNotFound,
)
from market.trading.models import Delivery, DestructionRequest, Order, Subscription

DOWNLOADABLE = frozenset({OrderStatus.DELIVERED.value, OrderStatus.ACCEPTED.value,
                          OrderStatus.SETTLED.value, OrderStatus.DISPUTED.value,
                          OrderStatus.RESOLVED.value})
COPIES = frozenset({DeliveryMode.FILE.value, DeliveryMode.API.value})
ENDED_SUBSCRIPTIONS = frozenset({SubscriptionStatus.LAPSED.value,
                                 SubscriptionStatus.CANCELLED.value})


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def term_end(order: Order, contract: Mapping[str, Any] | None,
             subscription: Subscription | None) -> datetime | None:
    """When the order's contract term ends (None: it does not, or nothing was delivered)."""
    if order.delivered_at is None:
        return None
    if order.status == OrderStatus.REFUNDED.value:
        return order.closed_at or order.updated_at
    ends: list[datetime] = []
    document = contract or {}
    days = (document.get("terms") or {}).get("duration_days")
    if days:
        ends.append(order.delivered_at + timedelta(days=int(days)))
    for link in document.get("rights_chain") or []:
        end = _at(link.get("valid_to"))
        if end is not None:
            ends.append(end)
    if subscription is not None and subscription.status in ENDED_SUBSCRIPTIONS:
        end = (subscription.current_period_end
               if subscription.status == SubscriptionStatus.LAPSED.value else None)
        ends.append(end or subscription.closed_at or subscription.updated_at)
    return min(ends) if ends else None


def order_term_end(uow: UnitOfWork, order: Order) -> datetime | None:
    """:func:`term_end` of an order, reading its contract and subscription."""
    contract = repository.find_contract(uow.session, order.id)
    subscription = (repository.get_subscription_row(uow.session, order.subscription_id)
                    if order.subscription_id else None)
    return term_end(order, contract.document if contract else None, subscription)


def term_over(uow: UnitOfWork, order: Order) -> bool:
    """Whether the order's term has ended (what it delivered may no longer be used)."""
    end = order_term_end(uow, order)
    return end is not None and end <= uow.clock.now()


# -- asking for destruction -------------------------------------------------------------------


def _ask(uow: UnitOfWork, order: Order, ended: datetime, grace: timedelta) -> DestructionRequest:
    now = uow.clock.now()
    request = DestructionRequest(order_id=order.id, buyer_org_id=order.buyer_org_id,
                                 seller_org_id=order.seller_org_id, term_ended_at=ended,
                                 requested_at=now, due_by=now + grace)
    uow.session.add(request)
    uow.session.flush()
    uow.audit.record(uow.actor, "destruction.requested", "order", order.id, request.state())
    uow.outbox.enqueue("order.destruction_due", {
        "order_id": order.id, "buyer_org_id": order.buyer_org_id,
        "due_by": request.due_by.isoformat()})
    return request


def request_destructions(*, grace: timedelta, uow: UnitOfWork, limit: int = 500) -> list[str]:
    """Ask the buyer of every order whose term ended, and that delivered a copy (a file or
    API access), for a destruction declaration due ``grace`` later; returns the orders."""
    with uow:
        copied = select(Delivery.order_id).where(Delivery.mode.in_(sorted(COPIES)))
        asked = select(DestructionRequest.order_id)
        orders = uow.session.scalars(
            select(Order).where(Order.delivered_at.is_not(None), Order.id.in_(copied),
                                Order.id.not_in(asked)).order_by(Order.id).limit(limit))
        now, done = uow.clock.now(), []
        for order in orders:
            ended = order_term_end(uow, order)
            if ended is not None and ended <= now:
                _ask(uow, order, ended, grace)
                done.append(order.id)
        uow.commit()
        return done


def raise_overdue(*, uow: UnitOfWork) -> list[str]:
    """Alert the regulator, once per order, of every destruction declaration past its due
    date; returns the orders."""
    with uow:
        now = uow.clock.now()
        overdue = uow.session.scalars(
            select(DestructionRequest).where(DestructionRequest.declared_at.is_(None),
                                             DestructionRequest.alerted_at.is_(None),
                                             DestructionRequest.due_by <= now)
            .order_by(DestructionRequest.order_id).with_for_update())
        done = []
        for request in overdue:
            request.alert_id = compliance.raise_destruction_overdue(
                order_id=request.order_id, buyer_org_id=request.buyer_org_id,
                seller_org_id=request.seller_org_id, due_by=request.due_by, uow=uow)
            request.alerted_at = now
            uow.audit.record(uow.actor, "destruction.overdue", "order", request.order_id,
                             request.state())
            done.append(request.order_id)
        uow.commit()
        return done


def declare_destruction(order_id: str, destroyed_at: datetime, method: str, *,
                        grace: timedelta, note: str | None = None,
                        signature: str | None = None, uow: UnitOfWork) -> dict[str, Any]:
    """The buyer declares it destroyed what the order delivered (销毁声明, signed under the
    current ``destruction`` template), once the order's term has ended.

    Raises:
        OrderNotFound, NotAParty, DestructionNotDue, DestructionAlreadyDeclared,
        InvalidDeclarationSignature, InvalidInput (destroyed in the future).
    """
    if destroyed_at > uow.clock.now():
        raise InvalidInput(errors={"destroyed_at": ["must not be in the future"]})
    answers = {"destroyed_at": destroyed_at.isoformat(), "method": method, "note": note}
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        order.require_buyer(uow.actor)
        request = uow.session.get(DestructionRequest, order.id, with_for_update=True)
        if request is None:
            ended = order_term_end(uow, order)
            if ended is None or ended > uow.clock.now() or not any(
                    d.mode in COPIES for d in repository.deliveries_of(uow.session, order.id)):
                raise DestructionNotDue()
            request = _ask(uow, order, ended, grace)
        if request.declaration_id is not None:
            raise DestructionAlreadyDeclared()
        declaration = compliance.sign_declaration(
            compliance.DeclarationKind.DESTRUCTION, answers, subject_type="order",
            subject_id=order.id, signature=signature, uow=uow)
        request.declaration_id, request.declared_at = declaration.id, uow.clock.now()
        uow.audit.record(uow.actor, "destruction.declared", "order", order.id, request.state())
        uow.commit()
        return destruction_views([request], uow.clock.now())[0]


def get_destruction_request(order_id: str, *, uow: UnitOfWork) -> dict[str, Any]:
    """What the buyer of an order was asked to destroy, and whether it declared it.

    Raises:
        OrderNotFound: no such order visible to the caller.
        DestructionRequestNotFound: none was asked (the term has not ended).
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id)
        request = uow.session.get(DestructionRequest, order.id)
        if request is None:
            raise DestructionRequestNotFound()
        return destruction_views([request], uow.clock.now())[0]


@dataclass(frozen=True)
class DestructionCounts:
    requested: int
    declared: int
    overdue: int
    alerted: int
    files_deleted: int


def destruction_counts(*, uow: UnitOfWork) -> DestructionCounts:
    """How many destructions were asked for, declared, overdue and alerted, and how many
    delivered files were deleted (for the regulator)."""
    with uow:
        now = uow.clock.now()
        rows = uow.session.execute(select(DestructionRequest.declared_at,
                                          DestructionRequest.due_by,
                                          DestructionRequest.alerted_at)).all()
        deleted = uow.session.scalars(select(Delivery.sha256).where(
            Delivery.file_deleted_at.is_not(None)).distinct()).all()
        return DestructionCounts(
            len(rows), sum(1 for r in rows if r.declared_at is not None),
            sum(1 for r in rows if r.declared_at is None and r.due_by <= now),
            sum(1 for r in rows if r.alerted_at is not None), len(deleted))


# -- deleting stored files ---------------------------------------------------------------------


def _unneeded(uow: UnitOfWork, order: Order) -> str | None:
    """Why the order no longer needs its delivered file (None: it still does)."""
    if order.status not in DOWNLOADABLE:
        return f"the order is {order.status}"
    end = order_term_end(uow, order)
    if end is not None and end <= uow.clock.now():
        return f"the contract's term ended at {end.isoformat()}"
    return None


def stored_file_lock(sha256: str) -> str:
    """The lock held while a stored file is placed or deleted: the file is shared by every
    delivery of the same content, so placing it for a new delivery and deleting it for
    ended ones must not interleave."""
    return "stored_file:" + sha256


def _delivered(uow: UnitOfWork, sha: str | None = None) -> list[Delivery]:
    """File deliveries whose stored file is not deleted (of one content, if ``sha``), read
    afresh and locked."""
    stmt = select(Delivery).where(Delivery.mode == DeliveryMode.FILE.value,
                                  Delivery.sha256.is_not(None),
                                  Delivery.file_deleted_at.is_(None))
    if sha is not None:
        stmt = stmt.where(Delivery.sha256 == sha)
    return list(uow.session.scalars(stmt.order_by(Delivery.id).with_for_update()
                                    .execution_options(populate_existing=True)))


def _reasons(uow: UnitOfWork, deliveries: Sequence[Delivery]) -> dict[str, str] | None:
    """Why each delivery's order no longer needs the file; None when one still does."""
    reasons: dict[str, str] = {}
    for delivery in deliveries:
        order = uow.session.get(Order, delivery.order_id)
        reason = _unneeded(uow, order) if order is not None else "the order is gone"
        if reason is None:
            return None
        reasons[delivery.id] = reason
    return reasons


def delete_unneeded_files(*, storage: FileStore | Path, uow: UnitOfWork) -> list[str]:
    """Delete from storage every delivered file that no order needs any more (none may still
    download it: each is refunded, cancelled or past its term); each delivery keeps its
    SHA-256 and is marked, every deletion audited. Returns the SHA-256 of the files.

    A file is shared by every delivery of the same content, so each one is judged again
    under the lock a new delivery places it under (``stored_file_lock``), and its
    deliveries are marked before the file goes: a delivery of the same content in flight
    either waits and finds the file gone (and places it again) or commits first and keeps
    it."""
    store = file_store(storage)
    with uow:
        by_file: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in _delivered(uow):
            assert delivery.sha256 is not None
            by_file[delivery.sha256].append(delivery)
        now, deleted = uow.clock.now(), []
        for sha, first_seen in sorted(by_file.items()):
            if _reasons(uow, first_seen) is None:
                continue
            lock_name(uow.session, stored_file_lock(sha))
            deliveries = _delivered(uow, sha)
            reasons = _reasons(uow, deliveries)
            if reasons is None:
                continue
            for delivery in deliveries:
                delivery.file_deleted_at = now
            uow.session.flush()  # on SQLite: the write lock, held until the commit
            present = store.delete(flat(sha))
            for delivery in deliveries:
                uow.audit.record(uow.actor, "delivery.file_deleted", "delivery", delivery.id, {
                    "order_id": delivery.order_id, "sha256": sha, "size": delivery.size,
                    "file_name": delivery.file_name, "reason": reasons[delivery.id],
                    "was_stored": present})
            deleted.append(sha)
        uow.commit()
        return deleted


def destruction_views(requests: Sequence[DestructionRequest], now: datetime
                      ) -> list[dict[str, Any]]:
    """Requests as the API shows them, with whether each is overdue."""
    return [{**{c: getattr(r, c) for c in ("order_id", "buyer_org_id", "seller_org_id",
                                           "term_ended_at", "requested_at", "due_by",
                                           "declaration_id", "declared_at", "alert_id",
                                           "alerted_at")},
             "overdue": r.declared_at is None and r.due_by <= now} for r in requests]


def sweep_retention(uow: Callable[[], UnitOfWork], *, storage: FileStore | Path,
                    sample_dir: FileStore | Path, grace: timedelta) -> dict[str, list[str]]:
    """The periodic retention duty, each step in its own transaction: ask for the
    destructions now due, alert the overdue ones, delete the delivered files and samples
    nothing needs any more. Returns what each step acted on."""
    return {
        "destructions_requested": request_destructions(grace=grace, uow=uow()),
        "destructions_overdue": raise_overdue(uow=uow()),
        "delivery_files_deleted": delete_unneeded_files(storage=storage, uow=uow()),
        "samples_deleted": listing.delete_unused_samples(sample_dir=sample_dir, uow=uow()),
    }
