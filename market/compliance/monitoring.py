"""Risk monitoring (风险监测): alert rules over filed trades.

Each rule looks at one newly filed trade and the filings before it and may raise an alert
with a severity and the evidence that made it fire. Rules run when a trade is filed (in the
filing's transaction) and again over recent filings with ``market alerts scan`` (the worker's
periodic pass), which raises nothing twice: an alert is unique per rule and subject, and one
that was closed is reopened only if its rule fires on new evidence.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from market.compliance.models import Filing
from market.participants import services as participants

MEDIAN_WINDOW = timedelta(days=90)
MEDIAN_MIN_TRADES = 5
MEDIAN_FACTOR = 10  # more than ten times the median, or less than a tenth of it
CIRCULAR_WINDOW = timedelta(days=30)
BURST_WINDOW = timedelta(hours=1)
BURST_TRADES = 20


@dataclass(frozen=True)
class Raised:
    rule: str
    severity: str  # low / medium / high
    subject_type: str  # filing / organisation
    subject_id: str
    org_ids: list[str]
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)


AlertRule = Callable[[Session, Filing], "Raised | None"]
ALERT_RULES: list[AlertRule] = []


def alert_rule(fn: AlertRule) -> AlertRule:
    ALERT_RULES.append(fn)
    return fn


def _name(fn: Callable[..., Any]) -> str:
    return "".join(p.capitalize() for p in fn.__name__.split("_"))


@alert_rule
def price_far_from_sector_median(session: Session, filing: Filing) -> Raised | None:
    """A price more than ten times, or less than a tenth of, the sector's median over the
    last 90 days (at least five trades in the same currency)."""
    amounts = list(session.scalars(
        select(Filing.amount).where(
            Filing.sector == filing.sector, Filing.currency == filing.currency,
            Filing.id != filing.id,
            Filing.concluded_at >= filing.concluded_at - MEDIAN_WINDOW,
            Filing.concluded_at <= filing.concluded_at)
        .order_by(Filing.concluded_at.desc()).limit(1000)))
    if len(amounts) < MEDIAN_MIN_TRADES:
        return None
    median = statistics.median(amounts)
    if median <= 0 or MEDIAN_FACTOR * median >= filing.amount >= median / MEDIAN_FACTOR:
        return None
    return Raised(_name(price_far_from_sector_median), "medium", "filing", filing.id,
                  [filing.seller_org_id, filing.buyer_org_id],
                  f"price {filing.amount} {filing.currency} against a sector median of "
                  f"{median:g}",
                  {"median": median, "trades": len(amounts), "amount": filing.amount,
                   "sector": filing.sector})


@alert_rule
def circular_trading(session: Session, filing: Filing) -> Raised | None:
    """Wash trading (对倒): the buyer sold to the seller within 30 days before."""
    back = list(session.scalars(
        select(Filing.id).where(
            Filing.seller_org_id == filing.buyer_org_id,
            Filing.buyer_org_id == filing.seller_org_id,
            Filing.concluded_at >= filing.concluded_at - CIRCULAR_WINDOW,
            Filing.concluded_at <= filing.concluded_at)
        .order_by(Filing.id)))
    if not back:
        return None
    return Raised(_name(circular_trading), "high", "filing", filing.id,
                  sorted({filing.seller_org_id, filing.buyer_org_id}),
                  "the two parties traded the other way round within 30 days",
                  {"filings": [filing.id, *back]})


@alert_rule
def order_burst(session: Session, filing: Filing) -> Raised | None:
    """A buyer concluding twenty or more trades within an hour."""
    count = session.scalar(select(func.count()).select_from(Filing).where(
        Filing.buyer_org_id == filing.buyer_org_id,
        Filing.concluded_at > filing.concluded_at - BURST_WINDOW,
        Filing.concluded_at <= filing.concluded_at)) or 0
    if count < BURST_TRADES:
        return None
    return Raised(_name(order_burst), "medium", "organisation", filing.buyer_org_id,
                  [filing.buyer_org_id], f"{count} trades bought within an hour",
                  {"trades": int(count), "until": filing.concluded_at.isoformat()})


@alert_rule
def trading_while_not_admitted(session: Session, filing: Filing) -> Raised | None:
    """A party that is suspended, exited or blacklisted when the trade is filed."""
    facts = participants.organisation_facts(session, [filing.seller_org_id,
                                                      filing.buyer_org_id])
    barred = sorted(o.id for o in facts.values() if not o.admitted)
    if not barred:
        return None
    return Raised(_name(trading_while_not_admitted), "high", "filing", filing.id, barred,
                  "a party to the trade is not admitted",
                  {"statuses": {o.id: o.status for o in facts.values()}})


def check(session: Session, filing: Filing) -> list[Raised]:
    """Every alert the rules raise for ``filing``."""
    found = [rule(session, filing) for rule in ALERT_RULES]
    return [r for r in found if r is not None]
