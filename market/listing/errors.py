"""Named errors of the listing context."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from market.kernel.errors import Conflict, Forbidden, NotFound, RuleViolation


class ProductNotFound(NotFound):
    """No such product visible to the caller (or nothing of it on sale)."""

    code = "product_not_found"
    title = "Product not found"


class ListingRefused(RuleViolation):
    """The product cannot be listed: its rights chain is broken or does not cover it."""

    code = "listing_refused"
    title = "Listing refused"

    def __init__(self, violations: Sequence[dict[str, Any]]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(str(v["message"]) for v in self.violations),
                         errors={"violations": self.violations})


class VersionInReview(Conflict):
    """The latest version waits for review; change it after the decision."""

    code = "version_in_review"
    title = "The latest version is waiting for review"


class VersionOnceListed(Conflict):
    """A version that was on sale keeps its declaration; revise the product for a new one."""

    code = "version_once_listed"
    title = "This version was on sale once; revise the product to change it"


class ReviewClaimedByOther(Conflict):
    """Another reviewer has claimed this listing review."""

    code = "listing_review_claimed"
    title = "Another reviewer has claimed this review"


class ReviewerIsMerchant(Forbidden):
    """An organisation may not review its own listing."""

    code = "reviewer_is_merchant"
    title = "You may not review your own listing"


class NotTheMerchant(Forbidden):
    """A merchant may only delist its own product; suspending is the operator's."""

    code = "not_the_merchant"
    title = "Only the operator may do this"


class OfferNotFound(NotFound):
    """The offer is not one of the version on sale."""

    code = "offer_not_found"
    title = "Offer not found"


class OfferExpired(Conflict):
    """A private offer's time to order it has passed."""

    code = "offer_expired"
    title = "The offer has expired"


class SoldOut(Conflict):
    """Every unit of a limited-quantity offer is taken."""

    code = "sold_out"
    title = "The offer is sold out"
