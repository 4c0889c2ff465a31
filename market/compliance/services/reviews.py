"""The review queue (审核队列): an index of the review work that listing versions, right
registrations and orders imply, kept in step with each subject's lifecycle by the context
that owns it; assessors attach assessment reports to items under review, and a subject
the rules sent for assessment waits until a compliance or security report answers it."""

from __future__ import annotations

from sqlalchemy import select

from market.compliance import repository
from market.compliance.domain import Outcome
from market.compliance.errors import ReviewItemNotFound
from market.compliance.models import AssessmentReport, ReviewItem
from market.kernel.actor import Role, require
from market.kernel.ids import new_id
from market.kernel.pagination import Page, keyset_page, where_given
from market.kernel.uow import UnitOfWork

REVIEWERS = (Role.OPERATOR, Role.ASSESSOR)
ASSESSMENT_KINDS = ("compliance", "security")  # reports that answer needs_assessment


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
            session.add(ReviewItem(
                id=new_id("rvw"), kind=kind, subject_id=subject_id, org_id=org_id,
                status="open", decision_id=decision.id if decision else None,
                needs=decision.outcome if decision else "review", opened_at=now))
    elif status == "under_review":
        if item is None:
            item = ReviewItem(id=new_id("rvw"), kind=kind, subject_id=subject_id,
                              org_id=org_id, status="open", needs="review", opened_at=now)
            session.add(item)
        item.claim(uow.actor.org_id, now)
    elif item is not None:
        item.close(status, reason, now)
    session.flush()


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
                 after: str | None = None, limit: int = 50) -> Page[ReviewItem]:
    """The review queue across contexts, oldest first (operator, assessors, regulators)."""
    require(uow.actor, *REVIEWERS, Role.REGULATOR)
    with uow:
        stmt = where_given(select(ReviewItem), (ReviewItem.status, status),
                                (ReviewItem.kind, kind))
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
