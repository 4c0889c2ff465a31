"""Trading API: orders and their contracts, payment, delivery and downloads, acceptance,
disputes, refunds after settlement, subscriptions and API-credential checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Response, request, url_for

from market.kernel.actor import Role
from market.kernel.storage import FileStore
from market.kernel.web import (
    ApiBlueprint,
    PageQuery,
    page_args,
    page_body,
    page_of,
    state,
    unit_of_work,
)
from market.kernel.web.files import send_stored, stored_files
from market.settlement.services import RefundCause, RefundOut
from market.trading import services
from market.trading.domain import DeliveryMode, DisputeOutcome, Policy
from market.trading.schemas import (
    AcceptanceIn,
    AnswerIn,
    CancellationIn,
    CardPaymentOut,
    CredentialIn,
    CredentialOut,
    DeliveryIn,
    DeliveryResultOut,
    DisputeDecisionIn,
    DownloadTokenOut,
    FileDeliveryIn,
    OrderDisputeIn,
    OrderDisputeOut,
    OrderDisputeQuery,
    OrderEventOut,
    OrderIn,
    OrderLedgerOut,
    OrderOut,
    OrderQuery,
    OrderRefundsOut,
    OrderReviewIn,
    OrderSummaryOut,
    RefundIn,
    SubscriptionChangeIn,
    SubscriptionEventOut,
    SubscriptionOut,
    SubscriptionQuery,
    SubscriptionTermsOut,
    TermsAcceptanceIn,
    UsageIn,
    UsageOut,
)

bp = ApiBlueprint("trading", __name__,
                  description="Orders, contracts, payment, delivery, acceptance and disputes")

F = TypeVar("F", bound=Callable[..., Any])


def policy() -> Policy:
    return services.policy_of(state().settings)


def storage() -> FileStore:
    return stored_files("deliveries")


order_body = services.order_document
ledger_body = services.ledger_document


def large_body(func: F) -> F:
    """Let this endpoint take uploads up to the configured size (streamed to disk)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        request.max_content_length = state().settings.max_upload_bytes
        return func(*args, **kwargs)

    return cast(F, wrapper)


