"""The parties themselves: their documents (主体资格), relations (关联交易) and credit
(信用评价).

A participant trades only while the admission documents the operator verified (business
licence, legal representative, data-security officer) are in force: the worker suspends
one whose document has expired, and :func:`parties_documents_must_be_in_force` refuses a
listing or an order in between. A trade between related parties (same legal
representative, same controlling shareholder, or one controlling the other) is let through
but flagged by :func:`related_party_trades_are_flagged`, with the relation in its detail:
such trades are lawful when fair, so they are not refused or queued for review, but they
are what wash trading (对敲) and price manipulation are made of, so monitoring raises an
alert when one concludes and statistics flag a price set only by them.

The callers pass what these rules judge by value (:func:`with_parties`): the kinds of each
party's expired documents and how the parties are related (None: not gathered, the rules
pass).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from market.compliance.domain import BLOCK, PASS, Facts, Outcome, _parties, rule

LINK_TEXT = {
    "same_legal_representative": "the same legal representative",
    "same_controller": "the same controlling shareholder",
    "one_controls_the_other": "one is the other's controlling shareholder",
    "representative_controls_the_other": "one's legal representative controls the other",
}


def with_parties(facts: Facts, *, expired: Mapping[str, Iterable[str]] | None = None,
                 related: Iterable[str] | None = None) -> Facts:
    """``facts`` with what the parties rules judge: each party's expired admission
    documents by organisation id, and the links relating seller and buyer."""
    seller, buyer = facts.seller, facts.buyer
    if expired is not None:
        seller = replace(seller, expired_documents=tuple(sorted(expired.get(seller.org_id,
                                                                            ()))))
        if buyer is not None:
            buyer = replace(buyer, expired_documents=tuple(sorted(expired.get(buyer.org_id,
                                                                              ()))))
    return replace(facts, seller=seller, buyer=buyer,
                   related_parties=None if related is None else {"links": sorted(related)})


@rule
def parties_documents_must_be_in_force(
    facts: Facts,
) -> tuple[Outcome, str] | tuple[Outcome, str, Mapping[str, Any]]:
    """A participant trades only while its verified admission documents (主体资格: business
    licence, legal representative, data-security officer) are in force."""
    for side, party in _parties(facts):
        if party.expired_documents:
            kinds = list(party.expired_documents)
            return BLOCK, f"the {side}'s admission documents have expired: " + ", ".join(
                kinds), {"side": side, "org_id": party.org_id, "expired_documents": kinds}
    return PASS, "every party's admission documents are in force"


@rule
def related_party_trades_are_flagged(
    facts: Facts,
) -> tuple[Outcome, str] | tuple[Outcome, str, Mapping[str, Any]]:
    """A trade between related parties (关联交易) goes through, flagged with the relation
    for risk monitoring (对敲): the alert is raised when the trade is filed."""
    links = list((facts.related_parties or {}).get("links") or [])
    if facts.buyer is None or not links:
        return PASS, "the parties are not related"
    text = "; ".join(LINK_TEXT.get(link, link) for link in links)
    return PASS, f"flagged: seller and buyer are related parties ({text})", {
        "flag": "related_party_trade", "links": links,
        "org_ids": sorted({facts.seller.org_id, facts.buyer.org_id})}
