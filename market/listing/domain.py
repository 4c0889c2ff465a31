"""Pure rules about data products and their listings: kinds, lifecycle, offers, usage terms.

A product's content lives in versions. A listed version is never edited: a change makes a
new version that goes through review while the listed one stays on sale, and orders keep
the version they bought.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ProductType(StrEnum):
    DATASET = "dataset"
    API_SERVICE = "api_service"
    REPORT = "report"
    MODEL = "model"  # model or algorithm
    SANDBOX = "sandbox"  # privacy-computing service, 可用不可见


class DevelopmentLevel(StrEnum):
    RAW = "raw"
    DESENSITISED = "desensitised"
    MODELLED = "modelled"
    AI_PROCESSED = "ai_processed"


class DeliveryMode(StrEnum):
    FILE = "file"
    API = "api"
    SANDBOX = "sandbox"


class OfferKind(StrEnum):
    ONE_TIME = "one_time"  # one-time licence
    SUBSCRIPTION = "subscription"
    PAY_PER_USE = "pay_per_use"
    FREE = "free"  # public-interest use
    NEGOTIABLE = "negotiable"  # 面议: ordered only after negotiation


class BuyerClass(StrEnum):
    """Who an offer of public data is for (公共数据: 有条件无偿 / 有条件有偿使用)."""

    PUBLIC_INTEREST = "public_interest"  # public governance and public-interest use: free
    COMMERCIAL = "commercial"  # industrial and commercial use: paid, at cost recovery


class ListingStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    LISTED = "listed"
    RETURNED = "returned"  # corrections requested
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    DELISTED = "delisted"
    SUPERSEDED = "superseded"  # a newer version was listed in its place


S = ListingStatus
TRANSITIONS: dict[ListingStatus, frozenset[ListingStatus]] = {
    S.DRAFT: frozenset({S.SUBMITTED}),
    # A once-listed version returned after a review gives way when a newer one is listed.
    S.RETURNED: frozenset({S.SUBMITTED, S.SUPERSEDED}),
    S.SUBMITTED: frozenset({S.UNDER_REVIEW}),
    S.UNDER_REVIEW: frozenset({S.LISTED, S.RETURNED, S.REJECTED, S.SUBMITTED}),
    S.LISTED: frozenset({S.SUSPENDED, S.DELISTED, S.SUPERSEDED}),
    # A suspension lifted because the rights are usable again sends the version back to
    # review (SUBMITTED) rather than silently relisting it.
    S.SUSPENDED: frozenset({S.LISTED, S.DELISTED, S.SUBMITTED}),
    S.REJECTED: frozenset(),
    S.DELISTED: frozenset(),
    S.SUPERSEDED: frozenset(),
}

EDITABLE = frozenset({S.DRAFT, S.RETURNED})
ON_SALE = frozenset({S.LISTED})
LIVE = frozenset({S.LISTED, S.SUSPENDED})
SUPERSEDABLE = frozenset({S.LISTED, S.SUSPENDED, S.RETURNED})
OPEN = frozenset({S.DRAFT, S.RETURNED, S.SUBMITTED, S.UNDER_REVIEW})


def can_transition(current: ListingStatus, target: ListingStatus) -> bool:
    return target in TRANSITIONS[current]


PERIODS = ("month", "quarter", "year")
UNITS = ("call", "mb")


@dataclass(frozen=True)
class OfferSpec:
    """A pricing plan, validated on its own: amounts are integer minor units."""

    kind: OfferKind
    currency: str = "CNY"
    amount: int | None = None  # price, or unit price for pay-per-use
    period: str | None = None  # subscriptions
    unit: str | None = None  # pay-per-use: call or mb
    cap_amount: int | None = None  # pay-per-use: most a buyer pays per period
    quantity: int | None = None  # limited offers (an exclusive licence: 1)
    buyer_class: BuyerClass | None = None  # public data: whom the offer is for

    def problems(self) -> dict[str, str]:
        found: dict[str, str] = {}
        priced = self.kind in (OfferKind.ONE_TIME, OfferKind.SUBSCRIPTION, OfferKind.PAY_PER_USE)
        if self.buyer_class is BuyerClass.PUBLIC_INTEREST and self.kind is not OfferKind.FREE:
            found["buyer_class"] = "a public-interest offer is free"
        elif self.buyer_class is BuyerClass.COMMERCIAL and not priced:
            found["buyer_class"] = "a commercial offer has a price"
        if priced and (self.amount is None or self.amount <= 0):
            found["amount"] = "a priced offer needs a positive amount in minor units"
        if self.kind in (OfferKind.FREE, OfferKind.NEGOTIABLE) and self.amount not in (None, 0):
            found["amount"] = f"a {self.kind.value} offer has no price"
        if (self.kind is OfferKind.SUBSCRIPTION) != (self.period is not None):
            found["period"] = "subscriptions, and only they, have a period"
        elif self.period is not None and self.period not in PERIODS:
            found["period"] = "must be one of " + ", ".join(PERIODS)
        if (self.kind is OfferKind.PAY_PER_USE) != (self.unit is not None):
            found["unit"] = "pay-per-use offers, and only they, have a unit"
        elif self.unit is not None and self.unit not in UNITS:
            found["unit"] = "must be one of " + ", ".join(UNITS)
        if self.cap_amount is not None and (
            self.kind is not OfferKind.PAY_PER_USE or self.cap_amount < (self.amount or 0)
        ):
            found["cap_amount"] = "only pay-per-use offers have a cap, at least one unit's price"
        if self.quantity is not None and self.quantity < 1:
            found["quantity"] = "a limited offer sells at least one"
        return found


@dataclass(frozen=True)
class UsageTerms:
    """The structured usage policy shown to buyers and frozen into each order."""

    purposes: tuple[str, ...]
    scenarios: tuple[str, ...]
    territory: str  # domestic | cross_border
    duration_days: int | None  # None: for the licence's life
    onward_transfer: bool  # may the buyer pass the data on
    resale: bool
    max_users: int | None
    attribution: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "purposes": list(self.purposes), "scenarios": list(self.scenarios),
            "territory": self.territory, "duration_days": self.duration_days,
            "onward_transfer": self.onward_transfer, "resale": self.resale,
            "max_users": self.max_users, "attribution": self.attribution,
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> UsageTerms:
        return cls(
            purposes=tuple(data["purposes"]), scenarios=tuple(data["scenarios"]),
            territory=data["territory"], duration_days=data.get("duration_days"),
            onward_transfer=bool(data.get("onward_transfer", False)),
            resale=bool(data.get("resale", False)), max_users=data.get("max_users"),
            attribution=data.get("attribution"),
        )