@bp.route("/orders", methods=["POST"])
@bp.access(roles=[Role.BUYER])
@bp.idempotent
@bp.arguments(OrderIn)
@bp.response(201, OrderOut)
def place_order(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Order an offer of a listed product with your purchase commitment (购买承诺). The rules
    judge it; a block answers 422 order_refused naming them. The contract freezes the
    version, price, usage terms, declarations' digests, rights chain and revenue split.
    At least one of the modes the order may be delivered by must suit the data's
    classification (`DeliveryModeMustSuitClassification`); a buyer using the data abroad,
    or data stored abroad, sends the order to review for a security assessment
    (`DataAbroadNeedsSecurityAssessment`)."""
    view = services.place_order(body["product_id"], body["offer_id"], body["commitment"],
                                signature=body["signature"], policy=policy(),
                                uow=unit_of_work())
    return order_body(view), 201


@bp.route("/orders", methods=["GET"])
@bp.access()
@bp.arguments(OrderQuery, location="query")
@bp.response(200, page_of(OrderSummaryOut))
def list_orders(query: dict[str, Any]) -> dict[str, Any]:
    """Orders where your organisation is buyer or seller; all for the operator and
    regulators."""
    filters = services.OrderFilters(status=query["status"], role=query["role"],
                                    product=query["product"])
    return page_body(services.list_orders(filters, uow=unit_of_work(), **page_args(query)))


@bp.route("/orders/<order_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, OrderOut)
def get_order(order_id: str) -> dict[str, Any]:
    """One order with its deliveries and disputes."""
    return order_body(services.get_order(order_id, uow=unit_of_work()))


@bp.route("/orders/<order_id>/history", methods=["GET"])
@bp.access(object_scoped=True)
@bp.arguments(PageQuery, location="query")
@bp.response(200, page_of(OrderEventOut))
def order_history(query: dict[str, Any], order_id: str) -> dict[str, Any]:
    """Every status change of the order, who made it and why."""
    return page_body(services.order_history(order_id, uow=unit_of_work(), **page_args(query)))


@bp.route("/orders/<order_id>/ledger", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, OrderLedgerOut)
def order_ledger(order_id: str) -> dict[str, Any]:
    """The order's ledger journals with their postings, and the revenue allocations."""
    return ledger_body(services.order_money(order_id, uow=unit_of_work()))


@bp.route("/orders/<order_id>/review", methods=["POST"])
@bp.access(roles=[Role.OPERATOR, Role.ASSESSOR], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(OrderReviewIn)
@bp.response(200, OrderOut)
def review_order(body: dict[str, Any], order_id: str) -> dict[str, Any]:
    """Approve or reject an order the rules sent to review (operator, assessors)."""
    view = services.review_order(order_id, body["decision"] == "approve", body["reason"],
                                 policy=policy(), uow=unit_of_work())
    return order_body(view)


@bp.route("/orders/<order_id>/cancellation", methods=["POST"])
@bp.access(roles=[Role.BUYER, Role.MERCHANT], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(CancellationIn)
@bp.response(200, OrderOut)
def cancel_order(body: dict[str, Any], order_id: str) -> dict[str, Any]:
    """Cancel an order before it is paid (buyer or seller)."""
    return order_body(services.cancel_order(order_id, body["reason"], uow=unit_of_work()))


@bp.route("/orders/<order_id>/payment", methods=["POST"])
@bp.access(roles=[Role.BUYER], object_scoped=True)
@bp.idempotent
@bp.response(200, OrderOut)
def pay_order(order_id: str) -> dict[str, Any]:
    """Pay the order from your available balance into its escrow; 422 insufficient_funds
    when the balance is too low."""
    return order_body(services.pay_order(order_id, policy=policy(), uow=unit_of_work()))


@bp.route("/orders/<order_id>/card-payment", methods=["POST"])
@bp.access(roles=[Role.BUYER], object_scoped=True)
@bp.idempotent
@bp.alt_response(409, response="CONFLICT")
@bp.response(202, CardPaymentOut)
def request_card_payment(order_id: str) -> tuple[Any, int]:
    """Pay the order by card (the Stripe rail): a PaymentIntent is created for it, whose
    client secret this answers once the worker has made it (GET it again meanwhile); asking
    again returns the same card payment. 409 card_payments_unavailable on the offline rail."""
    return services.request_card_payment(order_id, policy=policy(), uow=unit_of_work()), 202


@bp.route("/orders/<order_id>/card-payment", methods=["GET"])
@bp.access(roles=[Role.BUYER, Role.OPERATOR, Role.REGULATOR], object_scoped=True)
@bp.response(200, CardPaymentOut)
def get_card_payment(order_id: str) -> Any:
    """The order's card payment: its status and, for the buyer, the PaymentIntent's client
    secret for Stripe.js."""
    return services.get_card_payment(order_id, uow=unit_of_work())


@bp.route("/orders/<order_id>/deliveries", methods=["POST"])
@bp.access(roles=[Role.MERCHANT], object_scoped=True)
@bp.idempotent
@bp.arguments(DeliveryIn)
@bp.response(201, DeliveryResultOut)
def deliver(body: dict[str, Any], order_id: str) -> tuple[dict[str, Any], int]:
    """Deliver a paid order by API (a per-order credential, shown once) or sandbox access.
    The rules judge the delivery now; a block answers 422 delivery_refused (a mode the
    delivery matrix does not allow for the data's classification and personal-information
    level: `DeliveryModeMustSuitClassification`, the violation's detail names the cell)."""
    data = services.DeliveryInput(mode=DeliveryMode(body["mode"]), endpoint=body["endpoint"],
                                  purpose=body["purpose"], access_to=body["access_to"],
                                  note=body["note"])
    view, credential = services.deliver(order_id, data, storage=storage(), policy=policy(),
                                        uow=unit_of_work())
    return {"order": order_body(view), "credential": credential}, 201


@bp.route("/orders/<order_id>/deliveries/file", methods=["POST"])
@large_body
@bp.access(roles=[Role.MERCHANT], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(FileDeliveryIn, location="multipart")
@bp.response(201, DeliveryResultOut)
def deliver_file(form: dict[str, Any], order_id: str) -> tuple[dict[str, Any], int]:
    """Deliver a paid order as a file (multipart/form-data), stored with its SHA-256; the
    buyer downloads it with expiring, counted links. File delivery must suit the data's
    classification (`DeliveryModeMustSuitClassification`: 422 delivery_refused)."""
    upload = form["file"]
    data = services.DeliveryInput(
        mode=DeliveryMode.FILE, note=form["note"],
        file=services.FileUpload(upload.filename or "delivery",
                                 upload.mimetype or "application/octet-stream",
                                 upload.stream))
    view, _ = services.deliver(order_id, data, storage=storage(), policy=policy(),
                               uow=unit_of_work())
    return {"order": order_body(view), "credential": None}, 201


@bp.route("/orders/<order_id>/usage", methods=["POST"])
@bp.access(roles=[Role.MERCHANT], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(UsageIn)
@bp.response(200, UsageOut)
@bp.alt_response(201, schema=UsageOut, description="a new report")
def record_usage(body: dict[str, Any], order_id: str) -> tuple[Any, int]:
    """Your API reports usage of a pay-per-use order within its period; each key counts
    once (201 when new, 200 when already reported). The period's units are billed, capped,
    when it ends."""
    summary, new = services.record_usage(order_id, body["key"], body["units"],
                                         uow=unit_of_work())
    return summary, 201 if new else 200


@bp.route("/orders/<order_id>/usage", methods=["GET"])
@bp.access(object_scoped=True)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@bp.response(200, UsageOut)
def order_usage(order_id: str) -> Any:
    """A pay-per-use order's units so far and what they cost, capped."""
    return services.order_usage(order_id, uow=unit_of_work())


@bp.route("/orders/<order_id>/download-tokens", methods=["POST"])
@bp.access(roles=[Role.BUYER], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.response(201, DownloadTokenOut)
def issue_download_token(order_id: str) -> tuple[dict[str, Any], int]:
    """A download link for the delivered file: it expires and allows a limited number of
    downloads (ranges of one download count once)."""
    token, record = services.issue_download_token(order_id, policy=policy(),
                                                  uow=unit_of_work())
    return {"token": token, "url": url_for("trading.download", token=token),
            "expires_at": record.expires_at, "max_downloads": record.max_uses}, 201


FILE = {"format": "binary", "type": "string"}
FILE_HEADERS = {
    "X-Content-SHA256": {"description": "the whole file's SHA-256", "required": True,
                         "schema": {"type": "string"}},
    "X-Downloads-Remaining": {"description": "downloads the link still allows",
                              "required": True, "schema": {"type": "integer"}}}


@bp.route("/downloads/<token>", methods=["GET"])
@bp.access(anonymous=True)
@bp.response(200, FILE, content_type="*/*", headers=FILE_HEADERS,
             description="The file, as the media type it was delivered with")
@bp.alt_response(206, schema=FILE, content_type="*/*", headers=FILE_HEADERS, success=True,
                 description="The range of the file the Range header asked for")
@bp.alt_response(403, response="FORBIDDEN")
def download(token: str) -> Response:
    """The delivered file. Supports Range requests (206) for large files; a whole download
    or a range starting at the first byte uses one of the link's downloads."""
    # HEAD, and Range headers that are malformed or ask for several ranges (answered 416),
    # deliver nothing from the first byte: they must not use up the link.
    ranged = request.range
    counted = request.method == "GET" and (
        "Range" not in request.headers
        or (ranged is not None and len(ranged.ranges) == 1 and ranged.ranges[0][0] == 0))
    found = services.redeem_download(token, counted=counted, storage=storage(),
                                     uow=unit_of_work())
    response = send_stored(found.store, found.key, media_type=found.media_type,
                           name=found.name, etag=found.sha256)
    response.headers["X-Content-SHA256"] = found.sha256
    response.headers["X-Downloads-Remaining"] = str(found.remaining)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/orders/<order_id>/acceptance", methods=["POST"])
@bp.access(roles=[Role.BUYER], object_scoped=True)
@bp.idempotent
@bp.arguments(AcceptanceIn)
@bp.response(200, OrderOut)
def accept_order(body: dict[str, Any], order_id: str) -> dict[str, Any]:
    """Accept the delivery (optionally confirming the file's SHA-256); the order settles at
    once: the escrow is split among the parties and the trade is filed (登记备案)."""
    return order_body(services.accept_order(order_id, sha256=body["sha256"],
                                            uow=unit_of_work()))


@bp.route("/orders/<order_id>/disputes", methods=["POST"])
@bp.access(roles=[Role.BUYER], object_scoped=True)
@bp.idempotent
@bp.arguments(OrderDisputeIn)
@bp.response(201, OrderDisputeOut)
def open_dispute(body: dict[str, Any], order_id: str) -> tuple[Any, int]:
    """Dispute a paid or delivered order before accepting it; the money stays in escrow."""
    dispute = services.open_dispute(order_id, body["reason"], body["evidence_sha256"],
                                    policy=policy(), uow=unit_of_work())
    return dispute, 201


@bp.route("/disputes", methods=["GET"])
@bp.access()
@bp.arguments(OrderDisputeQuery, location="query")
@bp.response(200, page_of(OrderDisputeOut))
def list_disputes(query: dict[str, Any]) -> dict[str, Any]:
    """Disputes over your orders; all for the operator and regulators."""
    return page_body(services.list_disputes(uow=unit_of_work(), status=query["status"],
                                            **page_args(query)))


@bp.route("/disputes/<dispute_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, OrderDisputeOut)
def get_dispute(dispute_id: str) -> Any:
    return services.get_dispute(dispute_id, uow=unit_of_work())


@bp.route("/disputes/<dispute_id>/answer", methods=["POST"])
@bp.access(roles=[Role.MERCHANT], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(AnswerIn)
@bp.response(200, OrderDisputeOut)
def answer_dispute(body: dict[str, Any], dispute_id: str) -> Any:
    """The merchant's answer, within the answer window."""
    return services.answer_dispute(dispute_id, body["answer"], body["evidence_sha256"],
                                   uow=unit_of_work())


@bp.route("/disputes/<dispute_id>/decision", methods=["POST"])
@bp.access(roles=[Role.OPERATOR], object_scoped=True)
@bp.idempotent
@bp.arguments(DisputeDecisionIn)
@bp.response(200, OrderDisputeOut)
def decide_dispute(body: dict[str, Any], dispute_id: str) -> Any:
    """The operator decides: release, partial refund (taken from every share in
    proportion) or full refund."""
    return services.decide_dispute(dispute_id, DisputeOutcome(body["outcome"]),
                                   body["reason"], refund_amount=body["refund_amount"],
                                   uow=unit_of_work())


@bp.route("/orders/<order_id>/refunds", methods=["POST"])
@bp.access(roles=[Role.MERCHANT, Role.OPERATOR], object_scoped=True)
@bp.idempotent
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(RefundIn)
@bp.response(201, RefundOut)
def refund_order(body: dict[str, Any], order_id: str) -> tuple[Any, int]:
    """Refund part or the rest of a settled order to its buyer: the seller out of goodwill,
    the operator for a dispute decision or an arbitration award. Taken from every payee's
    share and the platform fee in proportion; 422 refund_exceeds_paid beyond what is left."""
    refund = services.refund_order(order_id, body["amount"], RefundCause(body["cause"]),
                                   body["reason"], uow=unit_of_work())
    return refund, 201


@bp.route("/orders/<order_id>/refunds", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, OrderRefundsOut)
def list_refunds(order_id: str) -> Any:
    """The order's refunds after settlement, each with what every payee gave back."""
    return services.list_refunds(order_id, uow=unit_of_work())


@bp.route("/subscriptions", methods=["GET"])
@bp.access()
@bp.arguments(SubscriptionQuery, location="query")
@bp.response(200, page_of(SubscriptionOut))
def list_subscriptions(query: dict[str, Any]) -> dict[str, Any]:
    """Subscriptions where your organisation is buyer or seller; all for the operator and
    regulators."""
    return page_body(services.list_subscriptions(
        uow=unit_of_work(), status=query["status"], role=query["role"], **page_args(query)))


@bp.route("/subscriptions/<subscription_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, SubscriptionOut)
def get_subscription(subscription_id: str) -> Any:
    """One subscription: its status, the paid period that runs, renewal and grace."""
    return services.get_subscription(subscription_id, uow=unit_of_work())


@bp.route("/subscriptions/<subscription_id>", methods=["PATCH"])
@bp.access(roles=[Role.BUYER], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(SubscriptionChangeIn)
@bp.response(200, SubscriptionOut)
def change_subscription(body: dict[str, Any], subscription_id: str) -> Any:
    """Turn renewal on or off (the buyer). Off, the subscription lapses when the paid period
    ends."""
    return services.set_renewal(subscription_id, body["renew"], uow=unit_of_work())


@bp.route("/subscriptions/<subscription_id>/history", methods=["GET"])
@bp.access(object_scoped=True)
@bp.arguments(PageQuery, location="query")
@bp.response(200, page_of(SubscriptionEventOut))
def subscription_history(query: dict[str, Any], subscription_id: str) -> dict[str, Any]:
    """Every status change and renewal of the subscription."""
    return page_body(services.subscription_history(subscription_id, uow=unit_of_work(),
                                                   **page_args(query)))


@bp.route("/subscriptions/<subscription_id>/terms", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, SubscriptionTermsOut)
def subscription_terms(subscription_id: str) -> Any:
    """The terms the subscription renews under: the first order's contract, or terms the
    buyer accepted since."""
    return services.current_terms(subscription_id, uow=unit_of_work())


@bp.route("/subscriptions/<subscription_id>/terms-acceptance", methods=["POST"])
@bp.access(roles=[Role.BUYER], object_scoped=True)
@bp.idempotent
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(TermsAcceptanceIn)
@bp.response(201, SubscriptionTermsOut)
def accept_terms(body: dict[str, Any], subscription_id: str) -> tuple[Any, int]:
    """Accept the offer's terms on sale now with a new purchase commitment (the buyer);
    the next renewals are placed under them. The rules judge them as an order."""
    terms = services.accept_terms(subscription_id, body["commitment"], policy=policy(),
                                  offer_id=body["offer_id"], signature=body["signature"],
                                  uow=unit_of_work())
    return terms, 201


@bp.route("/api-credentials/verification", methods=["POST"])
@bp.access(roles=[Role.MERCHANT], scope="read")  # it only reads: a gateway needs no write key
@bp.arguments(CredentialIn)
@bp.response(200, CredentialOut)
def check_credential(body: dict[str, Any]) -> Any:
    """Your API asks whether a buyer's access credential for one of your orders is good
    now (delivered or settled, not flagged, within its term)."""
    return services.check_credential(body["credential"], uow=unit_of_work())


# The contract's signatures and the end of its term (the destruction declaration) add their
# routes to this blueprint.
from market.trading import contract_api, destruction_api  # noqa: E402, F401
