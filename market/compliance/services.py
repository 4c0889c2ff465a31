"""Compliance services: sign declarations, judge facts with the rule engine and keep the
decisions, record breaches, and read all of these with object-level visibility.

Signing and deciding run inside the caller's unit of work (listing submission, order
placement), so a declaration or decision commits with the business change it belongs to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from market.compliance import monitoring
from market.compliance.domain import (
    CURRENT_TEMPLATE,
    RULESET_VERSION,
    BreachSeverity,
    DeclarationKind,
    Facts,
    Outcome,
    Verdict,
    credit_score,
    evaluate,
)
from market.compliance.errors import (
    AdmissionCommitmentMissing,
    AlertNotFound,
    DecisionNotFound,
    DeclarationNotFound,
    FilingNotFound,
    InvalidDeclarationSignature,
    ReviewerIsParty,
    ReviewItemNotFound,
)
from market.compliance.models import (
    Alert,
    AlertNote,
    AssessmentReport,
    Decision,
    Declaration,
    DeclarationBreach,
    Filing,
    FilingCounter,
    ReviewItem,
    SuspensionOrder,
    TradeIncident,
    signed_document,
)
from market.kernel import canonical, events
from market.kernel.actor import Actor, Role, require, system_actor
from market.kernel.errors import InvalidInput, InvalidTransition, MarketError, RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.pagination import Page, keyset_page
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.domain import Status
from market.participants.errors import OrganisationNotFound

STAFF = (Role.OPERATOR, Role.ASSESSOR, Role.REGULATOR)  # who sees every declaration and decision


def declaration_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the RFC 8785 form of a declaration's signed document."""
    return hashlib.sha256(canonical.dumps(dict(document))).hexdigest()


def _signer_of(digest: str, signature: str) -> str:
    """The address whose key signed the digest (EIP-191 personal message of its hex)."""
    try:
        address: str = Account.recover_message(encode_defunct(text=digest), signature=signature)
    except Exception as exc:  # eth-account raises several types for malformed signatures
        raise InvalidDeclarationSignature(
            errors={"signature": ["does not recover to an address over this declaration"]},
        ) from exc
    return address


def sign_declaration(
    kind: DeclarationKind, answers: Mapping[str, Any], *, subject_type: str, subject_id: str,
    signature: str | None = None, uow: UnitOfWork,
) -> Declaration:
    """Record the caller's organisation's declaration about a subject under the current
    template, with the digest of what it signed. Runs in the caller's transaction.

    Raises:
        InvalidDeclarationSignature: a signature was given and does not verify.
    """
    actor = uow.actor
    assert actor.org_id is not None, "a declaration is made by an organisation"
    template = CURRENT_TEMPLATE[kind]
    document = signed_document(kind=kind.value, template=template.id, org_id=actor.org_id,
                               subject_type=subject_type, subject_id=subject_id,
                               answers=dict(answers))
    digest = declaration_digest(document)
    declaration = Declaration(
        id=new_id("dcl"), kind=kind.value, template=template.id, org_id=actor.org_id,
        user_id=actor.user_id, subject_type=subject_type, subject_id=subject_id,
        answers=dict(answers), sha256=digest,
        signer_address=_signer_of(digest, signature) if signature else None,
        signature=signature, signed_at=uow.clock.now(),
    )
    uow.session.add(declaration)
    uow.session.flush()
    uow.audit.record(actor, "declaration.signed", "declaration", declaration.id,
                     declaration.state())
    return declaration


def declaration_of(session: Any, subject_type: str, subject_id: str) -> Declaration | None:
    """The latest declaration made about a subject, if any."""
    found: Declaration | None = session.scalars(
        select(Declaration).where(Declaration.subject_type == subject_type,
                                  Declaration.subject_id == subject_id)
        .order_by(Declaration.id.desc())).first()
    return found


def get_declaration_record(session: Any, declaration_id: str) -> Declaration | None:
    """A declaration by id, for the context that asked for it to be signed."""
    found: Declaration | None = session.get(Declaration, declaration_id)
    return found


def decision_ids(session: Any, subject_id: str) -> list[str]:
    """The ids of every decision about a subject, oldest first."""
    return list(session.scalars(select(Decision.id).where(Decision.subject_id == subject_id)
                                .order_by(Decision.id)))


def judge(facts: Facts) -> Outcome:
    """The outcome the rules give ``facts``, recording nothing (the rules are pure)."""
    return evaluate(facts)[0]


