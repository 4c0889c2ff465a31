"""Trading use cases: place an order under the compliance rules and freeze its contract,
pay into escrow, deliver (checked against the rights chain again), accept and settle with
the revenue split and the filing, cancel, dispute, and the deadlines the worker enforces.

Every order transition takes the order's row lock first (``SELECT … FOR UPDATE``), so
concurrent payments, acceptances and refunds of one order have exactly one effect; the
money moves in the same transaction through :mod:`market.settlement.services`.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Select, select

from market.compliance import services as compliance
from market.compliance.domain import DeclarationKind, Outcome, Stage
from market.kernel import canonical
from market.kernel.actor import Actor, Role, require, system_actor
from market.kernel.errors import InvalidInput, InvalidTransition
from market.kernel.ids import new_id
from market.kernel.pagination import Page, keyset_page
from market.kernel.statemachine import record_move
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.listing.errors import NotTheMerchant, ProductNotFound
from market.participants import services as participants
from market.rights import services as rights
from market.settlement import services as settlement
from market.settlement.split import DistributionRule, ShareRole, rule_from_chain
from market.trading import metering
from market.trading.domain import (
    BUYABLE_OFFERS,
    METERED,
    OPEN,
    DeliveryMode,
    DisputeOutcome,
    DisputeStatus,
    OrderStatus,
    Policy,
)
from market.trading.errors import (
    CredentialNotValid,
    DeliveryModeNotOffered,
    DeliveryRefused,
    DeliveryWindowClosed,
    DisputeAwaitingAnswer,
    DisputeNotFound,
    DisputeNotOpen,
    DisputeWindowClosed,
    DownloadNotAllowed,
    FingerprintMismatch,
    NoFileDelivered,
    NotAParty,
    OfferNeedsCap,
    OfferNotBuyable,
    OrderFlagged,
    OrderNotFound,
    OrderRefused,
    PaymentWindowClosed,
    ReviewWindowClosed,
)
from market.trading.models import (
    Contract,
    Delivery,
    Dispute,
    DownloadToken,
    Order,
    OrderEvent,
)

SEE_ALL = (Role.OPERATOR, Role.REGULATOR)
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class OrderView:
    order: Order
    contract: Contract | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    disputes: list[Dispute] = field(default_factory=list)


# -- helpers -----------------------------------------------------------------------------



def _visible(actor: Actor) -> Select[Any]:
    stmt = select(Order)
    if actor.is_system or actor.has_role(*SEE_ALL):
        return stmt
    org = actor.org_id or ""
    if actor.has_role(Role.ASSESSOR):  # assessors review orders the rules sent to review
        return stmt.where((Order.buyer_org_id == org) | (Order.seller_org_id == org)
                          | (Order.status == OrderStatus.CREATED.value))
    return stmt.where((Order.buyer_org_id == org) | (Order.seller_org_id == org))


def _locked(uow: UnitOfWork, order_id: str) -> Order:
    """The order, row-locked for a transition, if the caller may see it."""
    order: Order | None = uow.session.scalars(
        _visible(uow.actor).where(Order.id == order_id).with_for_update()).one_or_none()
    if order is None:
        raise OrderNotFound()
    return order


def _party(actor: Actor, org_id: str) -> None:
    if not actor.is_system and actor.org_id != org_id:
        raise NotAParty()


def _move(uow: UnitOfWork, order: Order, target: OrderStatus, action: str,
          reason: str | None = None) -> None:
    now = uow.clock.now()
    _moved(uow, order, order.move(target, at=now), target, action, reason)


def _moved(uow: UnitOfWork, order: Order, previous: str, target: OrderStatus, action: str,
           reason: str | None = None) -> None:
    """Record an order's move: its history, audit entry and event. (The ORM does not order
    inserts of unrelated mappers, so an order being placed is flushed before its history.)"""
    now = order.updated_at
    record_move(uow, OrderEvent, prefix="oev", subject={"order_id": order.id}, action=action,
                previous=previous, status=target.value, reason=reason, at=now)
    if order.terminal:
        order.closed_at = now
    uow.audit.record(uow.actor, f"order.{action}", "order", order.id, order.state())
    uow.outbox.enqueue(f"order.{target.value}", {"order_id": order.id})


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _chain(view: listing.TradeView) -> list[dict[str, Any]]:
    return [{k: _iso(v) for k, v in asdict(link).items()} for link in view.chain.links]


def _rule(uow: UnitOfWork, view: listing.TradeView, policy: Policy) -> DistributionRule:
    stored = settlement.stored_rule(uow.session, view.product_id)
    if stored is not None:
        return DistributionRule.from_dict(stored)
    return rule_from_chain([(link.kind, link.holder_org_id) for link in view.chain.links],
                           merchant_org_id=view.merchant_org_id,
                           holder_bps=policy.holder_bps, processor_bps=policy.processor_bps,
                           platform_fee_bps=policy.platform_fee_bps)


def _contract_document(order: Order, view: listing.TradeView, commitment_sha256: str,
                       rule: DistributionRule, policy: Policy) -> dict[str, Any]:
    offer = view.offer
    assert offer is not None
    return {
        "order_id": order.id, "buyer_org_id": order.buyer_org_id,
        "seller_org_id": order.seller_org_id,
        "product": {"id": view.product_id, "version_id": view.version_id,
                    "version": view.version_number, "title": view.title,
                    "sector": view.sector, "type": view.type},
        "offer": {"id": offer.id, "kind": offer.kind, "name": offer.name,
                  "amount": offer.amount, "currency": offer.currency, "period": offer.period,
                  "unit": offer.unit, "cap_amount": offer.cap_amount},
        "price": {"amount": order.amount, "currency": order.currency},
        "terms": view.terms,
        "declarations": {"listing_sha256": view.declaration_sha256,
                         "purchase_sha256": commitment_sha256},
        "rights_chain": _chain(view),
        "distribution": rule.as_dict(),
        "windows_hours": {
            "payment": policy.payment_window.total_seconds() / 3600,
            "delivery": policy.delivery_window.total_seconds() / 3600,
            "acceptance": policy.acceptance_window.total_seconds() / 3600},
        "created_at": order.created_at.isoformat(),
    }


# -- placing an order ----------------------------------------------------------------------


def place_order(product_id: str, offer_id: str, commitment: Mapping[str, Any], *,
                policy: Policy, uow: UnitOfWork, signature: str | None = None) -> OrderView:
    """Order one offer of a listed product with the buyer's purchase commitment.

    The compliance rules judge the order (both parties admitted and not barred, the rights
    chain unbroken and in term now, the buyer's scenarios among the listing's, cross-border
    use allowed by the terms, …). A blocking decision refuses the order and writes nothing
    but the decision. Otherwise one unit of a limited offer is taken, the commitment is
    signed (purchase@1), and the contract freezes the version, offer, price, usage terms,
    both declarations' digests, the rights chain and the distribution rule. An order the
    rules send to review waits in ``created``; otherwise it awaits payment.

    Raises:
        RoleNotAllowed, ProductNotFound, OfferNotFound, OfferNotBuyable, SoldOut,
        OrderRefused, InvalidDeclarationSignature.
    """
    require(uow.actor, Role.BUYER)
    actor = uow.actor
    assert actor.org_id is not None
    with uow:
        view = listing.trade_view(product_id, stage=Stage.ORDER, buyer_org_id=actor.org_id,
                                  commitment=commitment, offer_id=offer_id, uow=uow.joined())
        offer = view.offer
        assert offer is not None
        if offer.kind not in BUYABLE_OFFERS:
            raise OfferNotBuyable(kind=offer.kind)
        if offer.kind == METERED and not offer.cap_amount:
            raise OfferNeedsCap()
        order_id = new_id("ord")
        passage = compliance.gate(
            view.facts, ("order", order_id), refusal=OrderRefused, uow=uow,
            declare=compliance.Declare(DeclarationKind.PURCHASE, commitment, signature))
        rule = _rule(uow, view, policy)
        now = uow.clock.now()
        order = Order(
            id=order_id, buyer_org_id=actor.org_id, seller_org_id=view.merchant_org_id,
            product_id=view.product_id, version_id=view.version_id, offer_id=offer.id,
            status=OrderStatus.CREATED.value,
            amount=(offer.cap_amount if offer.kind == METERED else offer.amount) or 0,
            currency=offer.currency, commitment_id=passage.declaration_id,
            decision_id=passage.decision_id,
            outcome=passage.outcome, cross_border=bool(commitment.get("cross_border")),
            placed_by_user_id=actor.user_id, created_at=now, updated_at=now)
        uow.session.add(order)
        document = _contract_document(order, view, passage.declaration_sha256 or "", rule, policy)
        contract = Contract(id=new_id("ctr"), order_id=order.id, document=document,
                            sha256=hashlib.sha256(canonical.dumps(document)).hexdigest(),
                            created_at=now)
        uow.audit.record(actor, "order.placed", "order", order.id,
                         {**order.state(), "contract_sha256": contract.sha256})
        passed = passage.outcome == Outcome.PASS.value
        if passed:
            order.pay_by = now + policy.payment_window
            previous = order.move(OrderStatus.AWAITING_PAYMENT, at=now)
        else:
            order.review_by = now + policy.review_window
        uow.session.flush()  # the order, once, as it leaves placement; then what refers to it
        uow.session.add(contract)
        record_move(uow, OrderEvent, prefix="oev", subject={"order_id": order.id},
                    action="placed", previous=None, status=OrderStatus.CREATED.value,
                    reason=None, at=now)
        if passed:
            _moved(uow, order, previous, OrderStatus.AWAITING_PAYMENT, "accepted_for_payment")
        else:
            compliance.track_review("order", order.id, order.buyer_org_id, "submitted", None,
                                    uow=uow.joined())
        # The offer's row is shared by every buyer of it: taken last, held only to commit.
        listing.reserve_unit(offer.id, uow=uow.joined())
        uow.commit()
        return OrderView(order, contract)


def review_order(order_id: str, approve: bool, reason: str, *, policy: Policy,
                 uow: UnitOfWork) -> OrderView:
    """The operator or an assessor decides an order the rules sent to review: approved, it
    awaits payment; rejected, it is cancelled and its unit given back. An order that needs
    an assessment is approved only once a compliance or security report is attached.

    Raises:
        RoleNotAllowed, OrderNotFound, InvalidTransition, OrderRefused (an assessment
        report is missing), ReviewWindowClosed.
    """
    require(uow.actor, Role.OPERATOR, Role.ASSESSOR)
    with uow:
        order = _locked(uow, order_id)
        if order.status != OrderStatus.CREATED.value:
            raise InvalidTransition(current=order.status,
                                    target=OrderStatus.AWAITING_PAYMENT.value)
        if order.review_by is not None and uow.clock.now() >= order.review_by:
            raise ReviewWindowClosed()  # the worker cancels at review_by itself
        if approve:
            missing = compliance.missing_assessment(uow.session, order.id)
            if missing:
                raise OrderRefused([{
                    "code": "assessment_missing", "rule": rule, "decision_id": order.decision_id,
                    "message": "a compliance or security assessment report must be attached "
                               "to the review first"} for rule in missing])
            order.pay_by = uow.clock.now() + policy.payment_window
            order.review_by = None
            _move(uow, order, OrderStatus.AWAITING_PAYMENT, "approved", reason)
            compliance.track_review("order", order.id, order.buyer_org_id, "approved", reason,
                                    uow=uow.joined())
        else:
            _cancel(uow, order, "rejected", reason)
            compliance.track_review("order", order.id, order.buyer_org_id, "rejected", reason,
                                    uow=uow.joined())
        uow.commit()
        return OrderView(order)


def _cancel(uow: UnitOfWork, order: Order, action: str, reason: str | None) -> None:
    _move(uow, order, OrderStatus.CANCELLED, action, reason)
    listing.release_unit(order.offer_id, uow=uow.joined())
    settlement.close_unpaid(uow.joined(), order.id, order.buyer_org_id)


def _expire_review(uow: UnitOfWork, order: Order) -> None:
    reason = "the review window ended"
    _cancel(uow, order, "review_expired", reason)
    compliance.track_review("order", order.id, order.buyer_org_id, "expired", reason,
                            uow=uow.joined())


def cancel_order(order_id: str, reason: str, *, uow: UnitOfWork) -> OrderView:
    """The buyer (or the seller) cancels an order before it is paid; a limited offer gets
    its unit back.

    Raises:
        OrderNotFound, InvalidTransition (already paid, or terminal).
    """
    with uow:
        order = _locked(uow, order_id)
        if not uow.actor.is_system and uow.actor.org_id not in (order.buyer_org_id,
                                                                order.seller_org_id):
            raise NotAParty()
        in_review = order.status == OrderStatus.CREATED.value
        _cancel(uow, order, "cancelled", reason)
        if in_review:  # withdrawn while waiting for its review: take it off the queue
            compliance.track_review("order", order.id, order.buyer_org_id, "cancelled",
                                    reason, uow=uow.joined())
        uow.commit()
        return OrderView(order)


# -- paying -------------------------------------------------------------------------------


def pay_order(order_id: str, *, policy: Policy, uow: UnitOfWork) -> OrderView:
    """The buyer pays: the price moves from its available balance into the order's escrow.

    Raises:
        OrderNotFound, NotAParty, InvalidTransition (not awaiting payment), OrderFlagged,
        PaymentWindowClosed, InsufficientFunds.
    """
    with uow:
        order = _locked(uow, order_id)
        _party(uow.actor, order.buyer_org_id)
        if order.status == OrderStatus.AWAITING_PAYMENT.value:
            if order.flagged:
                raise OrderFlagged()
            if order.pay_by is not None and uow.clock.now() >= order.pay_by:
                raise PaymentWindowClosed()  # the worker cancels at pay_by itself
        _move(uow, order, OrderStatus.PAID, "paid")
        now = uow.clock.now()
        order.paid_at = now
        order.deliver_by = now + policy.delivery_window
        settlement.pay_into_escrow(uow.joined(), order_id=order.id,
                                   buyer_org_id=order.buyer_org_id, amount=order.amount,
                                   currency=order.currency)
        uow.commit()
        return OrderView(order)


# -- delivering -------------------------------------------------------------------------


@dataclass(frozen=True)
class FileUpload:
    name: str
    media_type: str
    stream: IO[bytes]


@dataclass(frozen=True)
class DeliveryInput:
    mode: DeliveryMode
    file: FileUpload | None = None
    endpoint: str | None = None
    purpose: str | None = None
    access_to: datetime | None = None
    note: str | None = None


def store_file(upload: FileUpload, storage: Path) -> tuple[str, int]:
    """Copy an upload into content-addressed storage while hashing it, in bounded memory;
    returns (sha256, size)."""
    storage.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with tempfile.NamedTemporaryFile(dir=storage, delete=False) as out:
        while chunk := upload.stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    sha = digest.hexdigest()
    target = storage / sha
    if target.exists():
        Path(out.name).unlink()
    else:
        shutil.move(out.name, target)
    return sha, size


def deliver(order_id: str, data: DeliveryInput, *, storage: Path, policy: Policy,
            uow: UnitOfWork) -> tuple[OrderView, str | None]:
    """The seller delivers a paid order. The rules judge the delivery now (the rights chain
    in term, both parties still admitted, the buyer's scenarios and territory within the
    terms); a blocking decision refuses it and writes nothing but the decision. Returns the
    order and, for API delivery, the credential (shown once).

    Raises:
        OrderNotFound, NotAParty, InvalidTransition, OrderFlagged, DeliveryWindowClosed,
        DeliveryModeNotOffered, DeliveryRefused, InvalidInput.
    """
    with uow:
        order = _locked(uow, order_id)
        _party(uow.actor, order.seller_org_id)
        if order.status != OrderStatus.PAID.value:
            raise InvalidTransition(current=order.status, target=OrderStatus.DELIVERED.value)
        if order.flagged:
            raise OrderFlagged()
        if order.deliver_by is not None and uow.clock.now() >= order.deliver_by:
            raise DeliveryWindowClosed()
        commitment = compliance.get_declaration_record(uow.session, order.commitment_id)
        view = listing.trade_view(order.product_id, stage=Stage.DELIVERY,
                                  buyer_org_id=order.buyer_org_id,
                                  commitment=commitment.answers if commitment else {},
                                  version_id=order.version_id, uow=uow.joined())
        if data.mode.value not in view.delivery_modes:
            raise DeliveryModeNotOffered()
        metered = metering.is_metered(_contract(uow, order))
        if metered and data.mode is not DeliveryMode.API:
            raise InvalidInput(errors={"mode": ["a pay-per-use order is delivered by API"]})
        passage = compliance.gate(view.facts, ("order", order.id), refusal=DeliveryRefused,
                                  uow=uow, declaration_id=order.commitment_id)
        now = uow.clock.now()
        delivery = Delivery(id=new_id("dlv"), order_id=order.id, mode=data.mode.value,
                            decision_id=passage.decision_id, note=data.note, delivered_at=now)
        credential = None
        if data.mode is DeliveryMode.FILE:
            if data.file is None:
                raise InvalidInput(errors={"file": ["a file delivery needs the file"]})
            sha, size = store_file(data.file, storage)
            delivery.file_name, delivery.media_type = data.file.name, data.file.media_type
            delivery.sha256, delivery.size = sha, size
        elif data.mode is DeliveryMode.API:
            if not data.endpoint:
                raise InvalidInput(errors={"endpoint": ["an API delivery names its endpoint"]})
            credential = "mkc_" + secrets.token_urlsafe(32)
            delivery.credential_hash = hashlib.sha256(credential.encode()).hexdigest()
            delivery.endpoint = data.endpoint
            delivery.access_from, delivery.access_to = now, data.access_to
            if metered:  # access for one metering period, billed when it ends
                delivery.access_to = now + policy.metering_period
        else:
            if not data.purpose or data.access_to is None or data.access_to <= now:
                raise InvalidInput(errors={"access_to": [
                    "a sandbox grant needs a purpose and an end in the future"]})
            delivery.purpose = data.purpose
            delivery.access_from, delivery.access_to = now, data.access_to
        uow.session.add(delivery)
        uow.session.flush()
        uow.audit.record(uow.actor, "delivery.made", "delivery", delivery.id, delivery.state())
        _move(uow, order, OrderStatus.DELIVERED, "delivered")
        order.delivered_at = now
        order.accept_by = (delivery.access_to if metered and delivery.access_to
                           else now + policy.acceptance_window)
        uow.commit()
        return OrderView(order, deliveries=[delivery]), credential


def _file_delivery(session: Any, order_id: str) -> Delivery | None:
    found: Delivery | None = session.scalars(
        select(Delivery).where(Delivery.order_id == order_id,
                               Delivery.mode == DeliveryMode.FILE.value)
        .order_by(Delivery.id.desc())).first()
    return found


DOWNLOADABLE = frozenset({OrderStatus.DELIVERED.value, OrderStatus.ACCEPTED.value,
                          OrderStatus.SETTLED.value, OrderStatus.DISPUTED.value,
                          OrderStatus.RESOLVED.value})


def issue_download_token(order_id: str, *, policy: Policy, uow: UnitOfWork
                         ) -> tuple[str, DownloadToken]:
    """A new download link for the buyer: it expires after the configured time and allows
    the configured number of downloads. The token is shown once.

    Raises:
        OrderNotFound, NotAParty, NoFileDelivered.
    """
    with uow:
        order = _locked(uow, order_id)
        _party(uow.actor, order.buyer_org_id)
        delivery = _file_delivery(uow.session, order.id)
        if delivery is None or order.status not in DOWNLOADABLE:
            raise NoFileDelivered()
        token = "mkd_" + secrets.token_urlsafe(32)
        now = uow.clock.now()
        record = DownloadToken(id=new_id("dlt"), delivery_id=delivery.id, order_id=order.id,
                               token_hash=hashlib.sha256(token.encode()).hexdigest(),
                               expires_at=now + policy.download_ttl,
                               max_uses=policy.download_limit, uses=0, created_at=now)
        uow.session.add(record)
        uow.session.flush()
        uow.audit.record(uow.actor, "download_token.issued", "download_token", record.id,
                         {"order_id": order.id, "expires_at": record.expires_at.isoformat(),
                          "max_uses": record.max_uses})
        uow.commit()
        return token, record


@dataclass(frozen=True)
class Download:
    path: Path
    name: str
    media_type: str
    sha256: str
    remaining: int


def redeem_download(token: str, *, counted: bool, storage: Path, uow: UnitOfWork
                    ) -> Download:
    """The file a download token opens. ``counted`` requests (a whole download, or a range
    from the first byte) use one of the token's downloads; further ranges of the same
    download do not.

    Raises:
        DownloadNotAllowed: unknown, expired or used-up token, or the order no longer
            allows downloads (refunded, cancelled).
    """
    digest = hashlib.sha256(token.encode()).hexdigest()
    with uow:
        record = uow.session.scalars(select(DownloadToken)
                                     .where(DownloadToken.token_hash == digest)
                                     .with_for_update()).one_or_none()
        now = uow.clock.now()
        if record is None or now >= record.expires_at:
            raise DownloadNotAllowed()
        order = uow.session.get(Order, record.order_id)
        delivery = uow.session.get(Delivery, record.delivery_id)
        if order is None or delivery is None or order.status not in DOWNLOADABLE:
            raise DownloadNotAllowed()
        if counted:
            if record.uses >= record.max_uses:
                raise DownloadNotAllowed()
            record.uses += 1
            uow.audit.record(system_actor("download"), "download.counted", "download_token",
                             record.id, {"order_id": order.id, "uses": record.uses})
        elif record.uses == 0:
            raise DownloadNotAllowed()  # a range of a download that never started
        assert delivery.sha256 is not None
        uow.commit()
        return Download(storage / delivery.sha256, delivery.file_name or "delivery",
                        delivery.media_type or "application/octet-stream", delivery.sha256,
                        record.max_uses - record.uses)


@dataclass(frozen=True)
class CredentialCheck:
    order_id: str
    buyer_org_id: str
    product_id: str
    status: str
    valid: bool
    access_to: datetime | None
    terms: dict[str, Any]


def check_credential(credential: str, *, uow: UnitOfWork) -> CredentialCheck:
    """The merchant's API asks whether a buyer's credential is good: it is, while the order
    is delivered or settled, not flagged, and within its access term.

    Raises:
        CredentialNotValid: unknown, or not a credential of the caller's orders.
    """
    digest = hashlib.sha256(credential.encode()).hexdigest()
    with uow:
        delivery = uow.session.scalars(select(Delivery).where(
            Delivery.credential_hash == digest)).one_or_none()
        order = uow.session.get(Order, delivery.order_id) if delivery else None
        if delivery is None or order is None or (
            not uow.actor.is_system and uow.actor.org_id != order.seller_org_id
        ):
            raise CredentialNotValid()
        contract = uow.session.scalars(select(Contract).where(
            Contract.order_id == order.id)).one()
        now = uow.clock.now()
        valid = (order.status in DOWNLOADABLE and not order.flagged
                 and (delivery.access_to is None or now < delivery.access_to))
        return CredentialCheck(order.id, order.buyer_org_id, order.product_id, order.status,
                               valid, delivery.access_to, dict(contract.document["terms"]))


def record_usage(order_id: str, key: str, units: int, *, uow: UnitOfWork
                 ) -> tuple[metering.Usage, bool]:
    """The merchant's API reports usage of a pay-per-use order within its period (once per
    key); returns the order's usage so far and whether this report was new.

    Raises:
        OrderNotFound, NotAParty, NotMetered, InvalidTransition, MeteringPeriodOver,
        UsageKeyReused.
    """
    with uow:
        order = _locked(uow, order_id)
        _party(uow.actor, order.seller_org_id)
        contract = _contract(uow, order)
        found, new = metering.record(uow.session, order, contract, key, units,
                                     at=uow.clock.now())
        if new:
            uow.audit.record(uow.actor, "usage.recorded", "usage_record", found.id,
                             {"order_id": order.id, "key": key, "units": units})
        summary = metering.usage(uow.session, order, contract)
        uow.commit()
        return summary, new


def order_usage(order_id: str, *, uow: UnitOfWork) -> metering.Usage:
    """A pay-per-use order's units so far and what they cost, capped."""
    with uow:
        order: Order | None = uow.session.scalars(
            _visible(uow.actor).where(Order.id == order_id)).one_or_none()
        if order is None:
            raise OrderNotFound()
        return metering.usage(uow.session, order, _contract(uow, order))


