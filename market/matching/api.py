"""Matching API: demands and their explained matches, negotiations (quote requests, offers,
counters, agreement into a private offer), broker proposals, supply lists, capabilities and
saved searches."""

from __future__ import annotations

from typing import Any

from market.kernel.actor import Role
from market.kernel.web import (
    ApiBlueprint,
    encode_cursor,
    page_args,
    page_body,
    page_of,
    state,
    unit_of_work,
)
from market.listing import services as listing
from market.matching import services
from market.matching.schemas import (
    BrokerProposalIn,
    CapabilityIn,
    CapabilityOut,
    DemandAnswerIn,
    DemandCloseIn,
    DemandHistoryOut,
    DemandIn,
    DemandOut,
    DemandPageOut,
    DemandPatchIn,
    DemandQuery,
    MatchQuery,
    NegotiationHistoryOut,
    NegotiationOut,
    NegotiationQuery,
    NegotiationReasonIn,
    ProposalIn,
    QuoteRequestIn,
    RankingOut,
    SavedSearchIn,
    SavedSearchListOut,
    SavedSearchOut,
    SupplyOut,
    SupplyQuery,
)

bp = ApiBlueprint("matching", __name__,
                  description="Demands, explained matches, negotiations, private offers, "
                              "brokers, supply lists and saved searches")

TRADERS = [Role.BUYER, Role.MERCHANT, Role.BROKER, Role.OPERATOR, Role.REGULATOR]


def policy() -> services.MatchPolicy:
    return services.match_policy_of(state().settings)


def _demand(view: services.DemandView) -> dict[str, Any]:
    return {**{c.key: getattr(view.demand, c.key)
               for c in view.demand.__mapper__.column_attrs}, "matches": view.matches}


# -- demands -------------------------------------------------------------------------------


@bp.route("/demands", methods=["POST"])
@bp.access(roles=[Role.BUYER, Role.BROKER])
@bp.idempotent
@bp.arguments(DemandIn)
@bp.response(201, DemandOut)
def post_demand(body: dict[str, Any]) -> tuple[Any, int]:
    """Post a demand (a broker posts for `buyer_org_id`); it is matched at once."""
    buyer = body.pop("buyer_org_id")
    view = services.post_demand(body, policy=policy(), uow=unit_of_work(), buyer_org_id=buyer)
    return _demand(view), 201


@bp.route("/demands", methods=["GET"])
@bp.access(roles=TRADERS)
@bp.arguments(DemandQuery, location="query")
@bp.response(200, DemandPageOut)
def list_demands(query: dict[str, Any]) -> dict[str, Any]:
    """Your demands; for merchants and brokers also the public demands (and those you are
    invited to) still open, searchable in Chinese and English, with facets."""
    filters = services.DemandFilters(
        mine=query["mine"], status=query["status"], sector=query["sector"],
        region=query["region"], product_type=query["product_type"],
        words=tuple(listing.query_terms(query["q"])) if query["q"] else ())
    items, after, facets = services.list_demands(filters, uow=unit_of_work(),
                                                 **page_args(query))
    return {"items": [{**_demand(services.DemandView(d)), "matches": []} for d in items],
            "next_cursor": encode_cursor(after), "facets": facets}


@bp.route("/demands/<demand_id>", methods=["GET"])
@bp.access(roles=TRADERS, object_scoped=True)
@bp.response(200, DemandOut)
def get_demand(demand_id: str) -> dict[str, Any]:
    return _demand(services.get_demand(demand_id, uow=unit_of_work()))


@bp.route("/demands/<demand_id>", methods=["PATCH"])
@bp.access(roles=[Role.BUYER, Role.BROKER], object_scoped=True)
@bp.arguments(DemandPatchIn)
@bp.response(200, DemandOut)
def edit_demand(body: dict[str, Any], demand_id: str) -> dict[str, Any]:
    """Change your demand while it is open; it is matched again."""
    body.pop("buyer_org_id", None)
    return _demand(services.edit_demand(demand_id, body, policy=policy(), uow=unit_of_work()))


@bp.route("/demands/<demand_id>/closure", methods=["POST"])
@bp.access(roles=[Role.BUYER, Role.BROKER], object_scoped=True)
@bp.idempotent
@bp.arguments(DemandCloseIn)
@bp.response(200, DemandOut)
def close_demand(body: dict[str, Any], demand_id: str) -> dict[str, Any]:
    return _demand(services.close_demand(demand_id, body["reason"], uow=unit_of_work()))