def decide(facts: Facts, *, subject_type: str, subject_id: str,
           declaration_id: str | None = None, uow: UnitOfWork) -> Decision:
    """Judge ``facts`` with every rule and keep the decision. Runs in the caller's
    transaction; the caller decides what a blocking outcome means for its own change."""
    outcome, verdicts = evaluate(facts)
    return _keep(facts, outcome, verdicts, subject_type=subject_type, subject_id=subject_id,
                 declaration_id=declaration_id, uow=uow)


def _keep(facts: Facts, outcome: Outcome, verdicts: Sequence[Verdict], *, subject_type: str,
          subject_id: str, declaration_id: str | None, uow: UnitOfWork) -> Decision:
    decision = Decision(
        id=new_id("dec"), stage=facts.stage.value, subject_type=subject_type,
        subject_id=subject_id, org_id=facts.seller.org_id,
        counterparty_org_id=facts.buyer.org_id if facts.buyer else None,
        declaration_id=declaration_id, outcome=outcome.value, ruleset_version=RULESET_VERSION,
        verdicts=[v.as_dict() for v in verdicts], facts=facts.as_dict(),
        decided_at=uow.clock.now(),
    )
    uow.session.add(decision)
    uow.session.flush()
    uow.audit.record(uow.actor, f"decision.{outcome.value}", "decision", decision.id,
                     decision.state())
    return decision


@dataclass(frozen=True)
class Declare:
    """A declaration the caller's organisation signs when the gate lets a change through."""

    kind: DeclarationKind
    answers: Mapping[str, Any]
    signature: str | None = None


@dataclass(frozen=True)
class Passage:
    """What the gate recorded for a change it let through."""

    decision_id: str
    outcome: str
    declaration_id: str | None
    declaration_sha256: str | None


Refusal = Callable[[list[dict[str, Any]]], MarketError]


def gate(facts: Facts, subject: tuple[str, str], *, refusal: Refusal, uow: UnitOfWork,
         declare: Declare | None = None, declaration_id: str | None = None) -> Passage:
    """The one compliance gate of a change (listing submission, ordering, delivery): judge
    ``facts`` once and keep the decision about ``subject`` (type, id).

    A blocking outcome commits ``uow`` (the caller's own unit of work) with the decision
    alone, so the refusal is on record, and raises ``refusal`` with each blocking rule
    named. Otherwise the declaration in ``declare`` is signed (or the one already signed,
    ``declaration_id``, is referred to) and the decision points at it; an outcome needing
    review or an assessment is the caller's to route.

    Raises:
        the caller's ``refusal``; InvalidDeclarationSignature.
    """
    subject_type, subject_id = subject
    outcome, verdicts = evaluate(facts)
    if outcome is Outcome.BLOCK:
        decision = _keep(facts, outcome, verdicts, subject_type=subject_type,
                         subject_id=subject_id, declaration_id=None, uow=uow)
        uow.commit()  # the decision alone: the refusal is on record
        raise refusal(_violations(decision))
    signed = None
    if declare is not None:
        signed = sign_declaration(declare.kind, declare.answers, subject_type=subject_type,
                                  subject_id=subject_id, signature=declare.signature, uow=uow)
        declaration_id = signed.id
    decision = _keep(facts, outcome, verdicts, subject_type=subject_type,
                     subject_id=subject_id, declaration_id=declaration_id, uow=uow)
    return Passage(decision.id, decision.outcome, declaration_id,
                   signed.sha256 if signed is not None else None)


def _violations(decision: Decision) -> list[dict[str, Any]]:
    """The blocking verdicts as a refusal names them: a broken link of the rights chain keeps
    its own code and right; other rules are named by their rule."""
    found: list[dict[str, Any]] = []
    for verdict in failing(decision):
        if verdict.outcome is not Outcome.BLOCK:
            continue
        detail = dict(verdict.detail or {})
        found.append({"code": detail.get("code", "compliance_rule"), "rule": verdict.rule,
                      "right_id": detail.get("right_id"), "message": verdict.reason,
                      "decision_id": decision.id})
    return found


def failing(decision: Decision) -> list[Verdict]:
    """The verdicts of a decision that did not pass, strictest first."""
    order = [Outcome.BLOCK, Outcome.NEEDS_ASSESSMENT, Outcome.NEEDS_REVIEW]
    found = [Verdict(v["rule"], Outcome(v["outcome"]), v["reason"], v.get("detail"))
             for v in decision.verdicts if v["outcome"] != Outcome.PASS.value]
    return sorted(found, key=lambda v: order.index(v.outcome))


