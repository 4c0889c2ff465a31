"""Delivering an order and using what was delivered: the seller's delivery (a file into
content-addressed storage, an API credential, or a sandbox grant), judged by the compliance
rules again at the time of delivery; the buyer's expiring download links; the merchant's
API checking a credential and reporting pay-per-use units."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from market.compliance import services as compliance
from market.kernel.actor import system_actor
from market.kernel.db import lock_name
from market.kernel.errors import InvalidInput
from market.kernel.ids import new_id
from market.kernel.storage import FileStore, file_store, flat
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.trading import metering, repository
from market.trading.domain import DeliveryMode, OrderStatus, Policy
from market.trading.errors import (
    CredentialNotValid,
    DeliveryFileDeleted,
    DeliveryModeNotOffered,
    DeliveryRefused,
    DownloadNotAllowed,
    NoFileDelivered,
)
from market.trading.models import Delivery, DownloadToken, Order
from market.trading.services import _subscribed, retention, signing
from market.trading.services._common import OrderView, _moved
from market.trading.services.facts import trade_facts

DOWNLOADABLE = frozenset({OrderStatus.DELIVERED.value, OrderStatus.ACCEPTED.value,
                          OrderStatus.SETTLED.value, OrderStatus.DISPUTED.value,
                          OrderStatus.RESOLVED.value})


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


def store_file(upload: FileUpload, storage: FileStore | Path, *, uow: UnitOfWork
               ) -> tuple[str, int]:
    """Copy an upload into content-addressed storage (key: its SHA-256) while hashing it,
    in bounded memory; returns (sha256, size). The file is placed under its
    ``stored_file_lock``, in ``uow``'s transaction after it has written, so a retention
    sweep deleting the same content either finished before (the file is placed again) or
    waits and sees this delivery."""
    stored = file_store(storage).put(
        upload.stream, flat,
        before_placing=lambda sha: lock_name(uow.session, retention.stored_file_lock(sha)))
    return stored.sha256, stored.size


def deliver(order_id: str, data: DeliveryInput, *, storage: FileStore | Path, policy: Policy,
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
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        order.require_seller(uow.actor)
        order.check_deliverable(uow.clock.now())
        commitment = compliance.get_declaration_record(order.commitment_id, uow=uow.joined())
        view = listing.on_sale(order.product_id, version_id=order.version_id,
                               offer_id=order.offer_id, uow=uow.joined())
        if data.mode.value not in view.delivery_modes:
            raise DeliveryModeNotOffered()
        metered = metering.is_metered(repository.contract_of(uow.session, order))
        if metered and data.mode is not DeliveryMode.API:
            raise InvalidInput(errors={"mode": ["a pay-per-use order is delivered by API"]})
        facts, _ = trade_facts(view, compliance.Stage.DELIVERY, buyer_org_id=order.buyer_org_id,
                               commitment=commitment.answers if commitment else {}, uow=uow,
                               delivery_modes=(data.mode.value,))
        facts = replace(facts, contract=signing.signing_facts(
            uow, order, required=policy.contract_signatures_required))
        passage = compliance.gate(facts, ("order", order.id), refusal=DeliveryRefused,
                                  uow=uow, declaration_id=order.commitment_id)
        now = uow.clock.now()
        delivery = Delivery(id=new_id("dlv"), order_id=order.id, mode=data.mode.value,
                            decision_id=passage.decision_id, note=data.note, delivered_at=now)
        credential = None
        if data.mode is DeliveryMode.FILE:
            if data.file is None:
                raise InvalidInput(errors={"file": ["a file delivery needs the file"]})
            sha, size = store_file(data.file, storage, uow=uow)
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
        _subscribed.on_delivered(uow, order, delivery)
        uow.session.add(delivery)
        uow.session.flush()
        uow.audit.record(uow.actor, "delivery.made", "delivery", delivery.id, delivery.state())
        previous = order.deliver(now, accept_by=(
            delivery.access_to if metered and delivery.access_to
            else now + policy.acceptance_window))
        _moved(uow, order, previous, OrderStatus.DELIVERED, "delivered")
        uow.commit()
        return OrderView(order, deliveries=[delivery]), credential


def issue_download_token(order_id: str, *, policy: Policy, uow: UnitOfWork
                         ) -> tuple[str, DownloadToken]:
    """A new download link for the buyer: it expires after the configured time and allows
    the configured number of downloads. The token is shown once.

    Raises:
        OrderNotFound, NotAParty, NoFileDelivered.
        DeliveryFileDeleted: the file was deleted once no contract needed it (410).
        DownloadNotAllowed: the order's subscription period or contract term is over.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        order.require_buyer(uow.actor)
        delivery = repository.file_delivery(uow.session, order.id)
        if delivery is None or order.status not in DOWNLOADABLE:
            raise NoFileDelivered()
        if delivery.file_deleted_at is not None:
            raise DeliveryFileDeleted(sha256=delivery.sha256)
        if not _subscribed.grants_access(uow, order) or retention.term_over(uow, order):
            raise DownloadNotAllowed()
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
    store: FileStore
    key: str
    name: str
    media_type: str
    sha256: str
    remaining: int

    @property
    def path(self) -> Path | None:
        """The file on this machine, when the store keeps it locally."""
        return self.store.local_path(self.key)


