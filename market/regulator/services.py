"""Regulator services: read-only queries over every participant's filings, streamed
exports and statistics, and the record of what regulators read.

Regulators never write business records; what they read is itself audited (one audit entry
per successful read request, written in its own transaction).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from market.compliance import services as compliance
from market.kernel.actor import Actor, Role, require
from market.kernel.ids import new_id
from market.kernel.pagination import Page, keyset_page, where_given
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.participants import services as participants
from market.regulator.models import SupervisionRead
from market.settlement import services as settlement
from market.trading import services as trading

EXPORT_COLUMNS = ("number", "kind", "concluded_at", "filed_at", "seller_org_id",
                  "buyer_org_id", "product_id", "version_id", "product_title", "sector",
                  "product_type", "amount", "currency", "order_id", "declaration_ids",
                  "decision_ids", "evidence_sha256", "id")


def require_regulator(actor: Actor) -> None:
    """Refuse anyone but a regulator (or the system).

    Raises:
        RoleNotAllowed
    """
    require(actor, Role.REGULATOR)


def filings(filters: compliance.FilingFilters, *, uow: UnitOfWork, after: str | None = None,
            limit: int = 50) -> Page[Any]:
    """Every participant's filings passing ``filters``, a page at a time."""
    require_regulator(uow.actor)
    return compliance.list_filings(filters, uow=uow, after=after, limit=limit)


def orders(filters: trading.OrderFilters, *, uow: UnitOfWork, after: str | None = None,
           limit: int = 50) -> Page[Any]:
    """Every participant's orders passing ``filters``, a page at a time."""
    require_regulator(uow.actor)
    return trading.list_orders(filters, uow=uow, after=after, limit=limit)


@dataclass(frozen=True)
class InspectedOrder:
    """One order as a regulator inspects it (frozen records): the order with its contract,
    deliveries, disputes and money, and its filing (登记备案) once it has one."""

    order: trading.OrderRecord
    filing: Any | None


def order_record(order_id: str, *, uow: UnitOfWork) -> InspectedOrder:
    """One order as a regulator inspects it.

    Raises:
        RoleNotAllowed, OrderNotFound.
    """
    require_regulator(uow.actor)
    found = trading.order_record(order_id, uow=uow)
    with uow:
        return InspectedOrder(found, compliance.filing_of_order(order_id, uow=uow.joined()))


# The data classes (分类分级) in the order the statistics show them; a trade reported from
# off the exchange has no listed version and so no declared class.
CLASSIFICATIONS = ("general", "important", "core")
UNCLASSIFIED = "unclassified"


def statistics(filters: compliance.FilingFilters, *, uow: UnitOfWork,
               ) -> dict[str, list[dict[str, Any]]]:
    """Filed trades: count and volume by day, month, sector, product type and data class
    (the classification the version sold was declared with), per currency."""
    require_regulator(uow.actor)
    with uow:
        stats = compliance.filing_statistics(filters, uow=uow.joined())
        by_version = stats.pop("by_version")
        classes = listing.version_classifications(
            [row["key"] for row in by_version if row["key"]], uow=uow.joined())
    by_class: dict[tuple[str, str], list[int]] = {}
    for row in by_version:
        cell = by_class.setdefault(
            (classes.get(row["key"] or "", UNCLASSIFIED), row["currency"]), [0, 0])
        cell[0] += row["count"]
        cell[1] += row["amount"]
    rank = {name: i for i, name in enumerate((*CLASSIFICATIONS, UNCLASSIFIED))}
    by_classification = sorted(_totals(by_class),
                               key=lambda row: rank.get(row["key"], len(rank)))
    return {**stats, "by_month": _totals(_by_month(stats["by_day"])),
            "by_classification": by_classification}


def _by_month(by_day: list[dict[str, Any]]) -> dict[tuple[str, str], list[int]]:
    """Daily rows summed by month (``YYYY-MM``) and currency: ``{(month, currency): [count,
    amount]}``."""
    by_month: dict[tuple[str, str], list[int]] = {}
    for row in by_day:
        cell = by_month.setdefault((row["key"][:7], row["currency"]), [0, 0])
        cell[0] += row["count"]
        cell[1] += row["amount"]
    return by_month


def _totals(cells: dict[tuple[str, str], list[int]]) -> list[dict[str, Any]]:
    return [{"key": key, "currency": currency, "count": count, "amount": amount}
            for (key, currency), (count, amount) in sorted(cells.items())]


def retention_overview(*, uow: UnitOfWork) -> dict[str, Any]:
    """The retention policy the database enforces, and how the destruction of delivered
    copies stands."""
    require_regulator(uow.actor)
    with uow:
        return {"policies": compliance.retention_policy(uow=uow.joined()),
                "destruction": trading.destruction_counts(uow=uow.joined())}


def public_data_trades(*, uow: UnitOfWork) -> list[trading.PurposeTally]:
    """Public-data trades by purpose class: how many, for how much, per currency."""
    require_regulator(uow.actor)
    return trading.public_data_trades(uow=uow)


def public_fund(*, uow: UnitOfWork, currency: str | None = None, after: str | None = None,
                limit: int = 50) -> settlement.PublicFund:
    """The public-service fund: its balance per currency and its entries."""
    require_regulator(uow.actor)
    return settlement.public_fund(uow=uow, currency=currency, after=after, limit=limit)