# -- reading ---------------------------------------------------------------------------------


def _equal(stmt: Select[Any], *pairs: tuple[Any, Any]) -> Select[Any]:
    """``stmt`` filtered on each (column, value) whose value is given."""
    for column, value in pairs:
        if value:
            stmt = stmt.where(column == value)
    return stmt


def _sees_everything(actor: Actor) -> bool:
    return actor.is_system or actor.has_role(*STAFF)


def _visible_declarations(actor: Actor) -> Select[Any]:
    stmt = select(Declaration)
    if not _sees_everything(actor):
        stmt = stmt.where(Declaration.org_id == actor.org_id)
    return stmt


def get_declaration(declaration_id: str, *, uow: UnitOfWork,
                    ) -> tuple[Declaration, list[DeclarationBreach]]:
    """One declaration with the breaches recorded against it.

    Raises:
        DeclarationNotFound: no such declaration, or another organisation's.
    """
    with uow:
        declaration = uow.session.scalars(
            _visible_declarations(uow.actor).where(Declaration.id == declaration_id)
        ).one_or_none()
        if declaration is None:
            raise DeclarationNotFound()
        breaches = list(uow.session.scalars(
            select(DeclarationBreach).where(DeclarationBreach.declaration_id == declaration.id)
            .order_by(DeclarationBreach.id)))
        return declaration, breaches


def list_declarations(*, uow: UnitOfWork, kind: str | None = None, org: str | None = None,
                      subject_id: str | None = None, after: str | None = None,
                      limit: int = 50) -> Page[Declaration]:
    """Your organisation's declarations; everyone's for the operator, assessors, regulators."""
    with uow:
        stmt = _equal(_visible_declarations(uow.actor), (Declaration.kind, kind),
                      (Declaration.org_id, org), (Declaration.subject_id, subject_id))
        return keyset_page(uow.session, stmt, Declaration.id, after=after, limit=limit)


def record_breach(declaration_id: str, severity: BreachSeverity, reason: str,
                  evidence_sha256: Sequence[str], *, uow: UnitOfWork) -> DeclarationBreach:
    """The operator records a breach of a declaration (违反承诺); it lowers the declarant's
    credit record.

    Raises:
        RoleNotAllowed: not the operator.
        DeclarationNotFound: no such declaration.
    """
    if not (uow.actor.is_system or uow.actor.has_role(Role.OPERATOR)):
        raise RoleNotAllowed()
    with uow:
        declaration = uow.session.get(Declaration, declaration_id)
        if declaration is None:
            raise DeclarationNotFound()
        breach = DeclarationBreach(
            id=new_id("brc"), declaration_id=declaration.id, org_id=declaration.org_id,
            severity=severity.value, reason=reason, evidence_sha256=sorted(set(evidence_sha256)),
            recorded_by_org_id=uow.actor.org_id or "system",
            recorded_by_user_id=uow.actor.user_id, recorded_at=uow.clock.now(),
        )
        uow.session.add(breach)
        uow.session.flush()
        uow.audit.record(uow.actor, "declaration.breached", "declaration_breach", breach.id,
                         breach.state())
        uow.outbox.enqueue("compliance.breach_recorded", {
            "breach_id": breach.id, "org_id": breach.org_id, "severity": breach.severity})
        uow.commit()
        return breach


@dataclass(frozen=True)
class CreditRecord:
    org_id: str
    score: int
    breaches: list[DeclarationBreach]


def credit_record(org_id: str, *, uow: UnitOfWork) -> CreditRecord:
    """An organisation's credit record (信用记录): 100 less the points of its breaches.

    Raises:
        OrganisationNotFound: no such organisation, or another one for a caller who is not
            staff.
    """
    with uow:
        if not _sees_everything(uow.actor) and org_id != uow.actor.org_id:
            raise OrganisationNotFound()
        if not participants.organisation_facts(uow.session, [org_id]):
            raise OrganisationNotFound()
        breaches = list(uow.session.scalars(
            select(DeclarationBreach).where(DeclarationBreach.org_id == org_id)
            .order_by(DeclarationBreach.id)))
        return CreditRecord(org_id, credit_score([BreachSeverity(b.severity) for b in breaches]),
                            breaches)


