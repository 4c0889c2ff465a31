"""Distribution rules (收益分配): how a product's revenue is shared among the parties of its
rights chain, brokers and the exchange. The merchant may set one; otherwise the rule is
derived from the chain with the policy's defaults. Each order freezes the rule of its time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from market.compliance import services as compliance
from market.kernel.actor import Role, require
from market.kernel.errors import InvalidInput
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.listing.errors import NotTheMerchant, ProductNotFound
from market.participants import services as participants
from market.settlement import services as settlement
from market.settlement.services import DistributionRule, ShareRole
from market.trading import repository
from market.trading.domain import Policy
from market.trading.services.placing import _rule


def distribution_rule(product_id: str, *, policy: Policy, uow: UnitOfWork
                      ) -> tuple[DistributionRule, bool]:
    """A product's distribution rule and whether its merchant set it (otherwise the default
    derived from its rights chain).

    Raises:
        ProductNotFound: not listed, and not the caller's product.
    """
    with uow:
        view = _product_for_rule(uow, product_id)
        stored = settlement.stored_rule(product_id, uow=uow.joined())
        if stored is not None:
            return DistributionRule.from_dict(stored), True
        return _rule(uow, view, policy), False


def _product_for_rule(uow: UnitOfWork, product_id: str) -> listing.TradeView:
    view = listing.trade_view(product_id, stage=compliance.Stage.ORDER,
                              buyer_org_id=uow.actor.org_id or "", commitment=None,
                              uow=uow.joined())
    if not (repository.sees_all(uow.actor) or uow.actor.org_id == view.merchant_org_id):
        raise ProductNotFound()
    return view


def set_distribution_rule(product_id: str, shares: Sequence[Mapping[str, Any]], *,
                          policy: Policy, uow: UnitOfWork) -> DistributionRule:
    """The merchant sets how its product's revenue is shared (收益分配): shares in basis
    points for the parties of its rights chain (resource holders, processors, itself) and
    brokers; the platform fee is the exchange's. Orders placed afterwards freeze the rule.

    Raises:
        RoleNotAllowed, ProductNotFound, NotTheMerchant, InvalidInput (a party that is not
        in the rights chain, a broker that is not a broker, shares not summing to 10,000).
    """
    require(uow.actor, Role.MERCHANT)
    with uow:
        view = _product_for_rule(uow, product_id)
        if uow.actor.org_id != view.merchant_org_id:
            raise NotTheMerchant()
        rule = DistributionRule.from_dict({
            "platform_fee_bps": policy.platform_fee_bps, "shares": list(shares)})
        by_role = {ShareRole.RESOURCE_HOLDER: "resource_holding",
                   ShareRole.PROCESSOR: "processing_use"}
        chain = {(link.kind, link.holder_org_id) for link in view.chain.links}
        errors: dict[str, list[str]] = {}
        brokers = participants.organisation_facts(
            [s.org_id for s in rule.shares if s.role is ShareRole.BROKER], uow=uow.joined())
        for i, share in enumerate(rule.shares):
            if share.role is ShareRole.MERCHANT and share.org_id != view.merchant_org_id:
                errors[f"shares.{i}.org_id"] = ["the merchant line is the product's merchant"]
            elif share.role in by_role and (by_role[share.role], share.org_id) not in chain:
                errors[f"shares.{i}.org_id"] = [
                    f"not a {by_role[share.role]} holder in the product's rights chain"]
            elif share.role is ShareRole.BROKER and "broker" not in (
                    brokers[share.org_id].roles if share.org_id in brokers else ()):
                errors[f"shares.{i}.org_id"] = ["not an organisation with the broker role"]
        if errors:
            raise InvalidInput(errors=errors)
        settlement.store_rule(product_id, rule, uow=uow.joined())
        uow.commit()
        return rule
