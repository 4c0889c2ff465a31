"""Filings (登记备案): every trade concluded on the exchange is filed once, in the
transaction that concludes it, and participants report trades concluded elsewhere; each
filing takes the next number of its year and runs the alert rules. A refund after
settlement is recorded on its trade's filing. Filings are read with
object-level visibility, streamed for regulators' exports and summed into statistics."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from market.compliance import monitoring, repository
from market.compliance.errors import FilingNotFound
from market.compliance.models import Alert, Filing, FilingRefund
from market.compliance.repository import FilingFilters
from market.compliance.services._common import keep_alerts
from market.kernel.actor import Role
from market.kernel.db import record
from market.kernel.errors import InvalidInput, RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.pagination import Page, keyset_page
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.receipts import services as receipts


@dataclass(frozen=True)
class TradeFiling:
    """What the trading context files when a trade concludes on the exchange."""

    order_id: str
    product_id: str
    version_id: str
    product_title: str
    sector: str
    product_type: str
    seller_org_id: str
    buyer_org_id: str
    amount: int
    currency: str
    rights_chain: list[dict[str, Any]]
    declaration_ids: list[str]
    decision_ids: list[str]
    concluded_at: datetime
    channel: str = "catalogue"  # catalogue, negotiation, match or broker
    origin: dict[str, Any] | None = None  # negotiation, demand, broker and commission


@dataclass(frozen=True)
class OffExchangeReport:
    """A trade concluded elsewhere, reported by one of its parties (场外交易备案)."""

    role: str  # the reporter's side: seller or buyer
    counterparty_org_id: str
    product_title: str
    sector: str
    product_type: str
    amount: int
    currency: str
    concluded_at: datetime
    evidence_sha256: list[str]
    note: str | None = None


def filing_filters(query: Mapping[str, Any]) -> FilingFilters:
    """The filters of a filing query as the HTTP edge parsed them (every key present)."""
    return FilingFilters(
        concluded_from=query["concluded_from"], concluded_to=query["concluded_to"],
        party=query["party"], product=query["product"], sector=query["sector"],
        kind=query["kind"], currency=query["currency"], min_amount=query["min_amount"],
        max_amount=query["max_amount"])


def _add_filing(uow: UnitOfWork, **values: Any) -> Filing:
    now = uow.clock.now()
    filing = Filing(id=new_id("fil"), filed_at=now,
                    filed_by_org_id=uow.actor.org_id or "system", **values)
    # The rules only read: they run before the year's counter row is taken, so concurrent
    # filers queue on that row for as short a time as can be.
    raised = monitoring.check(uow, filing)
    filing.number = repository.next_filing_number(uow.session, now.year)
    uow.session.add(filing)
    uow.session.flush()
    uow.audit.record(uow.actor, "filing.filed", "filing", filing.id, filing.state())
    receipts.issue(uow, kind=receipts.Kind.FILING, subject_type="filing", subject_id=filing.id,
                   record={**filing.state(), "filed_at": now,
                           "filed_by_org_id": filing.filed_by_org_id},
                   parties=[filing.seller_org_id, filing.buyer_org_id])
    uow.outbox.enqueue("compliance.filed", {"filing_id": filing.id, "number": filing.number})
    keep_alerts(uow, raised)
    return filing


def file_trade(trade: TradeFiling, *, uow: UnitOfWork) -> Any:
    """File a trade concluded on the exchange, in the caller's transaction. An order is
    filed once: filing it again returns the filing it has (the order id is unique). Returns
    the filing (a frozen record)."""
    existing = repository.filing_of_order(uow.session, trade.order_id)
    if existing is not None:
        return record(existing)
    return record(_add_filing(
        uow, kind="exchange", order_id=trade.order_id, product_id=trade.product_id,
        version_id=trade.version_id, product_title=trade.product_title, sector=trade.sector,
        product_type=trade.product_type, seller_org_id=trade.seller_org_id,
        buyer_org_id=trade.buyer_org_id, amount=trade.amount, currency=trade.currency,
        rights_chain=trade.rights_chain, declaration_ids=trade.declaration_ids,
        decision_ids=trade.decision_ids, evidence_sha256=[], note=None,
        channel=trade.channel, origin=trade.origin, concluded_at=trade.concluded_at))


@dataclass(frozen=True)
class TradeRefund:
    """A refund after settlement that trading records on the trade's filing."""

    order_id: str
    refund_id: str
    amount: int
    currency: str
    cause: str  # dispute, arbitration or goodwill
    reason: str
    refunded_at: datetime


def record_refund(refund: TradeRefund, *, uow: UnitOfWork) -> Any:
    """Record a refund on the filing of its order, in the caller's transaction; recording a
    refund again returns the first record. Returns the record (frozen).

    Raises:
        FilingNotFound: the order was never filed (it did not settle on the exchange).
    """
    existing = uow.session.scalars(select(FilingRefund).where(
        FilingRefund.refund_id == refund.refund_id)).one_or_none()
    if existing is not None:
        return record(existing)
    filing = repository.filing_of_order(uow.session, refund.order_id)
    if filing is None:
        raise FilingNotFound()
    found = FilingRefund(id=new_id("frf"), filing_id=filing.id, order_id=refund.order_id,
                         refund_id=refund.refund_id, amount=refund.amount,
                         currency=refund.currency, cause=refund.cause, reason=refund.reason,
                         refunded_at=refund.refunded_at, recorded_at=uow.clock.now())
    uow.session.add(found)
    uow.session.flush()
    uow.audit.record(uow.actor, "filing.refund_recorded", "filing", filing.id, found.state())
    return record(found)


