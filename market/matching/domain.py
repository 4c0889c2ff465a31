"""Matching rules as plain values: the lives of demands and negotiations, the scoring of a
listing for a demand (weights, components that sum to the score) and the hard constraints
that exclude a listing before it is scored.

Scores are integers: each component is its weight (points out of 100 in all) times how well
the listing does on it (0 to 1), in hundredths of a point, rounded half to even; the score
is their sum, so a match of every component scores 10,000 with the default weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any


class DemandStatus(StrEnum):
    OPEN = "open"  # posted, no match yet
    MATCHED = "matched"  # at least one listing matches
    CONVERTED = "converted"  # an order answered it (terminal)
    CLOSED = "closed"  # the buyer closed it (terminal)
    EXPIRED = "expired"  # its deadline passed (terminal)


D = DemandStatus
DEMAND_TRANSITIONS: dict[DemandStatus, frozenset[DemandStatus]] = {
    D.OPEN: frozenset({D.MATCHED, D.CONVERTED, D.CLOSED, D.EXPIRED}),
    D.MATCHED: frozenset({D.CONVERTED, D.CLOSED, D.EXPIRED}),
    D.CONVERTED: frozenset(), D.CLOSED: frozenset(), D.EXPIRED: frozenset(),
}
LIVE_DEMANDS = frozenset({D.OPEN, D.MATCHED})


class Visibility(StrEnum):
    PUBLIC = "public"  # every admitted merchant may see and answer it
    INVITED = "invited"  # only the merchants it names


class NegotiationStatus(StrEnum):
    PROPOSED = "proposed"  # a broker proposed the match; both parties must accept
    REQUESTED = "requested"  # a buyer asked for a quote
    OFFERED = "offered"  # the merchant made an offer
    COUNTERED = "countered"  # one side answered the other's terms with its own
    AGREED = "agreed"  # both sides hold the same terms; a private offer carries them
    ORDERED = "ordered"  # the buyer ordered the private offer (terminal)
    DECLINED = "declined"  # (terminal)
    WITHDRAWN = "withdrawn"  # (terminal)
    EXPIRED = "expired"  # nobody answered in time, or the agreement was not ordered


N = NegotiationStatus
NEGOTIATION_TRANSITIONS: dict[NegotiationStatus, frozenset[NegotiationStatus]] = {
    N.PROPOSED: frozenset({N.REQUESTED, N.DECLINED, N.WITHDRAWN, N.EXPIRED}),
    N.REQUESTED: frozenset({N.OFFERED, N.DECLINED, N.WITHDRAWN, N.EXPIRED}),
    N.OFFERED: frozenset({N.COUNTERED, N.AGREED, N.DECLINED, N.WITHDRAWN, N.EXPIRED}),
    N.COUNTERED: frozenset({N.COUNTERED, N.AGREED, N.DECLINED, N.WITHDRAWN, N.EXPIRED}),
    N.AGREED: frozenset({N.ORDERED, N.EXPIRED}),
    N.ORDERED: frozenset(), N.DECLINED: frozenset(), N.WITHDRAWN: frozenset(),
    N.EXPIRED: frozenset(),
}
OPEN_NEGOTIATIONS = frozenset({N.PROPOSED, N.REQUESTED, N.OFFERED, N.COUNTERED})


class Channel(StrEnum):
    """How a trade came about, as the contract and the filing record it."""

    NEGOTIATION = "negotiation"  # a quote the buyer asked for on a listing
    MATCH = "match"  # a merchant's answer to a demand
    BROKER = "broker"  # a broker's proposal


# The sectors a demand names (a listing's sector is the merchant's word; these are the words
# the catalogue indexes it under, so a demand's sector counts in text relevance).
SECTORS = ("agriculture", "commerce", "culture_tourism", "education", "energy",
           "environment", "finance", "geospatial", "government", "healthcare", "logistics",
           "manufacturing", "meteorology", "telecom", "transport", "other")

FRESHNESS = ("static", "yearly", "quarterly", "monthly", "weekly", "daily", "hourly",
             "realtime")
_FREQUENCY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("realtime", ("realtime", "real-time", "real time", "实时", "second", "秒", "minute",
                  "分钟", "stream")),
    ("hourly", ("hour", "小时", "时")),
    ("daily", ("daily", "day", "每日", "每天", "日", "天")),
    ("weekly", ("week", "周")),
    ("monthly", ("month", "月")),
    ("quarterly", ("quarter", "季")),
    ("yearly", ("year", "annual", "年")),
    ("static", ("once", "static", "一次", "不更新", "irregular")),
)
NATIONAL = frozenset({"全国", "中国", "national", "china", "cn"})


def freshness_of(update_frequency: str) -> str | None:
    """A listing's update frequency (the merchant's words) as a freshness level."""
    text = update_frequency.strip().lower()
    for level, words in _FREQUENCY_WORDS:
        if any(w in text for w in words):
            return level
    return None


@dataclass(frozen=True)
class Weights:
    """Points of each soft component; they add up to 100."""

    text: int = 40
    budget: int = 20
    region: int = 10
    freshness: int = 10
    credit: int = 10
    fulfilment: int = 10

    NAMES = ("text", "budget", "region", "freshness", "credit", "fulfilment")

    def __post_init__(self) -> None:
        values = [getattr(self, n) for n in self.NAMES]
        if any(not isinstance(v, int) or v < 0 for v in values) or sum(values) != 100:
            raise ValueError("match weights are non-negative integers adding up to 100")

    @classmethod
    def parse(cls, text: str) -> Weights:
        """``text=40,budget=20,…`` (components left out weigh nothing)."""
        found: dict[str, int] = dict.fromkeys(cls.NAMES, 0)
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            if name.strip() not in found or not value.strip().isdigit():
                raise ValueError(f"not a weight: {part!r}")
            found[name.strip()] = int(value)
        return cls(**found)

    def as_dict(self) -> dict[str, int]:
        return {n: getattr(self, n) for n in self.NAMES}


@dataclass(frozen=True)
class Want:
    """What a demand asks, as scoring and the hard constraints read it."""

    words: tuple[str, ...]  # its query terms (title, description, sector)
    product_types: tuple[str, ...]
    delivery_modes: tuple[str, ...]
    region: str | None
    freshness: str | None
    budget_min: int | None
    budget_max: int | None
    currency: str
    purposes: tuple[str, ...]
    scenarios: tuple[str, ...]
    cross_border: bool

    def use(self) -> dict[str, Any]:
        """The intended use, as the compliance rules read a buyer's commitment."""
        return {"purposes": list(self.purposes), "scenarios": list(self.scenarios),
                "cross_border": self.cross_border}