# -- accepting and settling -----------------------------------------------------------------


def _contract(uow: UnitOfWork, order: Order) -> Contract:
    # The contract never changes: reading it need not flush the order's pending transition
    # first (the order then reaches the database once, in its final state).
    with uow.session.no_autoflush:
        found: Contract = uow.session.scalars(select(Contract).where(
            Contract.order_id == order.id)).one()
    return found


def _conclude(uow: UnitOfWork, order: Order, *, refund: int = 0) -> None:
    """Settle an accepted or resolved order: file the trade (登记备案), then split the escrow
    by the contract's rule (less any partial refund). The shared rows (the filing counter,
    the platform's fee account, the parties' payable accounts) are taken as late as can be,
    after everything that only reads, so concurrent settlements queue on them briefly."""
    contract = _contract(uow, order)
    price, deposit = order.amount, None
    if metering.is_metered(contract):  # the units used, capped; the rest of the cap goes back
        price, deposit = metering.usage(uow.session, order, contract).billed, order.amount
    _move(uow, order, OrderStatus.SETTLED, "settled")
    order.settled_at = uow.clock.now()
    document = contract.document
    compliance.file_trade(compliance.TradeFiling(
        order_id=order.id, product_id=order.product_id, version_id=order.version_id,
        product_title=document["product"]["title"], sector=document["product"]["sector"],
        product_type=document["product"]["type"], seller_org_id=order.seller_org_id,
        buyer_org_id=order.buyer_org_id, amount=price - refund,
        currency=order.currency, rights_chain=document["rights_chain"],
        declaration_ids=[order.commitment_id],
        decision_ids=compliance.decision_ids(uow.session, order.id),
        concluded_at=order.settled_at), uow=uow.joined(system_actor("trading")))
    settlement.settle(uow.joined(), order_id=order.id, buyer_org_id=order.buyer_org_id,
                      amount=price, currency=order.currency,
                      rule=contract.document["distribution"], refund=refund, deposit=deposit)


