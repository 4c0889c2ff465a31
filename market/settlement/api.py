"""Settlement API: top-ups on the offline rail, accounts and statements (对账单), payouts,
and the ledger's verification."""

from __future__ import annotations

from typing import Any

from flask import g, request

from market.kernel.actor import Role, system_actor
from market.kernel.uow import UnitOfWork
from market.kernel.web import ApiBlueprint, page_args, page_body, page_of, state, unit_of_work
from market.kernel.web.context import request_sessions
from market.settlement import services
from market.settlement.errors import CardPaymentsUnavailable
from market.settlement.schemas import (
    AccountOut,
    AccountQuery,
    ConnectAccountIn,
    ConnectAccountOut,
    ConnectAccountQuery,
    LedgerVerificationOut,
    PayoutConfirmationIn,
    PayoutIn,
    PayoutOut,
    PayoutQuery,
    PayoutRejectionIn,
    StatementOut,
    StatementQuery,
    StripeWebhookOut,
    TopUpIn,
    TopUpOut,
)

bp = ApiBlueprint("settlement", __name__,
                  description="Ledger accounts, top-ups, statements and payouts")



@bp.route("/ledger/top-ups", methods=["POST"])
@bp.access(roles=[Role.OPERATOR])
@bp.idempotent
@bp.arguments(TopUpIn)
@bp.response(201, TopUpOut)
def record_top_up(body: dict[str, Any]) -> tuple[Any, int]:
    """Record a participant's bank transfer on the offline rail (operator); the bank
    reference is recorded once."""
    top_up = services.record_top_up(body["org_id"], body["amount"], body["currency"],
                                    body["reference"], uow=unit_of_work())
    return top_up, 201


@bp.route("/ledger/accounts", methods=["GET"])
@bp.access()
@bp.arguments(AccountQuery, location="query")
@bp.response(200, page_of(AccountOut))
def list_accounts(query: dict[str, Any]) -> dict[str, Any]:
    """Your organisation's accounts (available, payable, escrow per order); all for the
    operator and regulators."""
    return page_body(services.list_accounts(
        uow=unit_of_work(), owner=query["owner"], kind=query["kind"],
        currency=query["currency"], **page_args(query)))


@bp.route("/ledger/accounts/<account_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, AccountOut)
def get_account(account_id: str) -> Any:
    return services.get_account(account_id, uow=unit_of_work())


@bp.route("/ledger/accounts/<account_id>/statement", methods=["GET"])
@bp.access(object_scoped=True)
@bp.arguments(StatementQuery, location="query")
@bp.response(200, StatementOut)
def statement(query: dict[str, Any], account_id: str) -> Any:
    """The account's statement for [from, to): opening and closing balances and every
    posting with the running balance."""
    return services.statement(account_id, query["period_from"], query["period_to"],
                              uow=unit_of_work())


@bp.route("/ledger/verification", methods=["GET"])
@bp.access(roles=[Role.OPERATOR, Role.REGULATOR])
@bp.response(200, LedgerVerificationOut)
def verify() -> dict[str, Any]:
    """Recompute the ledger from its postings and report every broken invariant."""
    return services.verify(uow=unit_of_work()).as_dict()


@bp.route("/payouts", methods=["POST"])
@bp.access(roles=[Role.MERCHANT, Role.BUYER, Role.BROKER, Role.ASSESSOR])
@bp.idempotent
@bp.arguments(PayoutIn)
@bp.response(201, PayoutOut)
def request_payout(body: dict[str, Any]) -> tuple[Any, int]:
    """Ask to be paid part of your payable balance; it is reserved until the operator
    confirms the bank payout."""
    payout = services.request_payout(body["amount"], body["currency"], body["bank_account"],
                                     uow=unit_of_work())
    return payout, 201


@bp.route("/payouts", methods=["GET"])
@bp.access()
@bp.arguments(PayoutQuery, location="query")
@bp.response(200, page_of(PayoutOut))
def list_payouts(query: dict[str, Any]) -> dict[str, Any]:
    return page_body(services.list_payouts(uow=unit_of_work(), status=query["status"],
                                           **page_args(query)))


@bp.route("/payouts/<payout_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, PayoutOut)
def get_payout(payout_id: str) -> Any:
    return services.get_payout(payout_id, uow=unit_of_work())


@bp.route("/payouts/<payout_id>/confirmation", methods=["POST"])
@bp.access(roles=[Role.OPERATOR], object_scoped=True)
@bp.idempotent
@bp.arguments(PayoutConfirmationIn)
@bp.response(200, PayoutOut)
def confirm_payout(body: dict[str, Any], payout_id: str) -> Any:
    """The bank paid it (operator): the reservation is posted to the rail."""
    return services.confirm_payout(payout_id, body["bank_reference"], uow=unit_of_work())


@bp.route("/payouts/<payout_id>/rejection", methods=["POST"])
@bp.access(roles=[Role.OPERATOR], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(PayoutRejectionIn)
@bp.response(200, PayoutOut)
def reject_payout(body: dict[str, Any], payout_id: str) -> Any:
    """Reject a payout (operator): the reservation is given back."""
    return services.reject_payout(payout_id, body["reason"], uow=unit_of_work())


# -- the Stripe rail ---------------------------------------------------------------------


@bp.route("/payments/connect-account", methods=["POST"])
@bp.access(roles=[Role.MERCHANT, Role.BROKER])
@bp.idempotent
@bp.arguments(ConnectAccountIn)
@bp.response(202, ConnectAccountOut)
def open_connect_account(body: dict[str, Any]) -> tuple[Any, int]:
    """Ask for your organisation's Stripe Connect account, to be paid your shares by
    transfer: the worker creates it and an onboarding link (GET it). Asking again once the
    link has expired asks for a new one."""
    account = services.open_connect_account(body["country"], body["email"],
                                            body["refresh_url"], body["return_url"],
                                            uow=unit_of_work())
    return account, 202


@bp.route("/payments/connect-account", methods=["GET"])
@bp.access(roles=[Role.MERCHANT, Role.BROKER, Role.OPERATOR, Role.REGULATOR])
@bp.arguments(ConnectAccountQuery, location="query")
@bp.response(200, ConnectAccountOut)
def get_connect_account(query: dict[str, Any]) -> Any:
    """Your Connect account: whether Stripe lets it take charges and payouts, and the
    onboarding link while details are missing. The operator and regulators name an
    organisation."""
    return services.get_connect_account(uow=unit_of_work(), org_id=query["org_id"])


@bp.route("/webhooks/stripe", methods=["POST"])
@bp.access(anonymous=True)
@bp.response(200, StripeWebhookOut)
@bp.alt_response(400, response="BAD_REQUEST")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def stripe_webhook() -> dict[str, Any]:
    """Stripe's events (no API key: the ``Stripe-Signature`` header over the raw body is
    checked with the webhook secret, 300 s tolerance). Stored once by id and answered at
    once; the worker applies them. 400 stripe_signature_invalid when forged or stale."""
    settings = state().settings
    if settings.payment_rail != "stripe":
        raise CardPaymentsUnavailable(rail=settings.payment_rail)
    uow = UnitOfWork(request_sessions(), state().clock, system_actor("stripe webhook"),
                     request_id=g.get("request_id"))
    received = services.receive_stripe_event(
        request.get_data(cache=False), request.headers.get("Stripe-Signature"),
        secret=settings.stripe_webhook_secret, uow=uow)
    return {"received": received.event_id, "duplicate": received.duplicate}
