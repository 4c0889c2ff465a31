"""Distribution rules (收益分配): how a product's revenue is shared among the parties of its
rights chain, brokers and the exchange. The merchant may set one; otherwise the rule is
derived from the chain with the exchange's defaults. Each order freezes the rule of its
time. Listing owns the product, rights the chain, settlement the rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from market.kernel.actor import Role, require
from market.kernel.errors import InvalidInput
from market.kernel.uow import UnitOfWork
from market.listing import repository
from market.listing.domain import ListingStatus
from market.listing.errors import NotTheMerchant, ProductNotFound
from market.listing.models import Product
from market.participants import services as participants
from market.rights import services as rights
from market.settlement import services as settlement
from market.settlement.services import DistributionRule, ShareRole

RULE_READERS = (Role.OPERATOR, Role.REGULATOR)  # besides the product's merchant
CHAIN_KINDS = {ShareRole.RESOURCE_HOLDER: "resource_holding",
               ShareRole.PROCESSOR: "processing_use"}


def _listed(uow: UnitOfWork, product_id: str) -> tuple[Product, rights.ChainCheck]:
    """The product, if it is on sale and the caller may see its rule, with its chain now."""
    product = repository.get_product(uow.session, product_id)
    version = repository.get_version(uow.session, product.listed_version_id
                                     if product is not None else None)
    if product is None or version is None or version.status != ListingStatus.LISTED.value:
        raise ProductNotFound()
    actor = uow.actor
    if not (actor.is_system or actor.has_role(*RULE_READERS)
            or actor.org_id == product.merchant_org_id):
        raise ProductNotFound()
    return product, rights.check_chain(product.id, uow.clock.now(), uow=uow.joined())


def _pairs(chain: rights.ChainCheck) -> list[tuple[str, str]]:
    return [(link.kind, link.holder_org_id) for link in chain.links]


def distribution_rule(product_id: str, *, policy: settlement.SplitPolicy, uow: UnitOfWork
                      ) -> tuple[DistributionRule, bool]:
    """A product's distribution rule and whether its merchant set it (otherwise the default
    derived from its rights chain).

    Raises:
        ProductNotFound: not listed, and not the caller's product.
    """
    with uow:
        product, chain = _listed(uow, product_id)
        return settlement.rule_for(product.id, chain=_pairs(chain),
                                   merchant_org_id=product.merchant_org_id, policy=policy,
                                   uow=uow.joined())


def set_distribution_rule(product_id: str, shares: Sequence[Mapping[str, Any]], *,
                          policy: settlement.SplitPolicy, uow: UnitOfWork) -> DistributionRule:
    """The merchant sets how its product's revenue is shared (收益分配): shares in basis
    points for the parties of its rights chain (resource holders, processors, itself) and
    brokers; the platform fee is the exchange's. Orders placed afterwards freeze the rule.

    Raises:
        RoleNotAllowed, ProductNotFound, NotTheMerchant, InvalidInput (a party that is not
        in the rights chain, a broker that is not a broker, shares not summing to 10,000).
    """
    require(uow.actor, Role.MERCHANT)
    with uow:
        product, chain = _listed(uow, product_id)
        if uow.actor.org_id != product.merchant_org_id:
            raise NotTheMerchant()
        rule = DistributionRule.from_dict({
            "platform_fee_bps": policy.platform_fee_bps, "shares": list(shares)})
        holders = set(_pairs(chain))
        errors: dict[str, list[str]] = {}
        brokers = participants.organisation_facts(
            [s.org_id for s in rule.shares if s.role is ShareRole.BROKER], uow=uow.joined())
        for i, share in enumerate(rule.shares):
            if share.role is ShareRole.MERCHANT and share.org_id != product.merchant_org_id:
                errors[f"shares.{i}.org_id"] = ["the merchant line is the product's merchant"]
            elif share.role in CHAIN_KINDS and (
                    CHAIN_KINDS[share.role], share.org_id) not in holders:
                errors[f"shares.{i}.org_id"] = [
                    f"not a {CHAIN_KINDS[share.role]} holder in the product's rights chain"]
            elif share.role is ShareRole.BROKER and Role.BROKER not in (
                    brokers[share.org_id].roles if share.org_id in brokers else ()):
                errors[f"shares.{i}.org_id"] = ["not an organisation with the broker role"]
        if errors:
            raise InvalidInput(errors=errors)
        settlement.store_rule(product.id, rule, uow=uow.joined())
        uow.commit()
        return rule
