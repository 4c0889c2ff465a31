"""Regulator API (监管): every participant's filings with filters, streamed exports and
statistics. Only regulators call it; every successful read a regulator makes, here or on
any other endpoint, is written to the audit log."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request, stream_with_context

from market.compliance import services as compliance
from market.kernel.actor import Role
from market.kernel.uow import UnitOfWork
from market.kernel.web import ApiBlueprint, current_actor, state, unit_of_work
from market.kernel.web.internal import is_internal
from market.kernel.web.pagination import page_args, page_body, page_of
from market.regulator import services
from market.regulator.schemas import (
    ExportQuery,
    MarketStatisticsOut,
    PublicDataTradesOut,
    PublicFundOut,
    PublicFundQuery,
    ReadQuery,
    RegulatorOrderOut,
    RegulatorOrderQuery,
    RetentionOverviewOut,
    SanctionListOut,
    StatisticsOut,
    SupervisionReadOut,
)
from market.trading import services as trading

bp = ApiBlueprint("regulator", __name__,
                  description="Read-only views for regulators: filings, exports, statistics")

MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}


@bp.route("/regulator/filings", methods=["GET"])
@bp.access(roles=[Role.REGULATOR])
@bp.arguments(compliance.FilingQuery, location="query")
@bp.response(200, page_of(compliance.FilingOut))
def filings(query: dict[str, Any]) -> dict[str, Any]:
    """Every filing, filtered by conclusion date range, party, product, sector, kind,
    currency and amount."""
    return page_body(services.filings(compliance.filing_filters(query), uow=unit_of_work(),
                                      **page_args(query)))


@bp.route("/regulator/filings/export", methods=["GET"])
@bp.access(roles=[Role.REGULATOR])
@bp.rate_limited("export")
@bp.arguments(ExportQuery, location="query")
@bp.response(200, content_type="text/csv",
             description="CSV with a header row, or JSON Lines; streamed")
def export_filings(query: dict[str, Any]) -> Response:
    """Export the filings passing the filters, streamed as they are read (any number)."""
    fmt = query["format"]
    actor = current_actor()
    services.require_regulator(actor)
    # The stream outlives the request: its unit of work has a connection of its own.
    reader = UnitOfWork(state().session_factory, state().clock, actor)
    g.market_tally = services.Tally()
    chunks = services.export_filings(compliance.filing_filters(query), fmt, uow=reader,
                                     tally=g.market_tally)
    response = Response(stream_with_context(chunks), mimetype=MEDIA[fmt].split(";")[0])
    response.headers["Content-Type"] = MEDIA[fmt]
    response.headers["Content-Disposition"] = f'attachment; filename="filings.{fmt}"'
    return response


@bp.route("/regulator/orders", methods=["GET"])
@bp.access(roles=[Role.REGULATOR])
@bp.arguments(RegulatorOrderQuery, location="query")
@bp.response(200, page_of(trading.OrderSummaryOut))
def orders(query: dict[str, Any]) -> dict[str, Any]:
    """Every order, filtered by status, product, party, creation date range and amount."""
    filters = trading.OrderFilters(
        status=query["status"], product=query["product"], party=query["party"],
        created_from=query["created_from"], created_to=query["created_to"],
        min_amount=query["min_amount"], max_amount=query["max_amount"])
    return page_body(services.orders(filters, uow=unit_of_work(), **page_args(query)))


@bp.route("/regulator/orders/<order_id>", methods=["GET"])
@bp.access(roles=[Role.REGULATOR], object_scoped=True)
@bp.response(200, RegulatorOrderOut)
def order(order_id: str) -> dict[str, Any]:
    """One order with its contract, ledger journals and postings, revenue allocations and
    filing (登记备案)."""
    found = services.order_record(order_id, uow=unit_of_work())
    return {"order": trading.order_document(found.order), "contract": found.order.contract,
            "ledger": trading.ledger_document(found.order.money), "filing": found.filing}


@bp.route("/regulator/statistics", methods=["GET"])
@bp.access(roles=[Role.REGULATOR])
@bp.arguments(compliance.FilingQuery, location="query")
@bp.response(200, StatisticsOut)
def statistics(query: dict[str, Any]) -> dict[str, Any]:
    """Filed trades: count and volume by day, month, sector, product type and data class
    (general, important, core; unclassified when reported from off the exchange), per
    currency."""
    return services.statistics(compliance.filing_filters(query), uow=unit_of_work())


@bp.route("/regulator/retention", methods=["GET"])
@bp.access(roles=[Role.REGULATOR])
@bp.response(200, RetentionOverviewOut)
def retention() -> dict[str, Any]:
    """How long each kind of record is kept (the database refuses deleting one earlier),
    and the destruction of delivered copies: asked for, declared, overdue (each alerted
    once) and the delivered files deleted from storage."""
    return services.retention_overview(uow=unit_of_work())


@bp.route("/regulator/public-data/trades", methods=["GET"])
@bp.access(roles=[Role.REGULATOR])
@bp.response(200, PublicDataTradesOut)
def public_data_trades() -> dict[str, Any]:
    """Public-data trades (公共数据授权运营) by purpose class: public_interest (free) and
    commercial (paid at cost recovery), each with its count, price, refunds and how many
    settled, per currency. The authorisations are at `GET /public-data/authorisations`."""
    return {"items": services.public_data_trades(uow=unit_of_work())}


@bp.route("/regulator/public-data/fund", methods=["GET"])
@bp.access(roles=[Role.REGULATOR])
@bp.arguments(PublicFundQuery, location="query")
@bp.response(200, PublicFundOut)
def public_fund(query: dict[str, Any]) -> dict[str, Any]:
    """The public-service fund (公共数据运营收益定向反哺公共服务): the earmarked share of
    public-data revenue settlement set aside, its balance per currency and its entries."""
    found = services.public_fund(uow=unit_of_work(), currency=query["currency"],
                                 **page_args(query))
    return {"balances": found.balances, **page_body(found.entries)}


@bp.route("/disclosure/market-statistics", methods=["GET"])
@bp.access(anonymous=True)
@bp.response(200, MarketStatisticsOut)
def market_statistics() -> dict[str, Any]:
    """Public disclosure: filed trades by month, sector and product type (no parties; no
    volume for a cell of fewer than three trades)."""
    return services.market_statistics(uow=unit_of_work())


@bp.route("/disclosure/sanctions", methods=["GET"])
@bp.access(anonymous=True)
@bp.response(200, SanctionListOut)
def sanctions() -> dict[str, Any]:
    """Public disclosure: participants suspended or blacklisted, with since when and why."""
    return {"items": services.sanctions(uow=unit_of_work())}


@bp.route("/regulator/reads", methods=["GET"])
@bp.access(roles=[Role.REGULATOR, Role.OPERATOR])
@bp.arguments(ReadQuery, location="query")
@bp.response(200, page_of(SupervisionReadOut))
def reads(query: dict[str, Any]) -> dict[str, Any]:
    """The supervision trace (事后可追溯): every successful read a regulator made, with its
    method, path, query and how many records it returned, filtered by regulator
    organisation, user, path prefix and time. Regulators and the operator read it."""
    filters = services.ReadFilters(org_id=query["org_id"], user_id=query["user_id"],
                                   path_prefix=query["path"], since=query["since"],
                                   until=query["until"])
    return page_body(services.supervision_reads(filters, uow=unit_of_work(),
                                                **page_args(query)))


def result_count(response: Response) -> int | None:
    """How many records a JSON read returned: a page's items, a list's length, or one
    object; None for what is not JSON."""
    if response.is_streamed or not response.is_json:
        return None
    body = response.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        return len(body["items"])
    if isinstance(body, list):
        return len(body)
    return 1 if body is not None else None


@bp.after_app_request
def _audit_regulator_reads(response: Response) -> Response:
    """Keep every successful read a regulator makes in the supervision trace. A streamed
    export is kept when its stream closes, with the number of records it sent."""
    if request.method not in ("GET", "HEAD") or response.status_code >= 400 or is_internal():
        return response
    actor = g.get("market_actor")  # only requests that looked at their key; public reads
    if actor is None or actor.is_anonymous or not actor.has_role(Role.REGULATOR):  # are public
        return response
    method, path, status = request.method, request.path, response.status_code
    query = request.query_string.decode("utf-8", "replace")
    tally: services.Tally | None = g.get("market_tally")
    if response.is_streamed and tally is not None:
        st, request_id = state(), g.get("request_id")

        def kept() -> None:
            services.record_read(actor, method=method, path=path, query=query, status=status,
                                 result_count=tally.count,
                                 uow=UnitOfWork(st.session_factory, st.clock, actor,
                                                request_id=request_id))
        response.call_on_close(kept)
        return response
    services.record_read(actor, method=method, path=path, query=query, status=status,
                         result_count=result_count(response), uow=unit_of_work())
    return response
