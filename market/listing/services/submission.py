"""Submitting a version for review, and the facts the compliance rules judge a listing by:
the rights chain (unbroken, in term, held by the seller, covering what the product derives
from), what the rights registrations record about the data, the parties' admission and the
declaration's answers."""

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
from market.listing.services.trade import OfferTerms
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
        facts = listing_facts(uow, product, version, declaration, now)
        passage = compliance.gate(
            facts, ("product_version", version.id), refusal=ListingRefused, uow=uow,
            declare=compliance.Declare(compliance.DeclarationKind.LISTING, declaration,
                                       signature))
        version.declare(dict(declaration), passage.declaration_sha256,
                        product_facts=facts.product.as_dict(),
                        by_user_id=uow.actor.user_id, at=now)
        move(uow, version, ListingStatus.SUBMITTED, "submitted", None)
        uow.commit()
        return view(uow.session, product, version)


def listing_facts(uow: UnitOfWork, product: Product, version: ProductVersion,
                  declaration: Mapping[str, Any], now: datetime) -> compliance.Facts:
    """What the rules judge at submission, gathered from rights and participants."""
    found = rights.product_chain(product.id, derived_from=version.derived_from,
                                 merchant_org_id=product.merchant_org_id, at=now,
                                 uow=uow.joined())
    seller = participants.organisation_facts([product.merchant_org_id], uow=uow.joined())
    facts = compliance.gather(
        compliance.Stage.LISTING, seller=seller[product.merchant_org_id],
        resources=found.resources.values(), scenarios=version.scenarios, terms=version.terms,
        broken_link=found.broken, declaration=declaration)
    facts = compliance.describe_product(
        facts, development_level=version.development_level,
        storage_location=version.storage_location, delivery_modes=version.delivery_modes)
    papers = participants.standing([product.merchant_org_id], uow=uow.joined())
    facts = compliance.with_parties(  # the seller's 主体资格 documents in force
        facts, expired={org: p.expired_documents for org, p in papers.items()})
    public = rights.public_resources(found.resources, uow=uow.joined())
    if not public:
        return facts
    offers = [OfferTerms.of(o).pricing() for o in repository.offers_of(uow.session, version.id)]
    return compliance.with_public_data(
        facts, public_resources=public,
        scopes=rights.public_data_scopes(product.merchant_org_id, at=now, uow=uow.joined()),
        pricing={"offer": None, "offers": offers, "cost_basis": version.cost_basis,
                 "terms": version.terms})
