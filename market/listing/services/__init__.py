"""Listing use cases, the one surface other contexts and the HTTP edge import: products and
versions, offers and usage terms, submission with the rights chain and the seller's
declaration, review, the listing lifecycle, the catalogue, and what trading asks of a
listing.

Rights events reach listing in the same transaction (:func:`on_rights_unavailable`,
:func:`on_rights_restored`, subscribed by :mod:`market.wiring`): a product whose chain
breaks has its listed version suspended; when the rights are usable again the version goes
back to review instead of silently relisting.
"""

from market.listing.catalog import Filters as CatalogFilters
from market.listing.domain import (
    BuyerClass,
    DevelopmentLevel,
    ListingStatus,
    OfferKind,
    OfferSpec,
    ProductType,
    UsageTerms,
)
from market.listing.services._common import ProductView
from market.listing.services.distribution import distribution_rule, set_distribution_rule
from market.listing.services.products import (
    ProductInput,
    Sample,
    create_product,
    revise_product,
)
from market.listing.services.queries import (
    catalog_statistics,
    get_product,
    history,
    list_products,
    listed_version,
    listed_views,
    sample_of,
    search_catalog,
    version_classifications,
    views_of,
)
from market.listing.services.reactions import (
    on_rights_restored,
    on_rights_unavailable,
    on_suspension_ordered,
)
from market.listing.services.reindex import Reindexed, reindex_catalog
from market.listing.services.retention import delete_unused_samples
from market.listing.services.reviews import change_listing_status, claim_review, decide_review
from market.listing.services.submission import submit_listing
from market.listing.services.supply import (
    Candidate,
    PrivateOffer,
    candidate,
    candidates,
    indexed_terms,
    make_private_offer,
    private_offer,
    query_terms,
)
from market.listing.services.trade import OfferTerms, OnSale, on_sale, release_unit, reserve_unit

__all__ = [
    "BuyerClass",
    "Candidate",
    "CatalogFilters",
    "DevelopmentLevel",
    "ListingStatus",
    "OfferKind",
    "OfferSpec",
    "OfferTerms",
    "OnSale",
    "PrivateOffer",
    "ProductInput",
    "ProductType",
    "ProductView",
    "Reindexed",
    "Sample",
    "UsageTerms",
    "candidate",
    "candidates",
    "catalog_statistics",
    "change_listing_status",
    "claim_review",
    "create_product",
    "decide_review",
    "delete_unused_samples",
    "distribution_rule",
    "get_product",
    "history",
    "indexed_terms",
    "list_products",
    "listed_version",
    "listed_views",
    "make_private_offer",
    "on_rights_restored",
    "on_rights_unavailable",
    "on_sale",
    "on_suspension_ordered",
    "private_offer",
    "query_terms",
    "reindex_catalog",
    "release_unit",
    "reserve_unit",
    "revise_product",
    "sample_of",
    "search_catalog",
    "set_distribution_rule",
    "submit_listing",
    "version_classifications",
    "views_of",
]