@bp.route("/demands/<demand_id>/matches", methods=["GET"])
@bp.access(roles=TRADERS, object_scoped=True)
@bp.arguments(MatchQuery, location="query")
@bp.response(200, RankingOut)
def match_demand(query: dict[str, Any], demand_id: str) -> dict[str, Any]:
    """The listings that answer the demand now, best first, each with its score and the
    components that sum to it; `explain=true` adds the near misses and why each is
    excluded (the buyer, its broker and staff)."""
    current = policy()
    ranking = services.match_demand(demand_id, policy=current, uow=unit_of_work(),
                                    explain=query["explain"])
    return {"candidates": ranking.candidates, "excluded": ranking.excluded,
            "weights": current.weights.as_dict()}


@bp.route("/demands/<demand_id>/history", methods=["GET"])
@bp.access(roles=TRADERS, object_scoped=True)
@bp.response(200, DemandHistoryOut)
def demand_history(demand_id: str) -> dict[str, Any]:
    """Every move of the demand, oldest first."""
    return {"items": services.demand_history(demand_id, uow=unit_of_work())}


@bp.route("/demands/<demand_id>/answers", methods=["POST"])
@bp.access(roles=[Role.MERCHANT], object_scoped=True)
@bp.idempotent
@bp.arguments(DemandAnswerIn)
@bp.response(201, NegotiationOut)
def answer_demand(body: dict[str, Any], demand_id: str) -> tuple[Any, int]:
    """Answer a demand with an offer on one of your listed products."""
    view = services.answer_demand(demand_id, body["product_id"], _given(body["terms"]),
                                  policy=policy(), uow=unit_of_work())
    return _negotiation(view), 201


@bp.route("/demands/<demand_id>/proposals", methods=["POST"])
@bp.access(roles=[Role.BROKER], object_scoped=True)
@bp.idempotent
@bp.arguments(BrokerProposalIn)
@bp.response(201, NegotiationOut)
def propose_match(body: dict[str, Any], demand_id: str) -> tuple[Any, int]:
    """A broker proposes a listing for a demand with its commission; the negotiation
    starts once both parties accept."""
    view = services.propose_match(demand_id, body["product_id"], body["commission_bps"],
                                  policy=policy(), uow=unit_of_work(), note=body["note"])
    return _negotiation(view), 201


# -- negotiations --------------------------------------------------------------------------


def _negotiation(view: services.NegotiationView) -> dict[str, Any]:
    row = view.negotiation
    return {**{c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs},
            "private_offer": view.private_offer}


def _given(terms: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in terms.items() if v is not None}


@bp.route("/negotiations", methods=["POST"])
@bp.access(roles=[Role.BUYER])
@bp.idempotent
@bp.arguments(QuoteRequestIn)
@bp.response(201, NegotiationOut)
def request_quote(body: dict[str, Any]) -> tuple[Any, int]:
    """Ask a merchant for a quote on a listed product (面议 offers included)."""
    view = services.request_quote(body["product_id"], _given(body["terms"]), policy=policy(),
                                  uow=unit_of_work(), offer_id=body["offer_id"],
                                  note=body["note"])
    return _negotiation(view), 201


@bp.route("/negotiations", methods=["GET"])
@bp.access(roles=TRADERS)
@bp.arguments(NegotiationQuery, location="query")
@bp.response(200, page_of(NegotiationOut))
def list_negotiations(query: dict[str, Any]) -> dict[str, Any]:
    """Negotiations you are a party to or broker (staff and regulators: all)."""
    return page_body(services.list_negotiations(
        uow=unit_of_work(), status=query["status"], demand=query["demand"],
        product=query["product"], **page_args(query)))


@bp.route("/negotiations/<negotiation_id>", methods=["GET"])
@bp.access(roles=TRADERS, object_scoped=True)
@bp.response(200, NegotiationOut)
def get_negotiation(negotiation_id: str) -> Any:
    """A negotiation you are a party to or broker (staff and regulators: any), with the
    private offer its agreement became."""
    return _negotiation(services.get_negotiation(negotiation_id, uow=unit_of_work()))


@bp.route("/negotiations/<negotiation_id>/history", methods=["GET"])
@bp.access(roles=TRADERS, object_scoped=True)
@bp.response(200, NegotiationHistoryOut)
def negotiation_history(negotiation_id: str) -> dict[str, Any]:
    """Every move of the negotiation with the terms it put on the table, oldest first."""
    return {"items": services.negotiation_history(negotiation_id, uow=unit_of_work())}


@bp.route("/negotiations/<negotiation_id>/offers", methods=["POST"])
@bp.access(roles=[Role.MERCHANT], object_scoped=True)
@bp.idempotent
@bp.arguments(ProposalIn)
@bp.response(200, NegotiationOut)
def make_offer(body: dict[str, Any], negotiation_id: str) -> Any:
    """The merchant answers a quote request with its terms."""
    return _negotiation(services.make_offer(negotiation_id, _given(body["terms"]), policy=policy(),
                               uow=unit_of_work()))


