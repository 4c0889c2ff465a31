"""Review of right registrations (产权界定): the operator or an accredited assessor claims a
submitted right and approves it, registering it and issuing its certificate, or rejects it."""

from __future__ import annotations

from market.kernel.actor import Role, require
from market.kernel.uow import UnitOfWork
from market.receipts.services import Signer
from market.rights.domain import RightKind, RightStatus, refusals
from market.rights.errors import RightNotFound, RightRefused
from market.rights.models import Right
from market.rights.repository import RightsRepository
from market.rights.services._common import _move
from market.rights.services.certificates import _issue_certificate
from market.rights.services.registration import _application


def claim_review(right_id: str, *, uow: UnitOfWork) -> Right:
    """The operator or an accredited assessor takes a submitted right into review (产权界定).

    Raises:
        RoleNotAllowed: not the operator or an assessor.
        RightNotFound: unknown right.
        InvalidTransition: the right is not waiting for review.
        ReviewerIsHolder: an organisation may not review its own registration.
    """
    require(uow.actor, Role.OPERATOR, Role.ASSESSOR)
    with uow:
        right = RightsRepository(uow.session).get_right(right_id, uow.actor, for_update=True)
        if right is None:
            raise RightNotFound()
        right.claim_review(uow.actor.org_id)
        _move(uow, right, RightStatus.UNDER_REVIEW, "review_claimed", None)
        uow.commit()
        return right


def decide_review(
    right_id: str, *, approve: bool, reason: str, uow: UnitOfWork, signer: Signer
) -> Right:
    """The reviewer approves (registering the right and issuing its certificate) or rejects.

    The automatic refusals are checked again at approval: a parent may have lapsed since
    submission.

    Raises:
        RoleNotAllowed: not the operator or an assessor.
        RightNotFound: unknown right.
        ReviewClaimedByOther: another organisation claimed the review.
        ReviewerIsHolder: an organisation may not review its own registration.
        InvalidTransition: the right is not under review.
        RightRefused: approval would register a right that breaks a rule.
    """
    require(uow.actor, Role.OPERATOR, Role.ASSESSOR)
    with uow:
        repo = RightsRepository(uow.session)
        right = repo.get_right(right_id, uow.actor, for_update=True)
        if right is None:
            raise RightNotFound()
        right.check_decision(uow.actor.org_id, system=uow.actor.is_system, approve=approve)
        if not approve:
            _move(uow, right, RightStatus.REJECTED, "rejected", reason)
            _decided(uow, right)
            uow.commit()
            return right
        application = _application(
            repo, kind=RightKind(right.kind), holder=right.holder_org_id, scope=right.scope,
            term=right.term, resource_id=right.resource_id,
            parent_ids=repo.parent_ids(right.id), grant_id=right.grant_id,
            evidence=repo.evidence_kinds("right", right.id), at=uow.clock.now(),
        )
        violations = refusals(application)
        if violations:
            raise RightRefused(violations)
        _issue_certificate(uow, repo, right, signer)
        _move(uow, right, RightStatus.REGISTERED, "registered", reason)
        uow.outbox.enqueue("right.registered", {"right_id": right.id,
                                                "certificate": right.certificate_number})
        _decided(uow, right)
        uow.commit()
        return right


def _decided(uow: UnitOfWork, right: Right) -> None:
    uow.outbox.enqueue("review.decided", {"subject_type": "right", "subject_id": right.id,
                                          "decision": "approve" if right.status
                                          == RightStatus.REGISTERED.value else "reject",
                                          "status": right.status})