@dataclass(frozen=True)
class Offered:
    """What a listing offers, as scoring reads it."""

    matched: int  # of the demand's words, how many the listing contains
    min_price: int | None
    currency: str | None
    has_free: bool
    negotiable: bool
    region: str
    update_frequency: str
    credit: int  # 0..100
    completed: int
    disputed: int


def _budget(want: Want, offered: Offered) -> Fraction:
    if offered.has_free:
        return Fraction(1)
    if offered.min_price is None:  # 面议 only: the price is the negotiation's
        return Fraction(1, 2)
    if offered.currency != want.currency:
        return Fraction(0)
    if want.budget_max is None or offered.min_price <= want.budget_max:
        return Fraction(1)
    over = Fraction(offered.min_price - want.budget_max, max(want.budget_max, 1))
    return max(Fraction(0), 1 - over)


def _region(want: Want, offered: Offered) -> Fraction:
    if not want.region or offered.region == want.region:
        return Fraction(1)
    if offered.region.strip().lower() in NATIONAL:
        return Fraction(1, 2)
    return Fraction(0)


def _freshness(want: Want, offered: Offered) -> Fraction:
    if not want.freshness:
        return Fraction(1)
    level = freshness_of(offered.update_frequency)
    if level is None:
        return Fraction(0)
    gap = FRESHNESS.index(want.freshness) - FRESHNESS.index(level)
    return Fraction(1) if gap <= 0 else Fraction(1, 2) if gap == 1 else Fraction(0)


def _fulfilment(offered: Offered) -> Fraction:
    seen = offered.completed + offered.disputed
    return Fraction(1, 2) if seen == 0 else Fraction(offered.completed, seen)


def components(want: Want, offered: Offered, weights: Weights) -> dict[str, int]:
    """Each soft component's points, in hundredths (they sum to the score)."""
    values = {
        "text": Fraction(offered.matched, len(want.words)) if want.words else Fraction(0),
        "budget": _budget(want, offered),
        "region": _region(want, offered),
        "freshness": _freshness(want, offered),
        "credit": Fraction(max(0, min(offered.credit, 100)), 100),
        "fulfilment": _fulfilment(offered),
    }
    return {name: round(getattr(weights, name) * 100 * min(value, Fraction(1)))
            for name, value in values.items()}


@dataclass(frozen=True)
class Exclusion:
    """Why a listing cannot answer a demand: the constraint and the reason."""

    constraint: str  # product_type, delivery_mode, or a compliance rule's name
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"constraint": self.constraint, "reason": self.reason}


def kind_exclusions(want: Want, product_type: str,
                    delivery_modes: Sequence[str]) -> list[Exclusion]:
    """The product type and delivery mode constraints."""
    found = []
    if want.product_types and product_type not in want.product_types:
        found.append(Exclusion("product_type", f"a {product_type}, not one of "
                               + ", ".join(want.product_types)))
    if want.delivery_modes and not set(delivery_modes) & set(want.delivery_modes):
        found.append(Exclusion("delivery_mode", "delivered by " + ", ".join(delivery_modes)
                               + ", not by " + ", ".join(want.delivery_modes)))
    return found


def rule_exclusions(verdicts: Sequence[Mapping[str, Any]]) -> list[Exclusion]:
    """The blocking verdicts of the compliance rules, as exclusions."""
    return [Exclusion(str(v["rule"]), str(v["reason"])) for v in verdicts
            if v["outcome"] == "block"]
