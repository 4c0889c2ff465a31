"""Review and the listing lifecycle: the operator or an assessor claims a submitted version
and lists, returns or rejects it (a newly listed version supersedes the ones on sale before
it); the operator suspends and reinstates, the merchant or the operator delists."""

from __future__ import annotations

from market.compliance import services as compliance
from market.kernel.actor import Role, require
from market.kernel.errors import InvalidInput, InvalidTransition, RoleNotAllowed
from market.kernel.uow import UnitOfWork
from market.listing import catalog, repository
from market.listing.domain import ListingStatus
from market.listing.errors import ListingRefused, ProductNotFound
from market.listing.models import Product, ProductVersion
from market.listing.services._common import ProductView, move, view
from market.receipts import services as receipts
from market.rights import services as rights


def claim_review(product_id: str, *, uow: UnitOfWork) -> ProductView:
    """The operator or an assessor takes the submitted version into review (a version
    waiting for its second approval, by a reviewer other than the first).

    Raises:
        RoleNotAllowed, ProductNotFound, ReviewerIsMerchant, InvalidTransition,
        ReviewerAlreadyApproved.
    """
    require(uow.actor, Role.OPERATOR, Role.ASSESSOR)
    with uow:
        product, version = _reviewable(uow, product_id)
        compliance.check_second_reviewer(version.id, uow=uow.joined())
        version.reviewer_org_id = uow.actor.org_id
        move(uow, version, ListingStatus.UNDER_REVIEW, "review_claimed", None)
        uow.commit()
        return view(uow.session, product, version)


def _reviewable(uow: UnitOfWork, product_id: str) -> tuple[Product, ProductVersion]:
    product = repository.product_for_update(uow.session, product_id)
    if product is None:
        raise ProductNotFound()
    product.check_reviewer(uow.actor.org_id)
    pending = repository.pending_review_for_update(uow.session, product.id)
    # The version on sale, sent back to review after its rights were restored, goes first.
    version = next((v for v in pending if v.id == product.listed_version_id), None)
    if version is None:
        version = pending[0] if pending else repository.latest_version(uow.session, product)
    return product, version


def decide_review(product_id: str, decision: str, reason: str, *,
                  uow: UnitOfWork) -> ProductView:
    """List, return for corrections, or reject the version under review.

    Listing re-checks the rights chain; a newly listed version supersedes the one on sale.
    A version the rules sent to a double review (双重审核: raw data, sensitive personal
    information) is listed only by the approval of a second, different reviewer: the first
    approval is recorded and the version waits in the queue (``submitted``) for the second.

    Raises:
        RoleNotAllowed, ProductNotFound, ReviewerIsMerchant, ReviewClaimedByOther,
        InvalidTransition, ListingRefused (the chain broke since submission),
        ReviewerAlreadyApproved (the second approval would be by the first reviewer).
    """
    require(uow.actor, Role.OPERATOR, Role.ASSESSOR)
    with uow:
        product, version = _reviewable(uow, product_id)
        version.check_decider(uow.actor.org_id, is_system=uow.actor.is_system)
        if decision == "list":
            _list(uow, product, version, reason)
        elif decision == "return":
            move(uow, version, ListingStatus.RETURNED, "returned", reason)
        else:
            move(uow, version, ListingStatus.REJECTED, "rejected", reason)
        uow.outbox.enqueue("review.decided", {
            "subject_type": "product", "subject_id": product.id, "version_id": version.id,
            "decision": decision, "status": version.status})
        uow.commit()
        return view(uow.session, product, version)


