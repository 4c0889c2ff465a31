"""The review queue (审核队列): an index of the review work that listing versions, right
registrations and orders imply, kept in step with each subject's lifecycle by the context
that owns it; assessors attach assessment reports to items under review, and a subject
the rules sent for assessment waits until a compliance or security report answers it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from market.compliance import repository
from market.compliance.domain import Outcome
from market.compliance.errors import ReviewerAlreadyApproved, ReviewItemNotFound
from market.compliance.models import AssessmentReport, ReviewItem
from market.compliance.rules.delivery import approvals_required
from market.kernel.actor import Role, require
from market.kernel.ids import new_id
from market.kernel.pagination import Page, keyset_page, where_given
from market.kernel.uow import UnitOfWork

REVIEWERS = (Role.OPERATOR, Role.ASSESSOR)
ASSESSMENT_KINDS = ("compliance", "security")  # reports that answer needs_assessment
SENT_TO_REVIEW = (Outcome.NEEDS_REVIEW.value, Outcome.NEEDS_ASSESSMENT.value)


def track_review(kind: str, subject_id: str, org_id: str, status: str,
                 reason: str | None, *, uow: UnitOfWork) -> None:
    """Keep the review queue in step with a subject's lifecycle, in the caller's
    transaction: ``submitted`` puts it in the queue, ``under_review`` marks it claimed by the
    caller, any other status closes it with that outcome. The subject's own history is the
    audited record; the queue is an index of the work it implies."""
    session, now = uow.session, uow.clock.now()
    item = repository.open_review_item(session, subject_id)
    if status == "submitted":
        if item is None:
            decision = repository.latest_decision(session, subject_id)
            rules = [v["rule"] for v in (decision.verdicts if decision else [])
                     if v["outcome"] in SENT_TO_REVIEW]
            session.add(ReviewItem(
                id=new_id("rvw"), kind=kind, subject_id=subject_id, org_id=org_id,
                status="open", decision_id=decision.id if decision else None,
                needs=decision.outcome if decision else "review", opened_at=now,
                rules=rules, required_approvals=approvals_required(kind, rules),
                approvals=[]))
        elif item.status == "claimed":  # handed back, or waiting for a second reviewer
            item.reopen()
    elif status == "under_review":
        if item is None:
            item = ReviewItem(id=new_id("rvw"), kind=kind, subject_id=subject_id,
                              org_id=org_id, status="open", needs="review", opened_at=now,
                              rules=[], required_approvals=1, approvals=[])
            session.add(item)
        item.claim(uow.actor.org_id, now)
    elif item is not None:
        item.close(status, reason, now)
    session.flush()


@dataclass(frozen=True)
class Approval:
    """Where a subject's approvals stand after one more: how many different reviewers
    approved it, how many must, and the rules that asked for them."""

    approvals: int
    required: int
    rules: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return self.approvals >= self.required


def _reviewer(uow: UnitOfWork) -> str:
    actor = uow.actor
    return actor.user_id or f"{actor.kind}:{actor.key_id or actor.label}"


def check_second_reviewer(subject_id: str, *, uow: UnitOfWork) -> None:
    """Refuse the caller taking up a subject it approved already (a double review needs
    another reviewer), in the caller's transaction.

    Raises:
        ReviewerAlreadyApproved: the caller gave one of its approvals.
    """
    item = repository.open_review_item(uow.session, subject_id)
    if item is not None and any(a["reviewer"] == _reviewer(uow) for a in item.approvals):
        raise ReviewerAlreadyApproved()


def record_approval(subject_id: str, reason: str, *, uow: UnitOfWork) -> Approval:
    """Record the caller's approval of a subject in review on its queue item, in the
    caller's transaction (the subject's own history, audited, records the decision): a
    subject the rules sent to a double review (双重审核) is approved only by two different
    reviewers, each a different user. A subject with no queue item needs one approval.

    Raises:
        ReviewerAlreadyApproved: the caller approved it before.
    """
    item = repository.open_review_item(uow.session, subject_id)
    if item is None:
        return Approval(1, 1, ())
    item.approve(_reviewer(uow), uow.actor.org_id, reason, uow.clock.now())
    uow.session.flush()
    return Approval(len(item.approvals), item.required_approvals, tuple(item.rules))


def missing_assessment(subject_id: str, *, uow: UnitOfWork) -> list[str]:
    """The rules whose needs_assessment verdict no compliance or security assessment report
    answers yet (empty: nothing is missing)."""
    session = uow.session
    decision = repository.latest_decision(session, subject_id)
    if decision is None or decision.outcome != Outcome.NEEDS_ASSESSMENT.value:
        return []
    if any(r.kind in ASSESSMENT_KINDS for r in repository.assessment_reports(session,
                                                                             subject_id)):
        return []
    return [v["rule"] for v in decision.verdicts
            if v["outcome"] == Outcome.NEEDS_ASSESSMENT.value]


def list_reviews(*, uow: UnitOfWork, status: str | None = None, kind: str | None = None,
                 subject_id: str | None = None, after: str | None = None,
                 limit: int = 50) -> Page[ReviewItem]:
    """The review queue across contexts, oldest first (operator, assessors, regulators),
    optionally only the items of one subject (a product version, a right, an order)."""
    require(uow.actor, *REVIEWERS, Role.REGULATOR)
    with uow:
        stmt = where_given(select(ReviewItem), (ReviewItem.status, status),
                           (ReviewItem.kind, kind), (ReviewItem.subject_id, subject_id))
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
        return item, repository.assessment_reports(uow.session, item.subject_id)


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
        item.check_assessor(uow.actor.org_id)
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