def redeem_download(token: str, *, counted: bool, storage: FileStore | Path, uow: UnitOfWork
                    ) -> Download:
    """The file a download token opens. ``counted`` requests (a whole download, or a range
    from the first byte) use one of the token's downloads; further ranges of the same
    download do not.

    Raises:
        DownloadNotAllowed: unknown, expired or used-up token, or the order no longer
            allows downloads (refunded, cancelled, its term over).
        DeliveryFileDeleted: the file was deleted once no contract needed it (410).
    """
    digest = hashlib.sha256(token.encode()).hexdigest()
    with uow:
        record = repository.download_token_for_update(uow.session, digest)
        now = uow.clock.now()
        if record is None or now >= record.expires_at:
            raise DownloadNotAllowed()
        order = uow.session.get(Order, record.order_id)
        delivery = uow.session.get(Delivery, record.delivery_id)
        if delivery is not None and delivery.file_deleted_at is not None:
            raise DeliveryFileDeleted(sha256=delivery.sha256)
        if order is None or delivery is None or order.status not in DOWNLOADABLE or (
                not _subscribed.grants_access(uow, order)) or retention.term_over(uow, order):
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
        return Download(file_store(storage), flat(delivery.sha256),
                        delivery.file_name or "delivery",
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
    is delivered or settled, not flagged, and within its access term (for a subscription,
    while a paid period runs).

    Raises:
        CredentialNotValid: unknown, or not a credential of the caller's orders.
    """
    digest = hashlib.sha256(credential.encode()).hexdigest()
    with uow:
        delivery = repository.delivery_by_credential(uow.session, digest)
        order = uow.session.get(Order, delivery.order_id) if delivery else None
        if delivery is None or order is None or (
            not uow.actor.is_system and uow.actor.org_id != order.seller_org_id
        ):
            raise CredentialNotValid()
        contract = repository.contract_of(uow.session, order)
        now = uow.clock.now()
        access_to = delivery.access_to
        if order.subscription_id is not None:  # access lasts while a paid period runs
            access_to = _subscribed.access_end(uow, order)
            within = _subscribed.grants_access(uow, order)
        else:
            within = access_to is None or now < access_to
        valid = order.status in DOWNLOADABLE and not order.flagged and within
        return CredentialCheck(order.id, order.buyer_org_id, order.product_id, order.status,
                               valid, access_to, dict(contract.document["terms"]))


def record_usage(order_id: str, key: str, units: int, *, uow: UnitOfWork
                 ) -> tuple[metering.Usage, bool]:
    """The merchant's API reports usage of a pay-per-use order within its period (once per
    key); returns the order's usage so far and whether this report was new.

    Raises:
        OrderNotFound, NotAParty, NotMetered, InvalidTransition, MeteringPeriodOver,
        UsageKeyReused.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        order.require_seller(uow.actor)
        contract = repository.contract_of(uow.session, order)
        found, new = metering.record(uow.session, order, contract, key, units,
                                     at=uow.clock.now())
        if new:
            uow.audit.record(uow.actor, "usage.recorded", "usage_record", found.id,
                             {"order_id": order.id, "key": key, "units": units})
        summary = metering.usage(uow.session, order, contract)
        uow.commit()
        return summary, new


def order_usage(order_id: str, *, uow: UnitOfWork) -> metering.Usage:
    """A pay-per-use order's units so far and what they cost, capped.

    Raises:
        OrderNotFound, NotMetered.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id)
        return metering.usage(uow.session, order, repository.contract_of(uow.session, order))
