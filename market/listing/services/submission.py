"""Submitting a version for review, and the facts the compliance rules judge a listing by:
the rights chain (unbroken, in term, held by the seller, covering what the product derives
from), what the rights registrations record about the data, the parties' admission and the
declaration's answers. Ordering and delivery judge the same facts with the buyer added."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from market.compliance import services as compliance
from market.kernel.actor import Role, require
from market.kernel.uow import UnitOfWork
from market.listing import repository
from market.listing.domain import ListingStatus
from market.listing.errors import ListingRefused
from market.listing.models import Product, ProductVersion
from market.listing.services._common import ProductView, move, own_product, view
from market.participants import services as participants
from market.rights import services as rights


def submit_listing(
    product_id: str, declaration: Mapping[str, Any], *, uow: UnitOfWork,
    signature: str | None = None,
) -> ProductView:
    """Submit the latest version for review with the seller's listing declaration.

    The compliance rules judge the submission: the rights chain (unbroken and in term now,
    held by the seller, covering every resource the product derives from), what the rights
    registrations record about the data (classification, personal information, evidence),
    the seller's admission, and the declaration's answers. The decision is kept whatever it
    says. A blocking decision refuses the submission and writes nothing else; otherwise the
    declaration is signed (listing@1, RFC 8785 SHA-256, optionally with the organisation's
    key signature) and the version is submitted; a decision that needs review or an
    assessment is there for the reviewer.

    Raises:
        ProductNotFound: not the caller's product.
        ListingRefused: blocking rules, each named (the broken link of the chain with it).
        InvalidTransition: the version is not a draft or returned.
        VersionOnceListed: the version was on sale once; revise the product instead.
        InvalidDeclarationSignature: a signature was given and does not verify.
    """
    require(uow.actor, Role.MERCHANT)
    with uow:
        product = own_product(uow, product_id)
        version = repository.latest_version(uow.session, product)
        version.check_submittable()
        now = uow.clock.now()
        facts, _ = facts_and_chain(uow, product, version, declaration, now,
                                   stage=compliance.Stage.LISTING)
        passage = compliance.gate(
            facts, ("product_version", version.id), refusal=ListingRefused, uow=uow,
            declare=compliance.Declare(compliance.DeclarationKind.LISTING, declaration,
                                       signature))
        version.declare(dict(declaration), passage.declaration_sha256,
                        classification=facts.product.classification,
                        by_user_id=uow.actor.user_id, at=now)
        move(uow, version, ListingStatus.SUBMITTED, "submitted", None)
        uow.commit()
        return view(uow.session, product, version)


def facts_and_chain(
    uow: UnitOfWork, product: Product, version: ProductVersion,
    declaration: Mapping[str, Any], now: datetime, *, stage: compliance.Stage,
    buyer_org_id: str | None = None, commitment: Mapping[str, Any] | None = None,
) -> tuple[compliance.Facts, Any]:
    """What the rules judge at submission (or, with a buyer, at ordering and delivery),
    gathered from rights and participants, and the rights chain it was judged on."""
    chain = rights.check_chain(product.id, now, uow=uow.joined())
    covered = {link.resource_id for link in chain.links if link.resource_id}
    broken: dict[str, Any] | None = chain.broken.as_dict() if chain.broken else None
    if broken is None:
        missing = sorted(set(version.derived_from) - covered)
        if missing:
            broken = {"code": "derivation_not_covered", "right_id": None,
                      "message": "the rights chain does not cover resources "
                                 + ", ".join(missing)}
        elif chain.links[0].holder_org_id != product.merchant_org_id:
            broken = {"code": "wrong_holder", "right_id": chain.links[0].right_id,
                      "message": "the product operation right is held by another "
                                 "organisation"}
    resources = rights.resource_profiles(sorted(covered | set(version.derived_from)),
                                         uow=uow.joined())
    parties = participants.organisation_facts(
        [product.merchant_org_id, *([buyer_org_id] if buyer_org_id else [])], uow=uow.joined())
    seller = parties[product.merchant_org_id]
    buyer = parties.get(buyer_org_id) if buyer_org_id else None
    personal = [r for r in resources.values() if r.pi_level in compliance.PERSONAL_LEVELS]
    anonymised = [r for r in resources.values() if r.pi_level == "anonymised"]
    product_facts = compliance.ProductFacts(
        classification=max((r.classification for r in resources.values()),
                           key=compliance.CLASSIFICATION_ORDER.index, default="general"),
        pi_level=max((r.pi_level for r in resources.values()),
                     key=compliance.PI_ORDER.index, default="none"),
        consent_evidence=all("consent" in r.evidence_kinds for r in personal),
        anonymisation_evidence=all("anonymisation" in r.evidence_kinds for r in anonymised),
        security_assessment=any("security_assessment" in r.evidence_kinds
                                for r in resources.values()),
        scenarios=tuple(version.scenarios),
        cross_border_allowed=version.terms.get("territory") == "cross_border",
    )
    facts = compliance.Facts(
        stage=stage,
        seller=compliance.PartyFacts(seller.id, seller.status, seller.roles),
        product=product_facts, chain_ok=broken is None, broken_link=broken,
        declaration=dict(declaration),
        buyer=compliance.PartyFacts(buyer.id, buyer.status, buyer.roles) if buyer else None,
        commitment=dict(commitment) if commitment is not None else None,
    )
    return facts, chain