def accept_order(order_id: str, *, uow: UnitOfWork, sha256: str | None = None) -> OrderView:
    """The buyer accepts the delivery (optionally confirming the file's fingerprint); the
    order settles at once: the escrow is split and the trade filed.

    Raises:
        OrderNotFound, NotAParty, InvalidTransition, FingerprintMismatch, OrderFlagged (the
        rights chain broke after delivery: dispute instead, or wait for the rights).
    """
    with uow:
        order = _locked(uow, order_id)
        _party(uow.actor, order.buyer_org_id)
        if order.flagged and order.status == OrderStatus.DELIVERED.value:
            raise OrderFlagged()
        if sha256 is not None and order.status == OrderStatus.DELIVERED.value:
            delivery = _file_delivery(uow.session, order.id)
            if delivery is None or delivery.sha256 != sha256.lower():
                raise FingerprintMismatch()
        _accept(uow, order, auto=False)
        uow.commit()
        return OrderView(order)


def _accept(uow: UnitOfWork, order: Order, *, auto: bool) -> None:
    _move(uow, order, OrderStatus.ACCEPTED, "auto_accepted" if auto else "accepted",
          "the acceptance window ended" if auto else None)
    order.accepted_at = uow.clock.now()
    order.auto_accepted = auto
    _conclude(uow, order)


