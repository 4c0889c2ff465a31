"""Revenue split (收益分配) of a data-product sale: 谁投入、谁贡献、谁受益.

Whoever put the data in (resource holders, 数据资源持有权), whoever contributed work on it
(processors, 数据加工使用权) and whoever sells it (the merchant, 数据产品经营权, and any
broker) share what the buyer paid, after the platform's fee. A :class:`DistributionRule`
states the shares in basis points of the net amount; :func:`rule_from_chain` derives one
from a product's right chain.

:func:`split` turns a sale into amounts with one largest-remainder allocation over the fee
and every share, so the parts sum exactly to the sale and no party is more than one minor
unit from its exact share. :func:`reverse` takes a refund back from what each line still
holds, in the same way. Both work on a canonical order of lines (platform first, then by
role, then by org id), so the result never depends on the order the shares were given in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from market.kernel.errors import InvalidInput
from market.kernel.money import allocate
from market.settlement.domain import PLATFORM

BPS = 10_000  # basis points in a whole
PLATFORM_ORG_ID = PLATFORM  # the fee line's owner, as the ledger names it


class ShareRole(StrEnum):
    RESOURCE_HOLDER = "resource_holder"  # 谁投入: holds the data resource
    PROCESSOR = "processor"  # 谁贡献: processed the data into the product
    MERCHANT = "merchant"  # 谁受益: operates and sells the product
    BROKER = "broker"  # 数据经纪: brought the sale about
    PLATFORM = "platform"  # the exchange's fee line, never a share
    PUBLIC_FUND = "public_fund"  # public data's earmark for public services, never a share


# Lines the exchange keeps itself (its fee, the public-service fund): not payees.
HOUSE_ROLES = frozenset({ShareRole.PLATFORM, ShareRole.PUBLIC_FUND})


# Canonical rank: the platform's fee line first, then the roles in their declared order.
_RANK = {ShareRole.PLATFORM: 0} | {
    role: index for index, role in enumerate(ShareRole, start=1) if role is not ShareRole.PLATFORM
}

# Right kinds of a product's chain (market.rights.domain.RightKind values).
RESOURCE_HOLDING = "resource_holding"
PROCESSING_USE = "processing_use"
PRODUCT_OPERATION = "product_operation"
_CHAIN_KINDS = (RESOURCE_HOLDING, PROCESSING_USE, PRODUCT_OPERATION)


def _canonical_key(role: ShareRole, org_id: str) -> tuple[int, str]:
    return _RANK[role], org_id


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Share:
    """One party's part of the net amount (after the platform fee), in basis points."""

    role: ShareRole
    org_id: str
    bps: int