def filing_refunds(filing_id: str, *, uow: UnitOfWork) -> list[Any]:
    """The refunds recorded on a filing, oldest first (frozen records)."""
    return [record(r) for r in uow.session.scalars(
        select(FilingRefund).where(FilingRefund.filing_id == filing_id)
        .order_by(FilingRefund.refunded_at, FilingRefund.id))]


def filing_of_order(order_id: str, *, uow: UnitOfWork) -> Any | None:
    """The filing of an order concluded on the exchange, if it has one yet (a frozen
    record)."""
    found = repository.filing_of_order(uow.session, order_id)
    return record(found) if found is not None else None


def report_off_exchange(report: OffExchangeReport, *, uow: UnitOfWork) -> Filing:
    """A merchant or buyer reports a trade it concluded off the exchange for filing.

    Raises:
        RoleNotAllowed: the caller is neither a merchant nor a buyer.
        InvalidInput: the counterparty is unknown, the caller itself or the exchange
            operator; the trade is dated in the future.
    """
    if not uow.actor.has_role("merchant", "buyer"):
        raise RoleNotAllowed()
    with uow:
        me = uow.actor.org_id
        assert me is not None
        found = participants.organisation_facts([report.counterparty_org_id], uow=uow.joined())
        other = found.get(report.counterparty_org_id)
        if other is None or other.id == me:
            raise InvalidInput("the off-exchange report cannot be filed", errors={
                "counterparty_org_id": ["must be another organisation on the exchange"]})
        if Role.OPERATOR in other.roles:
            raise InvalidInput("the off-exchange report cannot be filed", errors={
                "counterparty_org_id": ["the exchange operator never trades"]})
        if report.concluded_at > uow.clock.now():
            raise InvalidInput("the off-exchange report cannot be filed", errors={
                "concluded_at": ["must not be in the future"]})
        seller, buyer = ((me, report.counterparty_org_id) if report.role == "seller"
                         else (report.counterparty_org_id, me))
        filing = _add_filing(
            uow, kind="off_exchange", order_id=None, product_id=None, version_id=None,
            product_title=report.product_title, sector=report.sector,
            product_type=report.product_type, seller_org_id=seller, buyer_org_id=buyer,
            amount=report.amount, currency=report.currency, rights_chain=[],
            declaration_ids=[], decision_ids=[],
            evidence_sha256=sorted(set(report.evidence_sha256)), note=report.note,
            channel="off_exchange", origin=None, concluded_at=report.concluded_at)
        uow.commit()
        return filing


def list_filings(filters: FilingFilters, *, uow: UnitOfWork, after: str | None = None,
                 limit: int = 50) -> Page[Any]:
    """Filings (frozen records) of trades your organisation is a party to; every one for
    the operator and regulators."""
    with uow:
        stmt = repository.filtered_filings(repository.visible_filings(uow.actor), filters)
        return keyset_page(uow.session, stmt, Filing.id, after=after, limit=limit).map(record)


def get_filing(filing_id: str, *, uow: UnitOfWork) -> dict[str, Any]:
    """One filing, with the refunds recorded on it and its receipts.

    Raises:
        FilingNotFound: no such filing, or one of a trade between other organisations.
    """
    with uow:
        filing: Filing | None = uow.session.scalars(
            repository.visible_filings(uow.actor).where(Filing.id == filing_id)).one_or_none()
        if filing is None:
            raise FilingNotFound()
        refunds = filing_refunds(filing.id, uow=uow)
        return {**{c.key: getattr(filing, c.key) for c in Filing.__table__.columns},
                "refunds": refunds, "refunded_amount": sum(r.amount for r in refunds),
                "receipts": receipts.receipts_of(uow.joined(), "filing", [filing.id])[filing.id]}


def stream_filings(filters: FilingFilters, *, uow: UnitOfWork, batch: int = 1000,
                   ) -> Iterator[Any]:
    """Every filing passing ``filters``, in id order, fetched ``batch`` rows at a time from a
    server-side cursor, so memory stays flat however many there are. For regulators'
    exports: no visibility filter; the caller checks the reader may see everything."""
    stmt = (repository.filtered_filings(select(Filing), filters).order_by(Filing.id)
            .execution_options(yield_per=batch))
    session = uow.session
    for filing in session.scalars(stmt):
        yield record(filing)
        session.expunge(filing)


def filing_statistics(filters: FilingFilters, *, uow: UnitOfWork,
                      ) -> dict[str, list[dict[str, Any]]]:
    """Count and volume of filed trades by day, sector, product type and listed version (per
    currency), and the products whose price only related parties' trades have set."""
    return {**repository.filing_totals(uow.session, filters),
            "related_party_only": related_party_prices(filters, uow=uow)}


def related_party_prices(filters: FilingFilters, *, uow: UnitOfWork) -> list[dict[str, Any]]:
    """Products (per currency) every filed trade of which was between related parties (a
    wash-trading alert was raised on each): their price says nothing of the market."""
    flagged = select(Alert.subject_id).where(
        Alert.rule == monitoring.RELATED_PARTY_RULE, Alert.subject_type == "filing")
    related = func.count().filter(Filing.id.in_(flagged))
    totals: Any = select(Filing.product_id, func.max(Filing.product_title), Filing.currency,
                         func.count(), func.sum(Filing.amount), func.min(Filing.amount),
                         func.max(Filing.amount))
    stmt = repository.filtered_filings(
        totals.where(Filing.product_id.is_not(None))
        .group_by(Filing.product_id, Filing.currency)
        .having(func.count() == related)
        .order_by(Filing.product_id, Filing.currency), filters)
    return [{"key": str(product), "title": title, "currency": currency, "count": int(count),
             "amount": int(amount or 0), "min_amount": int(low), "max_amount": int(high)}
            for product, title, currency, count, amount, low, high in uow.session.execute(stmt)]