# -- disputes -------------------------------------------------------------------------------


def open_dispute(order_id: str, reason: str, evidence_sha256: Sequence[str], *,
                 policy: Policy, uow: UnitOfWork) -> Dispute:
    """The buyer disputes a paid or delivered order before it is accepted (before the
    acceptance window ends); the money stays in escrow until the operator decides.

    Raises:
        OrderNotFound, NotAParty, InvalidTransition, DisputeWindowClosed.
    """
    with uow:
        order = _locked(uow, order_id)
        _party(uow.actor, order.buyer_org_id)
        now = uow.clock.now()
        if order.accept_by is not None and now >= order.accept_by and not order.flagged:
            raise DisputeWindowClosed()
        _move(uow, order, OrderStatus.DISPUTED, "disputed", reason)
        dispute = Dispute(id=new_id("dsp"), order_id=order.id,
                          buyer_org_id=order.buyer_org_id, seller_org_id=order.seller_org_id,
                          status=DisputeStatus.OPEN.value, reason=reason,
                          evidence_sha256=list(evidence_sha256), opened_at=now,
                          answer_by=now + policy.answer_window)
        uow.session.add(dispute)
        uow.session.flush()
        uow.audit.record(uow.actor, "dispute.opened", "dispute", dispute.id, dispute.state())
        _incident(uow, order, "dispute")
        uow.commit()
        return dispute