@dataclass(frozen=True)
class DistributionRule:
    """The platform fee and the shares of the net amount; valid once built.

    Shares are kept in canonical order, so two rules listing the same shares in a different
    order are equal and store the same JSON.
    """

    shares: tuple[Share, ...]
    platform_fee_bps: int
    # Public data: the part of the price earmarked for the public-service fund (公共数据运营
    # 收益定向反哺公共服务), like the fee a line of its own; the shares split what is left.
    public_fund_bps: int = 0

    def __post_init__(self) -> None:
        self.validate()
        ordered = sorted(self.shares, key=lambda s: _canonical_key(s.role, s.org_id))
        object.__setattr__(self, "shares", tuple(ordered))

    def problems(self) -> dict[str, list[str]]:
        """Every broken rule, keyed by field (``shares.0.bps``); empty when valid."""
        found: dict[str, list[str]] = {}
        fee = self.platform_fee_bps
        if not _is_int(fee) or not 0 <= fee <= BPS:
            found["platform_fee_bps"] = [f"must be an integer from 0 to {BPS}"]
        fund: Any = self.public_fund_bps
        if not _is_int(fund) or not 0 <= fund <= BPS:
            found["public_fund_bps"] = [f"must be an integer from 0 to {BPS}"]
        elif "platform_fee_bps" not in found and fee + fund > BPS:
            found["public_fund_bps"] = [f"the fee and the fund together exceed {BPS}"]
        shares: Any = self.shares
        if not isinstance(shares, tuple | list) or not shares:
            found["shares"] = ["at least one share is needed"]
            return found
        seen: set[tuple[ShareRole, str]] = set()
        total = 0
        sums = True
        for index, share in enumerate(shares):
            field = f"shares.{index}"
            if not isinstance(share, Share):
                found[field] = ["must be a Share"]
                sums = False
                continue
            role: Any = share.role
            org_id: Any = share.org_id
            bps: Any = share.bps
            if not isinstance(role, ShareRole):
                found[f"{field}.role"] = ["must be one of " + ", ".join(ShareRole)]
            elif role is ShareRole.PLATFORM:
                found[f"{field}.role"] = ["the platform is paid by platform_fee_bps, not a share"]
            elif role is ShareRole.PUBLIC_FUND:
                found[f"{field}.role"] = ["the fund is paid by public_fund_bps, not a share"]
            if not isinstance(org_id, str) or not org_id:
                found[f"{field}.org_id"] = ["must be a non-empty string"]
            elif isinstance(role, ShareRole):
                if (role, org_id) in seen:
                    found[f"{field}.org_id"] = [f"{org_id} already has a {role.value} share"]
                seen.add((role, org_id))
            if not _is_int(bps):
                found[f"{field}.bps"] = ["must be an integer"]
                sums = False
            elif bps < 0:
                found[f"{field}.bps"] = ["must not be negative"]
                sums = False
            else:
                total += bps
        if sums and total != BPS:
            found["shares"] = [f"shares must add up to exactly {BPS} bps, not {total}"]
        return found

    def validate(self) -> None:
        """Raise :class:`InvalidInput` naming every broken rule."""
        found = self.problems()
        if found:
            raise InvalidInput("invalid distribution rule", errors=found)

    def with_commission(self, broker_org_id: str, bps: int, *,
                        merchant_org_id: str) -> DistributionRule:
        """The rule with a broker's commission of ``bps`` of the net amount taken from the
        merchant's share (数据经纪: the seller pays the broker, never the buyer on top).

        Raises:
            InvalidInput: the merchant's share is smaller than the commission.
        """
        if not _is_int(bps) or bps < 0:
            raise InvalidInput("invalid commission", errors={
                "commission_bps": ["must be a non-negative integer"]})
        merchant = next((s for s in self.shares if s.role is ShareRole.MERCHANT
                         and s.org_id == merchant_org_id), None)
        if merchant is None or merchant.bps < bps:
            raise InvalidInput("the commission exceeds the merchant's share", errors={
                "commission_bps": [f"at most the merchant's share, "
                                   f"{merchant.bps if merchant else 0} bps"]})
        if bps == 0:
            return self
        shares: dict[tuple[ShareRole, str], int] = {(s.role, s.org_id): s.bps
                                                    for s in self.shares}
        shares[(ShareRole.MERCHANT, merchant_org_id)] -= bps
        shares[(ShareRole.BROKER, broker_org_id)] = shares.get(
            (ShareRole.BROKER, broker_org_id), 0) + bps
        return DistributionRule(tuple(Share(role, org, part)
                                      for (role, org), part in shares.items() if part),
                                self.platform_fee_bps, self.public_fund_bps)

    def with_public_fund(self, bps: int) -> DistributionRule:
        """The rule with ``bps`` of the price earmarked for the public-service fund.

        Raises:
            InvalidInput: not 0 to 10,000, or more than the fee leaves.
        """
        return DistributionRule(self.shares, self.platform_fee_bps, bps)

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "platform_fee_bps": self.platform_fee_bps,
            "shares": [
                {"role": s.role.value, "org_id": s.org_id, "bps": s.bps} for s in self.shares
            ],
        }
        if self.public_fund_bps:
            found["public_fund_bps"] = self.public_fund_bps
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DistributionRule:
        """Rebuild a rule stored by :meth:`as_dict`; malformed data raises InvalidInput."""
        if not isinstance(data, Mapping):
            raise InvalidInput("invalid distribution rule", errors={"rule": ["must be an object"]})
        raw = data.get("shares")
        if not isinstance(raw, list):
            raise InvalidInput("invalid distribution rule", errors={"shares": ["must be a list"]})
        found: dict[str, list[str]] = {}
        shares: list[Share] = []
        for index, item in enumerate(raw):
            field = f"shares.{index}"
            if not isinstance(item, Mapping):
                found[field] = ["must be an object"]
                continue
            raw_role: Any = item.get("role")
            try:
                role = ShareRole(raw_role)
            except ValueError:
                found[f"{field}.role"] = ["must be one of " + ", ".join(ShareRole)]
                continue
            org_id: Any = item.get("org_id")
            bps: Any = item.get("bps")
            shares.append(Share(role, org_id, bps))
        if found:
            raise InvalidInput("invalid distribution rule", errors=found)
        fee: Any = data.get("platform_fee_bps")
        fund: Any = data.get("public_fund_bps", 0)
        return cls(tuple(shares), fee, fund)


@dataclass(frozen=True)
class SplitPolicy:
    """The exchange's split defaults, from the settings: its fee, and the parts of a
    product's revenue its resource holders and processors get unless the merchant sets a
    rule."""

    platform_fee_bps: int = 100
    holder_bps: int = 1000
    processor_bps: int = 1000