def _visible_decisions(actor: Actor) -> Select[Any]:
    stmt = select(Decision)
    if not _sees_everything(actor):
        stmt = stmt.where(or_(Decision.org_id == actor.org_id,
                              Decision.counterparty_org_id == actor.org_id))
    return stmt


def get_decision(decision_id: str, *, uow: UnitOfWork) -> Decision:
    """One decision with every verdict.

    Raises:
        DecisionNotFound: no such decision, or one about other organisations.
    """
    with uow:
        decision: Decision | None = uow.session.scalars(
            _visible_decisions(uow.actor).where(Decision.id == decision_id)).one_or_none()
        if decision is None:
            raise DecisionNotFound()
        return decision


def list_decisions(*, uow: UnitOfWork, stage: str | None = None, outcome: str | None = None,
                   subject_id: str | None = None, after: str | None = None,
                   limit: int = 50) -> Page[Decision]:
    """Decisions about your organisation's listings and orders; every one for staff."""
    with uow:
        stmt = _equal(_visible_decisions(uow.actor), (Decision.stage, stage),
                      (Decision.outcome, outcome), (Decision.subject_id, subject_id))
        return keyset_page(uow.session, stmt, Decision.id, after=after, limit=limit)


# -- filings (登记备案) -------------------------------------------------------------------


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


@dataclass(frozen=True)
class FilingFilters:
    concluded_from: datetime | None = None
    concluded_to: datetime | None = None
    party: str | None = None
    product: str | None = None
    sector: str | None = None
    kind: str | None = None
    currency: str | None = None
    min_amount: int | None = None
    max_amount: int | None = None


def _next_filing_number(session: Any, year: int) -> str:
    """Take the next number of ``year``; the counter row serialises concurrent filers."""
    bumped = session.execute(
        update(FilingCounter).where(FilingCounter.year == year)
        .values(last=FilingCounter.last + 1).returning(FilingCounter.last)
    ).scalar_one_or_none()
    if bumped is None:
        try:
            with session.begin_nested():
                session.add(FilingCounter(year=year, last=1))
            bumped = 1
        except IntegrityError:  # another filer opened the year first: take the next one
            return _next_filing_number(session, year)
    return f"FL-{year}-{int(bumped):06d}"


def _add_filing(uow: UnitOfWork, **values: Any) -> Filing:
    now = uow.clock.now()
    filing = Filing(id=new_id("fil"), filed_at=now,
                    filed_by_org_id=uow.actor.org_id or "system", **values)
    # The rules only read: they run before the year's counter row is taken, so concurrent
    # filers queue on that row for as short a time as can be.
    raised = monitoring.check(uow.session, filing)
    filing.number = _next_filing_number(uow.session, now.year)
    uow.session.add(filing)
    uow.session.flush()
    uow.audit.record(uow.actor, "filing.filed", "filing", filing.id, filing.state())
    uow.outbox.enqueue("compliance.filed", {"filing_id": filing.id, "number": filing.number})
    _raise(uow, raised)
    return filing


def file_trade(trade: TradeFiling, *, uow: UnitOfWork) -> Filing:
    """File a trade concluded on the exchange, in the caller's transaction. An order is
    filed once: filing it again returns the filing it has (the order id is unique)."""
    existing = uow.session.scalars(select(Filing).where(Filing.order_id == trade.order_id)
                                   ).one_or_none()
    if existing is not None:
        return existing
    return _add_filing(
        uow, kind="exchange", order_id=trade.order_id, product_id=trade.product_id,
        version_id=trade.version_id, product_title=trade.product_title, sector=trade.sector,
        product_type=trade.product_type, seller_org_id=trade.seller_org_id,
        buyer_org_id=trade.buyer_org_id, amount=trade.amount, currency=trade.currency,
        rights_chain=trade.rights_chain, declaration_ids=trade.declaration_ids,
        decision_ids=trade.decision_ids, evidence_sha256=[], note=None,
        concluded_at=trade.concluded_at)


def filing_of_order(session: Any, order_id: str) -> Filing | None:
    """The filing of an order concluded on the exchange, if it has one yet."""
    found: Filing | None = session.scalars(select(Filing).where(Filing.order_id == order_id)
                                           ).one_or_none()
    return found


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
        found = participants.organisation_facts(uow.session, [report.counterparty_org_id])
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
            concluded_at=report.concluded_at)
        uow.commit()
        return filing