def _visible_disputes(actor: Actor) -> Select[Any]:
    stmt = select(Dispute)
    if actor.is_system or actor.has_role(*SEE_ALL):
        return stmt
    org = actor.org_id or ""
    return stmt.where((Dispute.buyer_org_id == org) | (Dispute.seller_org_id == org))


def _locked_dispute(uow: UnitOfWork, dispute_id: str) -> Dispute:
    dispute: Dispute | None = uow.session.scalars(
        _visible_disputes(uow.actor).where(Dispute.id == dispute_id).with_for_update()
    ).one_or_none()
    if dispute is None:
        raise DisputeNotFound()
    return dispute


def answer_dispute(dispute_id: str, answer: str, evidence_sha256: Sequence[str], *,
                   uow: UnitOfWork) -> Dispute:
    """The merchant answers a dispute within the answer window.

    Raises:
        DisputeNotFound, NotAParty, DisputeNotOpen.
    """
    with uow:
        dispute = _locked_dispute(uow, dispute_id)
        _party(uow.actor, dispute.seller_org_id)
        if (dispute.status != DisputeStatus.OPEN.value
                or uow.clock.now() >= dispute.answer_by):  # the window ended: unanswered
            raise DisputeNotOpen()
        dispute.status = DisputeStatus.ANSWERED.value
        dispute.answer = answer
        dispute.answer_evidence_sha256 = list(evidence_sha256)
        dispute.answered_at = uow.clock.now()
        uow.audit.record(uow.actor, "dispute.answered", "dispute", dispute.id, dispute.state())
        uow.commit()
        return dispute