def rule_from_chain(
    links: Sequence[tuple[str, str]],
    *,
    merchant_org_id: str,
    holder_bps: int,
    processor_bps: int,
    platform_fee_bps: int,
) -> DistributionRule:
    """Derive the rule from a product's right chain: (right kind, holder org id) pairs.

    Distinct resource holders share ``holder_bps`` equally and distinct processors share
    ``processor_bps`` equally (earlier org ids, in sorted order, take any odd basis point);
    the merchant gets the rest. A part nobody in the chain can take goes to the merchant.
    ``product_operation`` links name the operator, who is paid as the merchant. An org with
    two roles gets one line per role; lines of 0 bps are left out.
    """
    found: dict[str, list[str]] = {}
    for name, value in (("holder_bps", holder_bps), ("processor_bps", processor_bps)):
        if not _is_int(value) or not 0 <= value <= BPS:
            found[name] = [f"must be an integer from 0 to {BPS}"]
    if not found and holder_bps + processor_bps > BPS:
        found["processor_bps"] = [f"holder_bps and processor_bps together exceed {BPS}"]
    if not isinstance(merchant_org_id, str) or not merchant_org_id:
        found["merchant_org_id"] = ["must be a non-empty string"]
    for index, (kind, org_id) in enumerate(links):
        if kind not in _CHAIN_KINDS:
            found[f"links.{index}.kind"] = ["must be one of " + ", ".join(_CHAIN_KINDS)]
        if not isinstance(org_id, str) or not org_id:
            found[f"links.{index}.org_id"] = ["must be a non-empty string"]
    if found:
        raise InvalidInput("cannot derive a distribution rule", errors=found)

    shares: list[Share] = []
    merchant_bps = BPS
    for role, kind, pool in (
        (ShareRole.RESOURCE_HOLDER, RESOURCE_HOLDING, holder_bps),
        (ShareRole.PROCESSOR, PROCESSING_USE, processor_bps),
    ):
        orgs = sorted({org_id for link_kind, org_id in links if link_kind == kind})
        if not orgs or pool == 0:
            continue
        for org_id, bps in zip(orgs, allocate(pool, [1] * len(orgs)), strict=True):
            if bps:
                shares.append(Share(role, org_id, bps))
        merchant_bps -= pool
    if merchant_bps:
        shares.append(Share(ShareRole.MERCHANT, merchant_org_id, merchant_bps))
    return DistributionRule(tuple(shares), platform_fee_bps)


@dataclass(frozen=True)
class Allocation:
    """What one line (a share, or the platform fee) receives, in minor units."""

    role: ShareRole
    org_id: str
    amount: int


def split(amount: int, rule: DistributionRule) -> list[Allocation]:
    """Split a sale into the platform fee line and one line per share, summing to ``amount``.

    One largest-remainder allocation over the weights ``fee·10000`` and ``(10000 − fee)·bps``
    (which sum to 10000²) rounds the fee and the shares together, so every line is within one
    minor unit of its exact share. A public-data rule's earmark is one more line, weighing
    ``fund·10000``, and the shares then weigh ``(10000 − fee − fund)·bps``. Lines are in
    canonical order, platform first (the fund last); lines of 0 are kept so every party is
    shown.
    """
    if not _is_int(amount) or amount < 0:
        raise InvalidInput(errors={"amount": ["must be a non-negative integer of minor units"]})
    fee, fund = rule.platform_fee_bps, rule.public_fund_bps
    lines = [(ShareRole.PLATFORM, PLATFORM_ORG_ID)] + [(s.role, s.org_id) for s in rule.shares]
    weights = [fee * BPS] + [(BPS - fee - fund) * s.bps for s in rule.shares]
    if fund:  # the earmark is a line of its own, last in canonical order
        lines.append((ShareRole.PUBLIC_FUND, PLATFORM_ORG_ID))
        weights.append(fund * BPS)
    parts = allocate(amount, weights)
    return [
        Allocation(role, org_id, part) for (role, org_id), part in zip(lines, parts, strict=True)
    ]


def reverse(refund: int, remaining: Sequence[Allocation]) -> list[Allocation]:
    """How much of ``refund`` each line gives back, in proportion to what it still holds.

    Largest remainder over the weights ``remaining``. No line gives back more than it holds:
    with weights w summing to W and refund ≤ W, refund·w/W ≤ w, so whenever a line has a
    remainder, floor(refund·w/W) + 1 ≤ w; and only lines with a remainder receive a leftover
    unit, since the leftover is the sum of their fractional parts, which is less than their
    count. Returned lines are in canonical order.
    """
    if not _is_int(refund) or refund < 0:
        raise InvalidInput(errors={"refund": ["must be a non-negative integer of minor units"]})
    found: dict[str, list[str]] = {}
    seen: set[tuple[ShareRole, str]] = set()
    for index, line in enumerate(remaining):
        if not _is_int(line.amount) or line.amount < 0:
            found[f"remaining.{index}.amount"] = ["must be a non-negative integer"]
        if (line.role, line.org_id) in seen:
            found[f"remaining.{index}"] = [f"{line.role.value} {line.org_id} appears twice"]
        seen.add((line.role, line.org_id))
    if found:
        raise InvalidInput(errors=found)
    total = sum(line.amount for line in remaining)
    if refund > total:
        raise InvalidInput(errors={"refund": [f"exceeds the {total} still held"]})
    ordered = sorted(remaining, key=lambda line: _canonical_key(line.role, line.org_id))
    if refund == 0:
        return [Allocation(line.role, line.org_id, 0) for line in ordered]
    parts = allocate(refund, [line.amount for line in ordered])
    return [
        Allocation(line.role, line.org_id, part) for line, part in zip(ordered, parts, strict=True)
    ]
