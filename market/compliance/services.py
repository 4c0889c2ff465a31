"""Compliance services: sign declarations, judge facts with the rule engine and keep the
decisions, record breaches, and read all of these with object-level visibility.

Signing and deciding run inside the caller's unit of work (listing submission, order
placement), so a declaration or decision commits with the business change it belongs to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import Select, or_, select

from market.actor import Actor
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
    DecisionNotFound,
    DeclarationNotFound,
    InvalidDeclarationSignature,
)
from market.compliance.models import Decision, Declaration, DeclarationBreach, signed_document
from market.errors import RoleNotAllowed
from market.ids import new_id
from market.pagination import Page, keyset_page
from market.participants import services as participants
from market.participants.errors import OrganisationNotFound
from market.uow import UnitOfWork

OPERATOR, ASSESSOR, REGULATOR = "operator", "assessor", "regulator"
STAFF = (OPERATOR, ASSESSOR, REGULATOR)  # who sees every declaration and decision


def declaration_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the RFC 8785 form of a declaration's signed document."""
    return hashlib.sha256(rfc8785.dumps(dict(document))).hexdigest()


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


def judge(facts: Facts) -> Outcome:
    """The outcome the rules give ``facts``, recording nothing (the rules are pure)."""
    return evaluate(facts)[0]


def decide(facts: Facts, *, subject_type: str, subject_id: str,
           declaration_id: str | None = None, uow: UnitOfWork) -> Decision:
    """Judge ``facts`` with every rule and keep the decision. Runs in the caller's
    transaction; the caller decides what a blocking outcome means for its own change."""
    outcome, verdicts = evaluate(facts)
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


def failing(decision: Decision) -> list[Verdict]:
    """The verdicts of a decision that did not pass, strictest first."""
    order = [Outcome.BLOCK, Outcome.NEEDS_ASSESSMENT, Outcome.NEEDS_REVIEW]
    found = [Verdict(v["rule"], Outcome(v["outcome"]), v["reason"], v.get("detail"))
             for v in decision.verdicts if v["outcome"] != Outcome.PASS.value]
    return sorted(found, key=lambda v: order.index(v.outcome))


# -- reading ---------------------------------------------------------------------------------


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
        stmt = _visible_declarations(uow.actor)
        if kind:
            stmt = stmt.where(Declaration.kind == kind)
        if org:
            stmt = stmt.where(Declaration.org_id == org)
        if subject_id:
            stmt = stmt.where(Declaration.subject_id == subject_id)
        return keyset_page(uow.session, stmt, Declaration.id, after=after, limit=limit)


def record_breach(declaration_id: str, severity: BreachSeverity, reason: str,
                  evidence_sha256: Sequence[str], *, uow: UnitOfWork) -> DeclarationBreach:
    """The operator records a breach of a declaration (违反承诺); it lowers the declarant's
    credit record.

    Raises:
        RoleNotAllowed: not the operator.
        DeclarationNotFound: no such declaration.
    """
    if not (uow.actor.is_system or uow.actor.has_role(OPERATOR)):
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
        stmt = _visible_decisions(uow.actor)
        if stage:
            stmt = stmt.where(Decision.stage == stage)
        if outcome:
            stmt = stmt.where(Decision.outcome == outcome)
        if subject_id:
            stmt = stmt.where(Decision.subject_id == subject_id)
        return keyset_page(uow.session, stmt, Decision.id, after=after, limit=limit)