@bp.route("/negotiations/<negotiation_id>/counters", methods=["POST"])
@bp.access(roles=[Role.BUYER, Role.MERCHANT], object_scoped=True)
@bp.idempotent
@bp.arguments(ProposalIn)
@bp.response(200, NegotiationOut)
def counter(body: dict[str, Any], negotiation_id: str) -> Any:
    """Answer the other side's terms with your own."""
    return _negotiation(services.counter(negotiation_id, _given(body["terms"]), policy=policy(),
                            uow=unit_of_work()))


@bp.route("/negotiations/<negotiation_id>/agreement", methods=["POST"])
@bp.access(roles=[Role.BUYER, Role.MERCHANT], object_scoped=True)
@bp.idempotent
@bp.response(200, NegotiationOut)
def agree(negotiation_id: str) -> Any:
    """Accept the other side's terms: they pass the compliance gate and become a private
    offer only the buyer sees and orders (`private_offer_id`)."""
    return _negotiation(services.agree(negotiation_id, policy=policy(), uow=unit_of_work()))


@bp.route("/negotiations/<negotiation_id>/acceptance", methods=["POST"])
@bp.access(roles=[Role.BUYER, Role.MERCHANT], object_scoped=True)
@bp.idempotent
@bp.response(200, NegotiationOut)
def accept_proposal(negotiation_id: str) -> Any:
    """Accept a broker's proposal (both parties must)."""
    return _negotiation(services.accept_proposal(negotiation_id, policy=policy(),
                                    uow=unit_of_work()))


@bp.route("/negotiations/<negotiation_id>/decline", methods=["POST"])
@bp.access(roles=[Role.BUYER, Role.MERCHANT], object_scoped=True)
@bp.idempotent
@bp.arguments(NegotiationReasonIn)
@bp.response(200, NegotiationOut)
def decline(body: dict[str, Any], negotiation_id: str) -> Any:
    return _negotiation(services.decline(negotiation_id, body["reason"], uow=unit_of_work()))


@bp.route("/negotiations/<negotiation_id>/withdrawal", methods=["POST"])
@bp.access(roles=[Role.BUYER, Role.MERCHANT, Role.BROKER], object_scoped=True)
@bp.idempotent
@bp.arguments(NegotiationReasonIn)
@bp.response(200, NegotiationOut)
def withdraw(body: dict[str, Any], negotiation_id: str) -> Any:
    return _negotiation(services.withdraw(negotiation_id, body["reason"], uow=unit_of_work()))


# -- supply and saved searches -------------------------------------------------------------


@bp.route("/supply", methods=["GET"])
@bp.access(roles=TRADERS)
@bp.rate_limited("search")
@bp.arguments(SupplyQuery, location="query")
@bp.response(200, SupplyOut)
def search_supply(query: dict[str, Any]) -> Any:
    """Supply lists (供给清单): listed products and the capabilities merchants declare."""
    return services.search_supply(query["q"], sector=query["sector"],
                                  merchant=query["merchant"], limit=query["limit"],
                                  uow=unit_of_work())


@bp.route("/supply/capabilities", methods=["POST"])
@bp.access(roles=[Role.MERCHANT])
@bp.idempotent
@bp.arguments(CapabilityIn)
@bp.response(201, CapabilityOut)
def declare_capability(body: dict[str, Any]) -> tuple[Any, int]:
    """Declare data you can produce or process on request."""
    return services.declare_capability(body, uow=unit_of_work()), 201


@bp.route("/supply/capabilities/<capability_id>/withdrawal", methods=["POST"])
@bp.access(roles=[Role.MERCHANT], object_scoped=True)
@bp.idempotent
@bp.response(200, CapabilityOut)
def withdraw_capability(capability_id: str) -> Any:
    return services.withdraw_capability(capability_id, uow=unit_of_work())


@bp.route("/saved-searches", methods=["POST"])
@bp.access(roles=[Role.BUYER])
@bp.idempotent
@bp.arguments(SavedSearchIn)
@bp.response(201, SavedSearchOut)
def save_search(body: dict[str, Any]) -> tuple[Any, int]:
    """Keep a catalogue search: new listings that answer it are announced
    (`saved_search.matched`)."""
    name, q = body.pop("name"), body.pop("q")
    return services.save_search(name, q, body, uow=unit_of_work()), 201


@bp.route("/saved-searches", methods=["GET"])
@bp.access(roles=[Role.BUYER])
@bp.response(200, SavedSearchListOut)
def list_saved_searches() -> dict[str, Any]:
    return {"items": services.list_saved_searches(uow=unit_of_work())}


@bp.route("/saved-searches/<search_id>", methods=["DELETE"])
@bp.access(roles=[Role.BUYER], object_scoped=True)
@bp.response(204)
def delete_saved_search(search_id: str) -> tuple[str, int]:
    services.delete_saved_search(search_id, uow=unit_of_work())
    return "", 204
