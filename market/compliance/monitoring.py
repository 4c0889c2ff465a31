"""Risk monitoring (风险监测): alert rules over filed trades and over trade incidents
(disputes and refunds).

Each filing rule looks at one newly filed trade and the filings before it (and the decision
the rules made when it was ordered) and may raise an alert with a severity and the evidence
that made it fire; incident rules look at one dispute or refund and those before it. Filing
rules run when a trade is filed (in the filing's transaction) and again over recent filings
with ``market alerts scan`` (the worker's periodic pass), which raises nothing twice: an
alert is unique per rule and subject, and one that was closed is reopened only if its rule
fires on new evidence.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from market.compliance.domain import PERSONAL_LEVELS
from market.compliance.models import Decision, Filing, TradeIncident
from market.kernel.uow import UnitOfWork
from market.participants import services as participants

MEDIAN_WINDOW = timedelta(days=90)
MEDIAN_MIN_TRADES = 5
MEDIAN_FACTOR = 10  # more than ten times the median, or less than a tenth of it
CIRCULAR_WINDOW = timedelta(days=30)
BURST_WINDOW = timedelta(hours=1)
BURST_TRADES = 20
PERSONAL_WINDOW = timedelta(days=90)
PERSONAL_BUYERS = 10  # distinct buyers of one personal-information product
INCIDENT_WINDOW = timedelta(days=30)
INCIDENTS = 3  # disputes or refunds of one party


@dataclass(frozen=True)
class Raised:
    rule: str
    severity: str  # low / medium / high
    subject_type: str  # filing / organisation
    subject_id: str
    org_ids: list[str]
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)


AlertRule = Callable[[UnitOfWork, Filing], "Raised | None"]
ALERT_RULES: list[AlertRule] = []


def alert_rule(fn: AlertRule) -> AlertRule:
    ALERT_RULES.append(fn)
    return fn


def _name(fn: Callable[..., Any]) -> str:
    return "".join(p.capitalize() for p in fn.__name__.split("_"))


@alert_rule
def price_far_from_sector_median(uow: UnitOfWork, filing: Filing) -> Raised | None:
    """A price more than ten times, or less than a tenth of, the sector's median over the
    last 90 days (at least five trades in the same currency)."""
    amounts = list(uow.session.scalars(
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
def circular_trading(uow: UnitOfWork, filing: Filing) -> Raised | None:
    """Wash trading (对倒): the buyer sold to the seller within 30 days before."""
    back = list(uow.session.scalars(
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
def order_burst(uow: UnitOfWork, filing: Filing) -> Raised | None:
    """A buyer concluding twenty or more trades within an hour."""
    count = 1 + (uow.session.scalar(select(func.count()).select_from(Filing).where(
        Filing.buyer_org_id == filing.buyer_org_id, Filing.id != filing.id,
        Filing.concluded_at > filing.concluded_at - BURST_WINDOW,
        Filing.concluded_at <= filing.concluded_at)) or 0)
    if count < BURST_TRADES:
        return None
    return Raised(_name(order_burst), "medium", "organisation", filing.buyer_org_id,
                  [filing.buyer_org_id], f"{count} trades bought within an hour",
                  {"trades": int(count), "until": filing.concluded_at.isoformat()})


@alert_rule
def trading_while_not_admitted(uow: UnitOfWork, filing: Filing) -> Raised | None:
    """A party that is suspended, exited or blacklisted when the trade is filed."""
    facts = participants.organisation_facts([filing.seller_org_id, filing.buyer_org_id],
                                            uow=uow.joined())
    barred = sorted(o.id for o in facts.values() if not o.admitted)
    if not barred:
        return None
    return Raised(_name(trading_while_not_admitted), "high", "filing", filing.id, barred,
                  "a party to the trade is not admitted",
                  {"statuses": {o.id: o.status for o in facts.values()}})


def _ordered_facts(uow: UnitOfWork, filing: Filing) -> dict[str, Any] | None:
    """The facts the rules judged when the filed order was placed (read once per check)."""
    if not filing.decision_ids:
        return None
    memo = uow.session.info.setdefault("market.ordered_facts", {})
    if filing.id not in memo:
        facts = uow.session.scalars(select(Decision.facts).where(
            Decision.id.in_(list(filing.decision_ids)), Decision.stage == "order")
            .order_by(Decision.id.desc())).first()
        memo[filing.id] = dict(facts) if facts is not None else None
    found: dict[str, Any] | None = memo[filing.id]
    return found


@alert_rule
def personal_information_sold_widely(uow: UnitOfWork, filing: Filing) -> Raised | None:
    """A product with personal information (even de-identified) sold to ten or more
    different buyers within 90 days."""
    facts = _ordered_facts(uow, filing)
    if facts is None or facts["product"]["pi_level"] not in PERSONAL_LEVELS:
        return None
    buyers = 1 + (uow.session.scalar(select(func.count(func.distinct(Filing.buyer_org_id))).where(
        Filing.product_id == filing.product_id, Filing.buyer_org_id != filing.buyer_org_id,
        Filing.concluded_at > filing.concluded_at - PERSONAL_WINDOW,
        Filing.concluded_at <= filing.concluded_at)) or 0)
    if buyers < PERSONAL_BUYERS:
        return None
    return Raised(_name(personal_information_sold_widely), "high", "product",
                  filing.product_id or "", [filing.seller_org_id],
                  f"{facts['product']['pi_level']} information sold to {buyers} buyers "
                  "within 90 days", {"buyers": int(buyers),
                                     "pi_level": facts["product"]["pi_level"]})


@alert_rule
def cross_border_trade(uow: UnitOfWork, filing: Filing) -> Raised | None:
    """A buyer that declared use abroad (数据出境); high when the data is important."""
    facts = _ordered_facts(uow, filing)
    if facts is None or not (facts.get("commitment") or {}).get("cross_border"):
        return None
    important = facts["product"]["classification"] == "important"
    return Raised(_name(cross_border_trade), "high" if important else "low", "filing",
                  filing.id, [filing.seller_org_id, filing.buyer_org_id],
                  "the buyer declared use abroad"
                  + (" of important data" if important else ""),
                  {"classification": facts["product"]["classification"],
                   "destination": facts["commitment"].get("destination"),
                   "security_assessment": facts["product"]["security_assessment"]})


@alert_rule
def related_party_trade(uow: UnitOfWork, filing: Filing) -> Raised | None:
    """Suspected wash trading (对敲): seller and buyer are related parties (the same legal
    representative, the same controlling shareholder, or one controlling the other), as
    judged when the trade was ordered, or from their recorded identities for a trade
    reported from off the exchange."""
    facts = _ordered_facts(uow, filing)
    judged = (facts or {}).get("related_parties")
    if judged is not None:
        links = list(judged.get("links") or [])
    else:
        links = participants.relation(filing.seller_org_id, filing.buyer_org_id,
                                      uow=uow.joined())
    if not links:
        return None
    return Raised(_name(related_party_trade), "high", "filing", filing.id,
                  sorted({filing.seller_org_id, filing.buyer_org_id}),
                  "suspected wash trading: the parties are related ("
                  + ", ".join(links) + ")",
                  {"links": links, "product_id": filing.product_id, "amount": filing.amount,
                   "currency": filing.currency})


RELATED_PARTY_RULE = _name(related_party_trade)


def check(uow: UnitOfWork, filing: Filing) -> list[Raised]:
    """Every alert the rules raise for ``filing``, whether or not it is stored yet (each rule
    counts the filing itself and the others it finds). The rules only read what is stored:
    nothing pending in the session is flushed for them."""
    try:
        with uow.session.no_autoflush:
            found = [rule(uow, filing) for rule in ALERT_RULES]
    finally:
        uow.session.info.pop("market.ordered_facts", None)
    return [r for r in found if r is not None]


def repeated_disputes_or_refunds(uow: UnitOfWork, incident: TradeIncident) -> list[Raised]:
    """A seller with three or more disputes or refunds against it within 30 days, or a buyer
    opening three or more disputes within 30 days."""
    since = incident.at - INCIDENT_WINDOW
    found = []
    for side, column, org in (("seller", TradeIncident.seller_org_id, incident.seller_org_id),
                              ("buyer", TradeIncident.buyer_org_id, incident.buyer_org_id)):
        stmt = select(TradeIncident.order_id).where(column == org, TradeIncident.at > since,
                                                    TradeIncident.at <= incident.at)
        if side == "buyer":
            stmt = stmt.where(TradeIncident.kind == "dispute")
        orders = sorted(set(uow.session.scalars(stmt)))
        if len(orders) >= INCIDENTS:
            found.append(Raised(
                _name(repeated_disputes_or_refunds), "medium", "organisation", org, [org],
                f"{len(orders)} orders disputed or refunded as {side} within 30 days",
                {"side": side, "orders": orders}))
    return found