def _filtered_filings(stmt: Select[Any], f: FilingFilters) -> Select[Any]:
    if f.concluded_from is not None:
        stmt = stmt.where(Filing.concluded_at >= f.concluded_from)
    if f.concluded_to is not None:
        stmt = stmt.where(Filing.concluded_at < f.concluded_to)
    if f.party:
        stmt = stmt.where(or_(Filing.seller_org_id == f.party, Filing.buyer_org_id == f.party))
    stmt = _equal(stmt, (Filing.product_id, f.product), (Filing.sector, f.sector),
                  (Filing.kind, f.kind), (Filing.currency, f.currency))
    if f.min_amount is not None:
        stmt = stmt.where(Filing.amount >= f.min_amount)
    if f.max_amount is not None:
        stmt = stmt.where(Filing.amount <= f.max_amount)
    return stmt


def _visible_filings(actor: Actor) -> Select[Any]:
    stmt = select(Filing)
    if not (actor.is_system or actor.has_role(Role.OPERATOR, Role.REGULATOR)):
        stmt = stmt.where(or_(Filing.seller_org_id == actor.org_id,
                              Filing.buyer_org_id == actor.org_id))
    return stmt


def list_filings(filters: FilingFilters, *, uow: UnitOfWork, after: str | None = None,
                 limit: int = 50) -> Page[Filing]:
    """Filings of trades your organisation is a party to; every one for the operator and
    regulators."""
    with uow:
        stmt = _filtered_filings(_visible_filings(uow.actor), filters)
        return keyset_page(uow.session, stmt, Filing.id, after=after, limit=limit)


def get_filing(filing_id: str, *, uow: UnitOfWork) -> Filing:
    """One filing.

    Raises:
        FilingNotFound: no such filing, or one of a trade between other organisations.
    """
    with uow:
        filing: Filing | None = uow.session.scalars(
            _visible_filings(uow.actor).where(Filing.id == filing_id)).one_or_none()
        if filing is None:
            raise FilingNotFound()
        return filing


def stream_filings(session: Any, filters: FilingFilters, *, batch: int = 1000,
                   ) -> Iterator[Filing]:
    """Every filing passing ``filters``, in id order, fetched ``batch`` rows at a time from a
    server-side cursor, so memory stays flat however many there are. For regulators'
    exports: no visibility filter; the caller checks the reader may see everything."""
    stmt = (_filtered_filings(select(Filing), filters).order_by(Filing.id)
            .execution_options(yield_per=batch))
    for filing in session.scalars(stmt):
        yield filing
        session.expunge(filing)


def filing_statistics(session: Any, filters: FilingFilters) -> dict[str, list[dict[str, Any]]]:
    """Count and volume of filed trades by day, sector and product type (per currency)."""
    if session.get_bind().dialect.name == "postgresql":  # the calendar day in UTC
        day: Any = func.to_char(func.timezone("UTC", Filing.concluded_at), "YYYY-MM-DD")
    else:  # stored as UTC text
        day = func.substr(Filing.concluded_at, 1, 10)
    out: dict[str, list[dict[str, Any]]] = {}
    for name, column in (("by_day", day), ("by_sector", Filing.sector),
                         ("by_product_type", Filing.product_type)):
        stmt = _filtered_filings(
            select(column.label("key"), Filing.currency, func.count(), func.sum(Filing.amount))
            .group_by(column, Filing.currency).order_by(column, Filing.currency), filters)
        out[name] = [{"key": str(key), "currency": currency, "count": int(count),
                      "amount": int(amount or 0)}
                     for key, currency, count, amount in session.execute(stmt)]
    return out


# -- risk alerts (风险监测) -----------------------------------------------------------------

ALERT_TRANSITIONS = {"open": {"investigating", "closed"}, "investigating": {"closed"},
                     "closed": {"open"}}
LISTING_SUSPENSION_ORDERED = "compliance.listing_suspension_ordered"


def _note(uow: UnitOfWork, alert: Alert, to_status: str, note: str) -> None:
    uow.session.add(AlertNote(id=new_id("aln"), alert_id=alert.id, from_status=alert.status,
                              to_status=to_status, note=note,
                              by_org_id=uow.actor.org_id or "system",
                              by_user_id=uow.actor.user_id, at=uow.clock.now()))


def raise_alerts(uow: UnitOfWork, filing: Filing) -> list[Alert]:
    """Run the alert rules on a filed trade, in the filing's transaction. An alert exists
    once per rule and subject; one that was closed is reopened when its rule fires on new
    evidence, never for the same trades seen again."""
    return _raise(uow, monitoring.check(uow.session, filing))


