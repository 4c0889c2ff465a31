"""Matching use cases, the one surface the HTTP edge and the entry points import: demands and
the engine that matches them, negotiations and the private offers they agree, brokers'
proposals, supply lists and saved searches, and the deadlines the worker enforces.

Matching sits at the top of the layering beside the regulator: it calls listing for
candidates and private offers, compliance for the rules, trading for the sellers' records,
participants for the parties; nothing below imports it. Trading tells it of an order on a
negotiated offer through an in-transaction event (:func:`on_order_placed`, wired in
:mod:`market.wiring`); listing events reach it through the outbox and the worker
(:func:`rematch_product`, :func:`announce_listing`).
"""

from market.matching.domain import (
    SECTORS,
    DemandStatus,
    NegotiationStatus,
    Visibility,
    Weights,
)
from market.matching.repository import DemandFilters
from market.matching.services._common import MatchPolicy, match_policy_of
from market.matching.services.deadlines import MatchingDeadlines, run_matching_deadlines
from market.matching.services.demands import (
    DemandView,
    close_demand,
    demand_history,
    edit_demand,
    get_demand,
    list_demands,
    match_demand,
    post_demand,
)
from market.matching.services.engine import NearMiss, Ranking, Scored, rank, rematch_product
from market.matching.services.evidence import on_evidence_gathering
from market.matching.services.negotiations import (
    NegotiationView,
    accept_proposal,
    agree,
    answer_demand,
    counter,
    decline,
    get_negotiation,
    list_negotiations,
    make_offer,
    negotiation_history,
    on_order_placed,
    propose_match,
    request_quote,
    withdraw,
)
from market.matching.services.supply import (
    SupplyList,
    announce_listing,
    declare_capability,
    delete_saved_search,
    list_saved_searches,
    save_search,
    search_supply,
    withdraw_capability,
)

__all__ = [
    "SECTORS",
    "DemandFilters",
    "DemandStatus",
    "DemandView",
    "MatchPolicy",
    "MatchingDeadlines",
    "NearMiss",
    "NegotiationStatus",
    "NegotiationView",
    "Ranking",
    "Scored",
    "SupplyList",
    "Visibility",
    "Weights",
    "accept_proposal",
    "agree",
    "announce_listing",
    "answer_demand",
    "close_demand",
    "counter",
    "declare_capability",
    "decline",
    "delete_saved_search",
    "demand_history",
    "edit_demand",
    "get_demand",
    "get_negotiation",
    "list_demands",
    "list_negotiations",
    "list_saved_searches",
    "make_offer",
    "match_demand",
    "match_policy_of",
    "negotiation_history",
    "on_evidence_gathering",
    "on_order_placed",
    "post_demand",
    "propose_match",
    "rank",
    "rematch_product",
    "request_quote",
    "run_matching_deadlines",
    "save_search",
    "search_supply",
    "withdraw",
    "withdraw_capability",
]