def decide_dispute(dispute_id: str, outcome: DisputeOutcome, reason: str, *,
                   uow: UnitOfWork, refund_amount: int | None = None) -> Dispute:
    """The operator decides a dispute once the merchant answered or its window ended:
    release (the order settles in full), a partial refund (the refund is taken from every
    share in proportion, the rest settles), or a full refund (the escrow goes back to the
    buyer and the order is refunded).

    Raises:
        RoleNotAllowed, DisputeNotFound, DisputeAwaitingAnswer, DisputeNotOpen, InvalidInput.
    """
    require(uow.actor, Role.OPERATOR)
    with uow:
        dispute = _locked_dispute(uow, dispute_id)
        if dispute.status == DisputeStatus.DECIDED.value:
            raise DisputeNotOpen()
        if dispute.status == DisputeStatus.OPEN.value and uow.clock.now() < dispute.answer_by:
            raise DisputeAwaitingAnswer()
        order = _locked(uow, dispute.order_id)
        refund = {DisputeOutcome.RELEASE: 0, DisputeOutcome.FULL_REFUND: order.amount}.get(
            outcome, refund_amount)
        if refund is None or not (0 < refund < order.amount
                                  or outcome is not DisputeOutcome.PARTIAL_REFUND):
            raise InvalidInput(errors={"refund_amount": [
                f"a partial refund is more than 0 and less than {order.amount}"]})
        dispute.status = DisputeStatus.DECIDED.value
        dispute.outcome, dispute.refund_amount = outcome.value, refund
        dispute.decision_reason, dispute.decided_at = reason, uow.clock.now()
        uow.audit.record(uow.actor, "dispute.decided", "dispute", dispute.id, dispute.state())
        _move(uow, order, OrderStatus.RESOLVED, "resolved", f"{outcome.value}: {reason}")
        if outcome is DisputeOutcome.FULL_REFUND:
            _refund(uow, order, "refunded", reason)
        else:
            _conclude(uow, order, refund=refund)
        uow.commit()
        return dispute


def _incident(uow: UnitOfWork, order: Order, kind: str) -> None:
    compliance.record_incident(kind, order_id=order.id, product_id=order.product_id,
                               seller_org_id=order.seller_org_id,
                               buyer_org_id=order.buyer_org_id,
                               uow=uow.joined(system_actor("monitoring")))


def _refund(uow: UnitOfWork, order: Order, action: str, reason: str) -> None:
    settlement.refund(uow.joined(), order_id=order.id, buyer_org_id=order.buyer_org_id,
                      amount=order.amount, currency=order.currency)
    _incident(uow, order, "refund")
    _move(uow, order, OrderStatus.REFUNDED, action, reason)
    listing.release_unit(order.offer_id, uow=uow.joined())


def get_dispute(dispute_id: str, *, uow: UnitOfWork) -> Dispute:
    with uow:
        dispute: Dispute | None = uow.session.scalars(
            _visible_disputes(uow.actor).where(Dispute.id == dispute_id)).one_or_none()
        if dispute is None:
            raise DisputeNotFound()
        return dispute


def list_disputes(*, uow: UnitOfWork, status: str | None = None, after: str | None = None,
                  limit: int = 50) -> Page[Dispute]:
    with uow:
        stmt = _visible_disputes(uow.actor)
        if status:
            stmt = stmt.where(Dispute.status == status)
        return keyset_page(uow.session, stmt, Dispute.id, after=after, limit=limit)


# -- deadlines (the worker) ----------------------------------------------------------------


@dataclass
class DeadlineRun:
    unreviewed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)
    auto_accepted: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return asdict(self)


def _due(uow: UnitOfWork, status: OrderStatus, column: Any, now: datetime, limit: int,
         *conditions: Any) -> list[str]:
    with uow:
        return list(uow.session.scalars(
            select(Order.id).where(Order.status == status.value, column.is_not(None),
                                   column <= now, *conditions)
            .order_by(column, Order.id).limit(limit)))