def record_incident(kind: str, *, order_id: str, product_id: str, seller_org_id: str,
                    buyer_org_id: str, uow: UnitOfWork) -> list[Alert]:
    """Trading reports a dispute opened or a refund made on an order, in its transaction;
    the incident rules run on it."""
    incident = TradeIncident(id=new_id("inc"), kind=kind, order_id=order_id,
                             product_id=product_id, seller_org_id=seller_org_id,
                             buyer_org_id=buyer_org_id, at=uow.clock.now())
    uow.session.add(incident)
    uow.session.flush()
    return _raise(uow, monitoring.repeated_disputes_or_refunds(uow.session, incident))


def _raise(uow: UnitOfWork, raised_by_rules: Sequence[monitoring.Raised]) -> list[Alert]:
    raised: list[Alert] = []
    for found in raised_by_rules:
        alert = uow.session.scalars(select(Alert).where(
            Alert.rule == found.rule, Alert.subject_id == found.subject_id)
            .with_for_update()).one_or_none()
        now = uow.clock.now()
        if alert is None:
            alert = Alert(id=new_id("alr"), rule=found.rule, severity=found.severity,
                          status="open", subject_type=found.subject_type,
                          subject_id=found.subject_id, org_ids=found.org_ids,
                          summary=found.summary, evidence=found.evidence, opened_at=now,
                          updated_at=now)
            uow.session.add(alert)
        elif alert.status == "closed" and alert.evidence != found.evidence:
            # new evidence (not the same trades seen again by the periodic pass)
            _note(uow, alert, "open", "the rule fired again: " + found.summary)
            alert.status, alert.summary, alert.evidence = "open", found.summary, found.evidence
            alert.updated_at = now
        else:
            continue
        uow.session.flush()
        uow.audit.record(uow.actor, "alert.opened", "alert", alert.id, alert.state())
        uow.outbox.enqueue("compliance.alert", {"alert_id": alert.id, "rule": alert.rule,
                                                "severity": alert.severity})
        raised.append(alert)
    return raised


def scan(since: datetime, *, uow: UnitOfWork) -> int:
    """Run the alert rules again over trades filed since ``since`` (the periodic pass);
    returns how many alerts were opened or reopened."""
    with uow:
        filings = list(uow.session.scalars(select(Filing).where(Filing.filed_at >= since)
                                           .order_by(Filing.id)))
        opened = sum(len(raise_alerts(uow, f)) for f in filings)
        uow.commit()
        return opened


def list_alerts(*, uow: UnitOfWork, status: str | None = None, rule: str | None = None,
                after: str | None = None, limit: int = 50) -> Page[Alert]:
    """Alerts for the operator and regulators, oldest first."""
    require(uow.actor, *WATCHERS)
    with uow:
        stmt = _equal(select(Alert), (Alert.status, status), (Alert.rule, rule))
        return keyset_page(uow.session, stmt, Alert.id, after=after, limit=limit)


def get_alert(alert_id: str, *, uow: UnitOfWork) -> tuple[Alert, list[AlertNote]]:
    """One alert with its disposition history.

    Raises:
        RoleNotAllowed: neither the operator nor a regulator.
        AlertNotFound: no such alert.
    """
    require(uow.actor, *WATCHERS)
    with uow:
        alert = uow.session.get(Alert, alert_id)
        if alert is None:
            raise AlertNotFound()
        notes = list(uow.session.scalars(select(AlertNote).where(AlertNote.alert_id == alert_id)
                                         .order_by(AlertNote.id)))
        return alert, notes


def dispose(alert_id: str, to_status: str, note: str, *, uow: UnitOfWork) -> Alert:
    """Move an alert along open → investigating → closed (or reopen a closed one), with a
    note. The operator and regulators dispose of alerts.

    Raises:
        RoleNotAllowed, AlertNotFound, InvalidTransition.
    """
    require(uow.actor, *WATCHERS)
    with uow:
        alert = uow.session.scalars(select(Alert).where(Alert.id == alert_id)
                                    .with_for_update()).one_or_none()
        if alert is None:
            raise AlertNotFound()
        if to_status not in ALERT_TRANSITIONS[alert.status]:
            raise InvalidTransition(current=alert.status, target=to_status)
        _note(uow, alert, to_status, note)
        alert.status, alert.updated_at = to_status, uow.clock.now()
        uow.session.flush()
        uow.audit.record(uow.actor, f"alert.{to_status}", "alert", alert.id, alert.state())
        uow.commit()
        return alert