def _list(uow: UnitOfWork, product: Product, version: ProductVersion, reason: str) -> None:
    """Put the version on sale in place of every older one, once every approval it needs
    is given; a first of two approvals sends it back to the queue for a second reviewer.

    Raises:
        ListingRefused: the rights chain broke, or an assessment the rules asked for is
            not attached to the review.
        ReviewerAlreadyApproved: the caller gave the first approval.
    """
    chain = rights.check_chain(product.id, uow.clock.now(), uow=uow.joined())
    if not chain.ok:
        assert chain.broken is not None
        raise ListingRefused([chain.broken.as_dict()])
    waiting = compliance.missing_assessment(version.id, uow=uow.joined())
    if waiting:
        raise ListingRefused([{
            "code": "assessment_missing", "rule": rule, "right_id": None,
            "message": "a compliance or security assessment report must be attached "
                       "to the review first"} for rule in waiting])
    approval = compliance.record_approval(version.id, reason, uow=uow.joined())
    if not approval.complete:
        move(uow, version, ListingStatus.SUBMITTED, "approved_once",
             f"approval {approval.approvals} of {approval.required}: {reason}")
        return
    move(uow, version, ListingStatus.LISTED, "listed", reason)
    for previous in repository.supersedable(uow.session, product.id, version):
        move(uow, previous, ListingStatus.SUPERSEDED, "superseded",
             f"version {version.number} listed")
    product.listed_version_id = version.id
    catalog.refresh(uow.session, product.id)
    # Public, like the catalogue entry: no organisation or right is named by its id.
    receipts.issue(uow, kind=receipts.Kind.LISTING_APPROVAL, subject_type="product_version",
                   subject_id=version.id,
                   record={"product_id": product.id, "version_id": version.id,
                           "number": version.number, "title": version.title,
                           "type": version.type, "sector": version.sector,
                           "scenarios": version.scenarios, "terms": version.terms,
                           "declaration_sha256": version.declaration_sha256,
                           "status": ListingStatus.LISTED.value, "reason": reason,
                           "rights_chain": [{"kind": link.kind,
                                             "certificate_number": link.certificate_number}
                                            for link in chain.links],
                           "listed_at": uow.clock.now()},
                   parties=[version.merchant_org_id], public=True)
    uow.outbox.enqueue("listing.listed", {"product_id": product.id,
                                          "version_id": version.id})


def change_listing_status(product_id: str, target: ListingStatus, reason: str, *,
                          uow: UnitOfWork) -> ProductView:
    """Suspend or reinstate (the operator) or delist (the merchant or the operator) the
    version on sale.

    Raises:
        RoleNotAllowed: a regulator or another role.
        ProductNotFound: unknown, or not the merchant's own.
        NotTheMerchant: a merchant asks for more than delisting.
        InvalidTransition: nothing on sale to act on, or the lifecycle forbids it.
        ListingRefused: reinstating while the rights chain is broken.
    """
    is_operator = uow.actor.is_system or uow.actor.has_role(Role.OPERATOR)
    if not is_operator and not uow.actor.has_role(Role.MERCHANT):
        raise RoleNotAllowed()
    if target not in (ListingStatus.SUSPENDED, ListingStatus.LISTED, ListingStatus.DELISTED):
        raise InvalidInput(errors={"status": ["must be suspended, listed or delisted"]})
    with uow:
        product = repository.product_for_update(uow.session, product_id)
        if product is None:
            raise ProductNotFound()
        if not is_operator:
            product.check_merchant_change(uow.actor.org_id, target,
                                          is_system=uow.actor.is_system)
        version = repository.get_version(uow.session, product.listed_version_id)
        if version is None:  # never listed: nothing to act on
            latest = repository.get_version(uow.session, product.latest_version_id)
            raise InvalidTransition(current=latest.status if latest else "none",
                                    target=target.value)
        if target is ListingStatus.LISTED:
            chain = rights.check_chain(product.id, uow.clock.now(), uow=uow.joined())
            if not chain.ok:
                assert chain.broken is not None
                raise ListingRefused([chain.broken.as_dict()])
        action = {ListingStatus.SUSPENDED: "suspended", ListingStatus.LISTED: "reinstated",
                  ListingStatus.DELISTED: "delisted"}[target]
        move(uow, version, target, action, reason)
        catalog.refresh(uow.session, product.id)
        uow.outbox.enqueue(f"listing.{action}", {"product_id": product.id,
                                                 "version_id": version.id})
        uow.commit()
        return view(uow.session, product, version)