def _still_due(uow: UnitOfWork, order_id: str, status: OrderStatus, column: Any,
               now: datetime, *conditions: Any) -> Order | None:
    """The order, locked, if it is still due (nobody acted on it meanwhile); None if it is
    not, or if another worker holds it."""
    found: Order | None = uow.session.scalars(
        select(Order).where(Order.id == order_id, Order.status == status.value,
                            column <= now, *conditions)
        .with_for_update(skip_locked=True)).one_or_none()
    return found


def run_deadlines(*, uow: UnitOfWork, limit: int = 200) -> DeadlineRun:
    """Enforce the time limits (the worker, as the system): orders nobody reviewed in the
    review window are cancelled (and taken off the review queue); unpaid orders past the
    payment window are cancelled; paid orders not delivered in the delivery window are refunded;
    delivered orders not accepted or disputed in the acceptance window are accepted and
    settled; disputes the merchant did not answer in time go to the operator.

    Each order is handled in a transaction of its own, so one order's money never waits on
    another's, and what was done stays done if a later order fails."""
    run = DeadlineRun()
    now = uow.clock.now()
    # A flagged order is not accepted while its rights chain is broken: its money waits in
    # escrow for the rights to be restored or for a dispute's decision.
    duties: list[tuple[OrderStatus, Any, tuple[Any, ...], Callable[[Order], None],
                       list[str]]] = [
        (OrderStatus.CREATED, Order.review_by, (),
         lambda order: _expire_review(uow, order), run.unreviewed),
        (OrderStatus.AWAITING_PAYMENT, Order.pay_by, (),
         lambda order: _cancel(uow, order, "payment_expired", "the payment window ended"),
         run.cancelled),
        (OrderStatus.PAID, Order.deliver_by, (),
         lambda order: _refund(uow, order, "undelivered", "the delivery window ended"),
         run.refunded),
        (OrderStatus.DELIVERED, Order.accept_by, (Order.flagged.is_(False),),
         lambda order: _accept(uow, order, auto=True), run.auto_accepted),
    ]
    for status, column, conditions, act, done in duties:
        for order_id in _due(uow, status, column, now, limit, *conditions):
            with uow:
                order = _still_due(uow, order_id, status, column, now, *conditions)
                if order is None:
                    continue
                act(order)
                uow.commit()
            done.append(order_id)
    with uow:
        stmt = (select(Dispute).where(Dispute.status == DisputeStatus.OPEN.value,
                                      Dispute.answer_by <= now)
                .order_by(Dispute.answer_by, Dispute.id).limit(limit)
                .with_for_update(skip_locked=True))
        for dispute in uow.session.scalars(stmt):
            dispute.status = DisputeStatus.UNANSWERED.value
            uow.audit.record(uow.actor, "dispute.unanswered", "dispute", dispute.id,
                             dispute.state())
            run.unanswered.append(dispute.id)
        uow.commit()
    return run


# -- reading ------------------------------------------------------------------------------


def get_order(order_id: str, *, uow: UnitOfWork) -> OrderView:
    with uow:
        order = uow.session.scalars(_visible(uow.actor).where(Order.id == order_id)
                                    ).one_or_none()
        if order is None:
            raise OrderNotFound()
        contract = uow.session.scalars(select(Contract).where(Contract.order_id == order.id)
                                       ).one_or_none()
        deliveries = list(uow.session.scalars(select(Delivery).where(
            Delivery.order_id == order.id).order_by(Delivery.id)))
        disputes = list(uow.session.scalars(select(Dispute).where(
            Dispute.order_id == order.id).order_by(Dispute.id)))
        return OrderView(order, contract, deliveries, disputes)


@dataclass(frozen=True)
class OrderFilters:
    status: str | None = None
    role: str | None = None  # buyer or seller: the caller's side
    product: str | None = None
    party: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    min_amount: int | None = None
    max_amount: int | None = None


def list_orders(filters: OrderFilters, *, uow: UnitOfWork, after: str | None = None,
                limit: int = 50) -> Page[Order]:
    """Orders the caller may see, newest id last (keyset pages)."""
    with uow:
        stmt = _visible(uow.actor)
        org = uow.actor.org_id or ""
        if filters.role == "buyer":
            stmt = stmt.where(Order.buyer_org_id == org)
        elif filters.role == "seller":
            stmt = stmt.where(Order.seller_org_id == org)
        if filters.status:
            stmt = stmt.where(Order.status == filters.status)
        if filters.product:
            stmt = stmt.where(Order.product_id == filters.product)
        if filters.party:
            stmt = stmt.where((Order.buyer_org_id == filters.party)
                              | (Order.seller_org_id == filters.party))
        if filters.created_from:
            stmt = stmt.where(Order.created_at >= filters.created_from)
        if filters.created_to:
            stmt = stmt.where(Order.created_at < filters.created_to)
        if filters.min_amount is not None:
            stmt = stmt.where(Order.amount >= filters.min_amount)
        if filters.max_amount is not None:
            stmt = stmt.where(Order.amount <= filters.max_amount)
        return keyset_page(uow.session, stmt, Order.id, after=after, limit=limit)


def order_history(order_id: str, *, uow: UnitOfWork, after: str | None = None,
                  limit: int = 50) -> Page[OrderEvent]:
    with uow:
        if uow.session.scalars(_visible(uow.actor).where(Order.id == order_id)
                               ).one_or_none() is None:
            raise OrderNotFound()
        stmt = select(OrderEvent).where(OrderEvent.order_id == order_id)
        return keyset_page(uow.session, stmt, OrderEvent.id, after=after, limit=limit)


@dataclass(frozen=True)
class OrderMoney:
    journals: list[Any]
    postings: dict[str, list[Any]]
    allocations: list[Any]