def order_suspension(subject_type: str, subject_id: str, reason: str,
                     alert_id: str | None = None, *, uow: UnitOfWork) -> SuspensionOrder:
    """A regulator orders a participant or a listing suspended; the order is recorded and
    carried out at once, in one transaction (by the system, on the regulator's order).

    Raises:
        RoleNotAllowed: not a regulator.
        AlertNotFound: ``alert_id`` names no alert.
        OrganisationNotFound / ProductNotFound: no such subject.
        InvalidTransition: the subject is not in a state that can be suspended.
    """
    if not (uow.actor.is_system or uow.actor.has_role(Role.REGULATOR)):
        raise RoleNotAllowed()
    with uow:
        if alert_id is not None and uow.session.get(Alert, alert_id) is None:
            raise AlertNotFound()
        order = SuspensionOrder(
            id=new_id("sso"), subject_type=subject_type, subject_id=subject_id, reason=reason,
            alert_id=alert_id, ordered_by_org_id=uow.actor.org_id or "system",
            ordered_by_user_id=uow.actor.user_id, ordered_at=uow.clock.now())
        uow.session.add(order)
        uow.session.flush()
        uow.audit.record(uow.actor, "suspension.ordered", "suspension_order", order.id,
                         order.state())
        reason_text = f"regulator order {order.id}: {reason}"
        with uow.joined(system_actor(f"suspension order {order.id}")) as executor:
            if subject_type == "participant":
                participants.change_status(subject_id, Status.SUSPENDED, reason_text,
                                           uow=executor)
            else:
                events.publish(executor, LISTING_SUSPENSION_ORDERED,
                               {"product_id": subject_id, "reason": reason_text,
                                "order_id": order.id})
        uow.commit()
        return order


# -- the review queue (审核队列) ------------------------------------------------------------

OPEN_REVIEW = ("open", "claimed")
ASSESSMENT_KINDS = ("compliance", "security")  # reports that answer needs_assessment


def _open_item(session: Any, subject_id: str) -> ReviewItem | None:
    item: ReviewItem | None = session.scalars(
        select(ReviewItem).where(ReviewItem.subject_id == subject_id,
                                 ReviewItem.status.in_(OPEN_REVIEW))
        .order_by(ReviewItem.id.desc()).with_for_update()).first()
    return item


def latest_decision(session: Any, subject_id: str) -> Decision | None:
    found: Decision | None = session.scalars(
        select(Decision).where(Decision.subject_id == subject_id)
        .order_by(Decision.id.desc())).first()
    return found


def track_review(kind: str, subject_id: str, org_id: str, status: str,
                 reason: str | None, *, uow: UnitOfWork) -> None:
    """Keep the review queue in step with a subject's lifecycle, in the caller's
    transaction: ``submitted`` puts it in the queue, ``under_review`` marks it claimed by the
    caller, any other status closes it with that outcome. The subject's own history is the
    audited record; the queue is an index of the work it implies."""
    session, now = uow.session, uow.clock.now()
    item = _open_item(session, subject_id)
    if status == "submitted":
        if item is None:
            decision = latest_decision(session, subject_id)
            session.add(ReviewItem(
                id=new_id("rvw"), kind=kind, subject_id=subject_id, org_id=org_id,
                status="open", decision_id=decision.id if decision else None,
                needs=decision.outcome if decision else "review", opened_at=now))
    elif status == "under_review":
        if item is None:
            item = ReviewItem(id=new_id("rvw"), kind=kind, subject_id=subject_id,
                              org_id=org_id, status="open", needs="review", opened_at=now)
            session.add(item)
        item.status, item.claimed_by_org_id, item.claimed_at = "claimed", uow.actor.org_id, now
    elif item is not None:
        item.status, item.outcome, item.outcome_reason, item.closed_at = (
            "closed", status, reason, now)
    session.flush()


def assessment_reports(session: Any, subject_id: str) -> list[AssessmentReport]:
    return list(session.scalars(select(AssessmentReport)
                                .where(AssessmentReport.subject_id == subject_id)
                                .order_by(AssessmentReport.id)))


def missing_assessment(session: Any, subject_id: str) -> list[str]:
    """The rules whose needs_assessment verdict no compliance or security assessment report
    answers yet (empty: nothing is missing)."""
    decision = latest_decision(session, subject_id)
    if decision is None or decision.outcome != Outcome.NEEDS_ASSESSMENT.value:
        return []
    if any(r.kind in ASSESSMENT_KINDS for r in assessment_reports(session, subject_id)):
        return []
    return [v["rule"] for v in decision.verdicts
            if v["outcome"] == Outcome.NEEDS_ASSESSMENT.value]