def _row(filing: Any) -> dict[str, Any]:
    return {
        "number": filing.number, "kind": filing.kind,
        "concluded_at": filing.concluded_at.isoformat(),
        "filed_at": filing.filed_at.isoformat(), "seller_org_id": filing.seller_org_id,
        "buyer_org_id": filing.buyer_org_id, "product_id": filing.product_id,
        "version_id": filing.version_id, "product_title": filing.product_title,
        "sector": filing.sector, "product_type": filing.product_type,
        "amount": filing.amount, "currency": filing.currency, "order_id": filing.order_id,
        "declaration_ids": filing.declaration_ids, "decision_ids": filing.decision_ids,
        "evidence_sha256": filing.evidence_sha256, "channel": filing.channel,
        "negotiation_id": (filing.origin or {}).get("negotiation_id"),
        "broker_org_id": (filing.origin or {}).get("broker_org_id"),
        "commission_bps": (filing.origin or {}).get("commission_bps"), "id": filing.id,
    }


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # never a formula in a spreadsheet (CSV injection)
    return "" if value is None else value


@dataclass
class Tally:
    """How many records a streamed read has sent so far."""

    count: int = 0

    def counted(self, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            self.count += 1
            yield row


def export_filings(filters: compliance.FilingFilters, fmt: str, *, uow: UnitOfWork,
                   batch: int = 1000, tally: Tally | None = None) -> Iterator[str]:
    """The filings passing ``filters`` as CSV (a header, then one row each) or JSON Lines,
    produced a chunk at a time from a server-side cursor: memory stays flat.

    The caller checks access before streaming (:func:`require_regulator`); ``uow`` must not
    share the request's connection: it stays open as long as the response is being sent.
    """
    require_regulator(uow.actor)
    with uow:
        rows: Iterator[dict[str, Any]] = (
            _row(f) for f in compliance.stream_filings(filters, uow=uow.joined(), batch=batch))
        if tally is not None:
            rows = tally.counted(rows)
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(EXPORT_COLUMNS)
            pending = 0
            for row in rows:
                writer.writerow([_csv_cell(row[c]) for c in EXPORT_COLUMNS])
                pending += 1
                if pending >= batch:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
                    pending = 0
            yield buffer.getvalue()
        else:
            chunk: list[str] = []
            for row in rows:
                chunk.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
                if len(chunk) >= batch:
                    yield "\n".join(chunk) + "\n"
                    chunk = []
            if chunk:
                yield "\n".join(chunk) + "\n"


def record_read(actor: Actor, *, method: str, path: str, query: str, status: int,
                result_count: int | None, uow: UnitOfWork) -> None:
    """Keep one read by a regulator (its own transaction): a row of the supervision trace in
    readable columns, and its audit-chain entry."""
    with uow:
        read = SupervisionRead(
            id=new_id("srd"), at=uow.clock.now(), org_id=actor.org_id or actor.label,
            user_id=actor.user_id, key_id=actor.key_id, method=method, path=path[:500],
            query=query[:2000], status=status, result_count=result_count,
            request_id=uow.request_id)
        uow.session.add(read)
        uow.audit.record(actor, "regulator.read", "request", path[:64],
                         {"method": method, "path": path, "query": query[:2000],
                          "status": status, "result_count": result_count, "read_id": read.id})
        uow.commit()


@dataclass(frozen=True)
class ReadFilters:
    """What the supervision trace is narrowed to."""

    org_id: str | None = None
    user_id: str | None = None
    path_prefix: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def supervision_reads(filters: ReadFilters, *, uow: UnitOfWork, after: str | None = None,
                      limit: int = 50) -> Page[SupervisionRead]:
    """Who read what: every regulator's reads, oldest first, for regulators and the
    operator."""
    require(uow.actor, Role.REGULATOR, Role.OPERATOR)
    with uow:
        stmt = where_given(select(SupervisionRead), (SupervisionRead.org_id, filters.org_id),
                           (SupervisionRead.user_id, filters.user_id))
        if filters.path_prefix:
            stmt = stmt.where(SupervisionRead.path.startswith(filters.path_prefix,
                                                              autoescape=True))
        if filters.since is not None:
            stmt = stmt.where(SupervisionRead.at >= filters.since)
        if filters.until is not None:
            stmt = stmt.where(SupervisionRead.at < filters.until)
        return keyset_page(uow.session, stmt, SupervisionRead.id, after=after, limit=limit)


# -- public disclosure (信息披露) ----------------------------------------------------------

SMALL_CELL = 3  # fewer trades than this in a cell: the volume is not disclosed


def market_statistics(*, uow: UnitOfWork) -> dict[str, Any]:
    """Filed trades for the public: count and volume by month, sector and product type.
    No party appears, and a cell of fewer than three trades shows no volume (one trade's
    price would be its volume)."""
    with uow:
        stats = compliance.filing_statistics(compliance.FilingFilters(), uow=uow.joined())
    by_month = _by_month(stats["by_day"])

    def shown(key: str, currency: str, count: int, amount: int) -> dict[str, Any]:
        return {"key": key, "currency": currency, "count": count,
                "amount": amount if count >= SMALL_CELL else None}

    return {
        "by_month": [shown(k, c, n, a) for (k, c), (n, a) in sorted(by_month.items())],
        "by_sector": [shown(r["key"], r["currency"], r["count"], r["amount"])
                      for r in stats["by_sector"]],
        "by_product_type": [shown(r["key"], r["currency"], r["count"], r["amount"])
                            for r in stats["by_product_type"]],
    }


def sanctions(*, uow: UnitOfWork) -> list[Any]:
    """Participants suspended or blacklisted, for the public."""
    with uow:
        return participants.sanctioned(uow=uow.joined())
