"""Listing: data products, versions, offers (pricing plans), usage terms, review, catalogue.

Owns products and their versions, offers, usage terms (exported as ODRL), the listing
lifecycle (draft → submitted → under_review → listed | returned | rejected; listed →
suspended ⇄ listed; listed → delisted) and the public catalogue with bilingual search.

Invariants: submission needs a registered, in-term product_operation right chain and the
seller's signed declaration; a material change makes a new version reviewed again while
existing orders keep the version they bought.

Calls: rights (chain check), compliance (rules), participants, kernel.
"""