def order_money(order_id: str, *, uow: UnitOfWork) -> OrderMoney:
    """An order's ledger journals with their postings and its revenue allocations, for its
    parties, the operator and regulators."""
    with uow:
        if uow.session.scalars(_visible(uow.actor).where(Order.id == order_id)
                               ).one_or_none() is None:
            raise OrderNotFound()
        journals, allocations = settlement.order_money(uow.session, order_id)
        postings = settlement.journal_postings(uow.session, [j.id for j in journals])
        return OrderMoney(journals, postings, allocations)


# -- distribution rules -------------------------------------------------------------------


def distribution_rule(product_id: str, *, policy: Policy, uow: UnitOfWork
                      ) -> tuple[DistributionRule, bool]:
    """A product's distribution rule and whether its merchant set it (otherwise the default
    derived from its rights chain).

    Raises:
        ProductNotFound: not listed, and not the caller's product.
    """
    with uow:
        view = _product_for_rule(uow, product_id)
        stored = settlement.stored_rule(uow.session, product_id)
        if stored is not None:
            return DistributionRule.from_dict(stored), True
        return _rule(uow, view, policy), False


def _product_for_rule(uow: UnitOfWork, product_id: str) -> listing.TradeView:
    view = listing.trade_view(product_id, stage=Stage.ORDER,
                              buyer_org_id=uow.actor.org_id or "", commitment=None,
                              uow=uow.joined())
    actor = uow.actor
    if not (actor.is_system or actor.has_role(*SEE_ALL)
            or actor.org_id == view.merchant_org_id):
        raise ProductNotFound()
    return view


def set_distribution_rule(product_id: str, shares: Sequence[Mapping[str, Any]], *,
                          policy: Policy, uow: UnitOfWork) -> DistributionRule:
    """The merchant sets how its product's revenue is shared (收益分配): shares in basis
    points for the parties of its rights chain (resource holders, processors, itself) and
    brokers; the platform fee is the exchange's. Orders placed afterwards freeze the rule.

    Raises:
        RoleNotAllowed, ProductNotFound, NotTheMerchant, InvalidInput (a party that is not
        in the rights chain, a broker that is not a broker, shares not summing to 10,000).
    """
    require(uow.actor, Role.MERCHANT)
    with uow:
        view = _product_for_rule(uow, product_id)
        if uow.actor.org_id != view.merchant_org_id:
            raise NotTheMerchant()
        rule = DistributionRule.from_dict({
            "platform_fee_bps": policy.platform_fee_bps, "shares": list(shares)})
        by_role = {ShareRole.RESOURCE_HOLDER: "resource_holding",
                   ShareRole.PROCESSOR: "processing_use"}
        chain = {(link.kind, link.holder_org_id) for link in view.chain.links}
        errors: dict[str, list[str]] = {}
        brokers = participants.organisation_facts(
            uow.session, [s.org_id for s in rule.shares if s.role is ShareRole.BROKER])
        for i, share in enumerate(rule.shares):
            if share.role is ShareRole.MERCHANT and share.org_id != view.merchant_org_id:
                errors[f"shares.{i}.org_id"] = ["the merchant line is the product's merchant"]
            elif share.role in by_role and (by_role[share.role], share.org_id) not in chain:
                errors[f"shares.{i}.org_id"] = [
                    f"not a {by_role[share.role]} holder in the product's rights chain"]
            elif share.role is ShareRole.BROKER and "broker" not in (
                    brokers[share.org_id].roles if share.org_id in brokers else ()):
                errors[f"shares.{i}.org_id"] = ["not an organisation with the broker role"]
        if errors:
            raise InvalidInput(errors=errors)
        settlement.store_rule(uow.joined(), product_id, rule)
        uow.commit()
        return rule


# -- reactions to rights ---------------------------------------------------------------------


def on_rights_unavailable(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Flag the open orders of products whose rights chain just broke: they cannot be paid
    or delivered until the rights are restored."""
    products = rights.operated_products(payload["right_ids"], session=uow.session)
    if not products:
        return
    stmt = (select(Order).where(Order.product_id.in_(sorted(products)),
                                Order.status.in_([s.value for s in OPEN]))
            .order_by(Order.id).with_for_update())
    for order in uow.session.scalars(stmt):
        order.flagged = True
        order.flag_reason = f"rights chain broken: {payload.get('reason', '')}".strip()
        uow.audit.record(uow.actor, "order.flagged", "order", order.id, order.state())
        uow.outbox.enqueue("order.flagged", {"order_id": order.id})


def on_rights_restored(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Clear the flag of orders whose product's chain holds again."""
    products = rights.operated_products(payload["right_ids"], session=uow.session)
    if not products:
        return
    stmt = (select(Order).where(Order.product_id.in_(sorted(products)),
                                Order.flagged.is_(True)).order_by(Order.id).with_for_update())
    for order in uow.session.scalars(stmt):
        if rights.check_chain(order.product_id, uow.clock.now(), uow=uow.joined()).ok:
            order.flagged = False
            order.flag_reason = None
            uow.audit.record(uow.actor, "order.unflagged", "order", order.id, order.state())


def policy_of(settings: Any) -> Policy:
    """The trading policy the settings configure."""
    return Policy(
        review_window=timedelta(hours=settings.review_window_hours),
        payment_window=timedelta(hours=settings.payment_window_hours),
        delivery_window=timedelta(hours=settings.delivery_window_hours),
        acceptance_window=timedelta(hours=settings.acceptance_window_hours),
        answer_window=timedelta(hours=settings.dispute_answer_hours),
        download_ttl=timedelta(seconds=settings.download_ttl_seconds),
        download_limit=settings.download_limit,
        platform_fee_bps=settings.platform_fee_bps, holder_bps=settings.split_holder_bps,
        processor_bps=settings.split_processor_bps)
