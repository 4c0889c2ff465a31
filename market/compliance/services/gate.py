"""The compliance gate and the rule engine's decisions: judge the facts a caller passes by
value with every rule, keep the decision about its subject (refusing a blocked change with
the refusal on record), and read decisions with object-level visibility.

Judging runs inside the caller's unit of work (listing submission, ordering, delivery), so a
decision commits with the business change it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from market.compliance import repository
from market.compliance.domain import (
    RULESET_VERSION,
    DeclarationKind,
    Facts,
    Outcome,
    Verdict,
    evaluate,
)
from market.compliance.errors import DecisionNotFound
from market.compliance.models import Decision
from market.compliance.services.declarations import sign_declaration
from market.kernel.errors import MarketError
from market.kernel.ids import new_id
from market.kernel.pagination import Page, keyset_page, where_given
from market.kernel.uow import UnitOfWork


def _keep(facts: Facts, outcome: Outcome, verdicts: Sequence[Verdict], *, subject_type: str,
          subject_id: str, declaration_id: str | None, uow: UnitOfWork) -> Decision:
    """Keep a decision: every verdict, the facts and the rule set's version, in the caller's
    transaction, audited."""
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
        if detail and "code" not in detail:  # what the rule judged, e.g. the matrix cell
            found[-1]["detail"] = detail
    return found


def failing(decision: Decision) -> list[Verdict]:
    """The verdicts of a decision that did not pass, strictest first."""
    order = [Outcome.BLOCK, Outcome.NEEDS_ASSESSMENT, Outcome.NEEDS_REVIEW]
    found = [Verdict(v["rule"], Outcome(v["outcome"]), v["reason"], v.get("detail"))
             for v in decision.verdicts if v["outcome"] != Outcome.PASS.value]
    return sorted(found, key=lambda v: order.index(v.outcome))


def decision_ids(subject_id: str, *, uow: UnitOfWork) -> list[str]:
    """The ids of every decision about a subject, oldest first."""
    return repository.decision_ids(uow.session, subject_id)


def get_decision(decision_id: str, *, uow: UnitOfWork) -> Decision:
    """One decision with every verdict.

    Raises:
        DecisionNotFound: no such decision, or one about other organisations.
    """
    with uow:
        decision: Decision | None = uow.session.scalars(
            repository.visible_decisions(uow.actor).where(Decision.id == decision_id)
        ).one_or_none()
        if decision is None:
            raise DecisionNotFound()
        return decision


def list_decisions(*, uow: UnitOfWork, stage: str | None = None, outcome: str | None = None,
                   subject_id: str | None = None, after: str | None = None,
                   limit: int = 50) -> Page[Decision]:
    """Decisions about your organisation's listings and orders; every one for staff."""
    with uow:
        stmt = where_given(repository.visible_decisions(uow.actor),
                                (Decision.stage, stage), (Decision.outcome, outcome),
                                (Decision.subject_id, subject_id))
        return keyset_page(uow.session, stmt, Decision.id, after=after, limit=limit)
