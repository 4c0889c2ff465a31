"""Products' distribution rules (收益分配) as their merchants set them; an order freezes the
rule in force in its contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from market.kernel.uow import UnitOfWork
from market.settlement import repository
from market.settlement.models import DistributionRecord
from market.settlement.split import DistributionRule, SplitPolicy, rule_from_chain


def stored_rule(product_id: str, *, uow: UnitOfWork) -> dict[str, Any] | None:
    """The distribution rule a merchant set for a product, if any."""
    found = repository.distribution_record(uow.session, product_id)
    return dict(found.rule) if found is not None else None


def store_rule(product_id: str, rule: DistributionRule, *, uow: UnitOfWork) -> None:
    """Keep a product's distribution rule, in the caller's transaction (trading checks the
    parties against the rights chain first)."""
    found = repository.distribution_record(uow.session, product_id, for_update=True)
    if found is None:
        found = DistributionRecord(product_id=product_id, rule=rule.as_dict(),
                                   set_by_org_id=uow.actor.org_id or "system",
                                   updated_at=uow.clock.now())
        uow.session.add(found)
    else:
        found.rule = rule.as_dict()
        found.set_by_org_id = uow.actor.org_id or "system"
        found.updated_at = uow.clock.now()
    uow.session.flush()
    uow.audit.record(uow.actor, "distribution.set", "product", product_id, rule.as_dict())


def rule_for(product_id: str, *, chain: Sequence[tuple[str, str]], merchant_org_id: str,
             policy: SplitPolicy, uow: UnitOfWork) -> tuple[DistributionRule, bool]:
    """The rule a product's revenue is split by: the merchant's, if it set one (True), or
    the one its rights chain ((right kind, holder) pairs) implies with the defaults."""
    stored = stored_rule(product_id, uow=uow)
    if stored is not None:
        return DistributionRule.from_dict(stored), True
    return rule_from_chain(chain, merchant_org_id=merchant_org_id,
                           holder_bps=policy.holder_bps, processor_bps=policy.processor_bps,
                           platform_fee_bps=policy.platform_fee_bps), False


def split_policy_of(settings: Any) -> SplitPolicy:
    """The split defaults the settings configure."""
    return SplitPolicy(platform_fee_bps=settings.platform_fee_bps,
                       holder_bps=settings.split_holder_bps,
                       processor_bps=settings.split_processor_bps)