WATCHERS = (Role.OPERATOR, Role.REGULATOR)
REVIEWERS = (Role.OPERATOR, Role.ASSESSOR)


def list_reviews(*, uow: UnitOfWork, status: str | None = None, kind: str | None = None,
                 after: str | None = None, limit: int = 50) -> Page[ReviewItem]:
    """The review queue across contexts, oldest first (operator, assessors, regulators)."""
    require(uow.actor, *REVIEWERS, Role.REGULATOR)
    with uow:
        stmt = _equal(select(ReviewItem), (ReviewItem.status, status), (ReviewItem.kind, kind))
        return keyset_page(uow.session, stmt, ReviewItem.id, after=after, limit=limit)


def get_review(item_id: str, *, uow: UnitOfWork
               ) -> tuple[ReviewItem, list[AssessmentReport]]:
    """One queue item with the assessment reports attached to its subject.

    Raises:
        RoleNotAllowed, ReviewItemNotFound.
    """
    require(uow.actor, *REVIEWERS, Role.REGULATOR)
    with uow:
        item = uow.session.get(ReviewItem, item_id)
        if item is None:
            raise ReviewItemNotFound()
        return item, assessment_reports(uow.session, item.subject_id)


def attach_report(item_id: str, kind: str, name: str, sha256: str, *,
                  uow: UnitOfWork) -> AssessmentReport:
    """An assessor (or the operator) attaches an assessment report to an item under review,
    by the SHA-256 of the document.

    Raises:
        RoleNotAllowed, ReviewItemNotFound, InvalidTransition (the review is closed),
        ReviewerIsParty (the organisation under review assesses itself).
    """
    require(uow.actor, *REVIEWERS)
    with uow:
        item = uow.session.get(ReviewItem, item_id, with_for_update=True)
        if item is None:
            raise ReviewItemNotFound()
        if item.status not in OPEN_REVIEW:
            raise InvalidTransition(current=item.status, target="assessed")
        if item.org_id == uow.actor.org_id:
            raise ReviewerIsParty()
        report = AssessmentReport(
            id=new_id("asr"), review_item_id=item.id, subject_id=item.subject_id, kind=kind,
            name=name, sha256=sha256, issuer_org_id=uow.actor.org_id or "system",
            attached_at=uow.clock.now())
        uow.session.add(report)
        uow.session.flush()
        uow.audit.record(uow.actor, "assessment.attached", "assessment_report", report.id,
                         report.state())
        uow.commit()
        return report


# -- the admission commitment (入场承诺) -----------------------------------------------------

ADMISSION_COMMITMENTS = ("qualifications_true", "complies_with_rules", "not_blacklisted",
                         "cooperates_with_supervision")


def commit_to_admission(answers: Mapping[str, Any], *, signature: str | None = None,
                        uow: UnitOfWork) -> Declaration:
    """The caller's organisation signs its admission commitment (admission@1).

    Raises:
        RoleNotAllowed: the exchange operator and regulators make none.
        InvalidDeclarationSignature: a signature was given and does not verify.
    """
    if uow.actor.has_role(Role.OPERATOR, Role.REGULATOR) or uow.actor.org_id is None:
        raise RoleNotAllowed()
    with uow:
        declaration = sign_declaration(DeclarationKind.ADMISSION, answers,
                                       subject_type="organisation",
                                       subject_id=uow.actor.org_id, signature=signature,
                                       uow=uow)
        uow.commit()
        return declaration


def on_admitting(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Refuse to admit an applicant whose latest admission commitment is missing or does
    not make every commitment."""
    org_id = payload["organisation_id"]
    latest: Declaration | None = uow.session.scalars(
        select(Declaration).where(Declaration.kind == DeclarationKind.ADMISSION.value,
                                  Declaration.org_id == org_id)
        .order_by(Declaration.id.desc())).first()
    if latest is None:
        raise AdmissionCommitmentMissing(
            "the applicant has not signed the admission commitment")
    unmade = [c for c in ADMISSION_COMMITMENTS if latest.answers.get(c) is not True]
    if unmade:
        raise AdmissionCommitmentMissing(
            "the admission commitment does not make: " + ", ".join(unmade),
            errors={"declaration_id": [latest.id]})
