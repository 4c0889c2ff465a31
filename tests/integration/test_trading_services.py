"""Trading use cases against the database: the order state machine, compliance refusals that
write only their decision, limited offers, escrow and the revenue split to the last minor
unit, disputes, the deadlines the worker enforces, download tokens, the rights cascade
reaching orders, filings and distribution rules.

Every product rests on a real rights chain (holder → grantee) listed through the listing
services; buyers get money through offline-rail top-ups (see ``trading_fixtures``). The
ledger is verified after every step that moves money.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
import rfc8785
from sqlalchemy import func, select

from market.compliance import services as compliance
from market.kernel.audit import AuditHead
from market.kernel.errors import InvalidInput, InvalidTransition, RoleNotAllowed
from market.kernel.outbox import OutboxMessage
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.listing.domain import OfferKind, OfferSpec
from market.listing.errors import ProductNotFound, SoldOut
from market.listing.models import Offer
from market.participants import services as participants
from market.participants.domain import Status
from market.rights import services as rights_services
from market.rights.domain import Classification, EvidenceKind, PILevel, RightStatus
from market.settlement.domain import PLATFORM, AccountKind
from market.settlement.errors import InsufficientFunds
from market.settlement.models import Account, Allocation, Journal, Posting
from market.settlement.split import (
    DistributionRule,
    ShareRole,
    SplitPolicy,
    rule_from_chain,
    split,
)
from market.trading import services as trading
from market.trading.domain import (
    OPEN,
    TERMINAL,
    TRANSITIONS,
    DeliveryMode,
    DisputeOutcome,
    DisputeStatus,
    OrderStatus,
)
from market.trading.errors import (
    CredentialNotValid,
    DeliveryModeNotOffered,
    DeliveryRefused,
    DeliveryWindowClosed,
    DisputeAwaitingAnswer,
    DisputeNotFound,
    DisputeNotOpen,
    DisputeWindowClosed,
    DownloadNotAllowed,
    FingerprintMismatch,
    NoFileDelivered,
    NotAParty,
    OrderFlagged,
    OrderNotFound,
    OrderRefused,
    PaymentWindowClosed,
    ReviewWindowClosed,
)
from market.trading.models import (
    Contract,
    Delivery,
    Dispute,
    DownloadToken,
    Order,
    OrderEvent,
)
from tests.conftest import START, Party
from tests.integration.rights_fixtures import (  # noqa: F401
    PRODUCT_TERM,
    Chain,
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_listing_services import (  # noqa: F401
    DECLARATION,
    TERMS,
    _wired,
)
from tests.integration.trading_fixtures import (  # noqa: F401
    COMMITMENT,
    POLICY,
    PRICE,
    Market,
    market_fixture,
)

S = OrderStatus
FUNDS = 10 * PRICE
FILE = b"id,score\n1,0.9\n"
FILE_SHA = hashlib.sha256(FILE).hexdigest()
US = timedelta(microseconds=1)


# -- helpers -----------------------------------------------------------------------------------


def buyer_of(market: Market, order: Order) -> Party:
    return market.party_of(order.buyer_org_id)


def seller_of(market: Market, order: Order) -> Party:
    return market.party_of(order.seller_org_id)


def operator_uow(market: Market) -> UnitOfWork:
    return market.uow(market.rights.operator)


def status(market: Market, order: Order) -> str:
    return market.order(order.id).status


def sold(market: Market, chain: Chain) -> int:
    with market.rights.session_factory() as session:
        return int(session.scalar(select(Offer.sold).where(Offer.id == market.offer_id(chain)))
                   or 0)


def escrow_account(market: Market, order_id: str) -> Account | None:
    with market.rights.session_factory() as session:
        found = session.scalars(select(Account).where(
            Account.kind == AccountKind.ESCROW.value, Account.ref == order_id)).one_or_none()
        if found is not None:
            session.expunge(found)
        return found


def history(market: Market, order: Order) -> list[tuple[str, str | None, str]]:
    page = trading.order_history(order.id, uow=market.uow(buyer_of(market, order)))
    return [(e.action, e.from_status, e.to_status) for e in page.items]


def world(market: Market) -> dict[str, int]:
    """Row counts of everything a trading use case may write, the audit head and the units
    sold: equal snapshots mean nothing was written."""
    models = (Order, OrderEvent, Contract, Delivery, Dispute, DownloadToken, Journal, Posting,
              Account, Allocation, OutboxMessage)
    with market.rights.session_factory() as session:
        found = {m.__tablename__: int(session.scalar(select(func.count()).select_from(m)) or 0)
                 for m in models}
        found["audit"] = int(session.scalar(select(AuditHead.seq)) or 0)
        found["offers_sold"] = int(session.scalar(select(func.sum(Offer.sold))) or 0)
    return {**found, **market.counts()}


def plus(before: dict[str, int], **grown: int) -> dict[str, int]:
    return {**before, **{k: before[k] + v for k, v in grown.items()}}


def order_row(market: Market, order: Order) -> tuple[Any, ...]:
    o = market.order(order.id)
    return (o.status, o.updated_at, o.closed_at, o.flagged, o.paid_at, o.delivered_at,
            o.accepted_at, o.settled_at)


def rule_names(error: Any) -> list[str]:
    return [v["rule"] for v in error.errors["rules"]]


def default_rule(chain: Chain) -> DistributionRule:
    """The rule a product's chain implies with the default policy, derived independently."""
    return rule_from_chain(
        [("resource_holding", chain.holder.org_id), ("processing_use", chain.grantee.org_id),
         ("product_operation", chain.grantee.org_id)],
        merchant_org_id=chain.grantee.org_id, holder_bps=POLICY.holder_bps,
        processor_bps=POLICY.processor_bps, platform_fee_bps=POLICY.platform_fee_bps)


def per_org(amount: int, rule: DistributionRule) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in split(amount, rule):
        found[line.org_id] = found.get(line.org_id, 0) + line.amount
    return found


def contract(market: Market, order: Order) -> Contract:
    with market.rights.session_factory() as session:
        found = session.scalars(select(Contract).where(Contract.order_id == order.id)).one()
        session.expunge(found)
        return found


def dispute_row(market: Market, dispute_id: str) -> Dispute:
    with market.rights.session_factory() as session:
        found = session.get(Dispute, dispute_id)
        assert found is not None
        session.expunge(found)
        return found


def open_dispute(market: Market, order: Order, reason: str = "数据缺字段") -> Dispute:
    return trading.open_dispute(order.id, reason, ["ab" * 32], policy=market.policy,
                                uow=market.uow(buyer_of(market, order)))


def answer(market: Market, dispute: Dispute) -> Dispute:
    return trading.answer_dispute(dispute.id, "字段齐全，见样例", ["cd" * 32],
                                  uow=market.uow(market.party_of(dispute.seller_org_id)))


def decide(market: Market, dispute: Dispute, outcome: DisputeOutcome,
           refund_amount: int | None = None) -> Dispute:
    return trading.decide_dispute(dispute.id, outcome, "经核查", uow=operator_uow(market),
                                  refund_amount=refund_amount)


def deliver(market: Market, order: Order, data: trading.DeliveryInput
            ) -> tuple[trading.OrderView, str | None]:
    return trading.deliver(order.id, data, storage=market.storage, policy=market.policy,
                           uow=market.uow(seller_of(market, order)))


def token_for(market: Market, order: Order) -> str:
    token, _ = trading.issue_download_token(order.id, policy=market.policy,
                                            uow=market.uow(buyer_of(market, order)))
    return token


def redeem(market: Market, token: str, *, counted: bool = True) -> trading.Download:
    return trading.redeem_download(token, counted=counted, storage=market.storage,
                                   uow=market.system())


def deadlines(market: Market) -> dict[str, list[str]]:
    return trading.run_deadlines(uow=market.system()).as_dict()


NOTHING_DUE: dict[str, list[str]] = {
    "unreviewed": [], "cancelled": [], "refunded": [], "auto_accepted": [], "unanswered": [],
    "decisions_carried_out": []}


def sensitive_listed(market: Market, *, quantity: int | None = None) -> Chain:
    """A listed product over sensitive personal information (with consent on record),
    delivered in a sandbox as the delivery matrix asks and listed by two reviewers: the
    rules send every order on it to a human review."""
    rights, shop = market.rights, market.shop
    holder, grantee = rights.party("holder"), rights.party("grantee")
    resource = rights.resource(holder, title="个人健康数据", pi_level=PILevel.SENSITIVE_PERSONAL,
                               evidence_kinds=(EvidenceKind.SOURCE_LEGALITY,
                                               EvidenceKind.CONSENT))
    holding = rights.holding(holder, resource)
    grant = rights.grant(holder, holding, grantee, evidence_kinds=(EvidenceKind.CONSENT,))
    use = rights.use(grantee, holding, grant)
    product = rights.product(grantee, use)
    chain = Chain(holder, grantee, resource, holding, grant, use, product)
    shop.draft(chain, offers=[("标准版", OfferSpec(OfferKind.ONE_TIME, amount=PRICE,
                                                  quantity=quantity))],
               delivery_modes=["sandbox"])
    shop.submit(chain, {**DECLARATION, "contains_personal_information": True,
                        "personal_information_basis": "consent"})
    shop.review(chain.product_id)
    shop.claim(chain.product_id, rights.assessor)  # 双重审核: a second, different reviewer
    shop.decide(chain.product_id, reviewer=rights.assessor)
    return chain


def review(market: Market, order: Order, approve: bool, reviewer: Party | None = None
           ) -> Order:
    return trading.review_order(order.id, approve, "已核查", policy=market.policy,
                                uow=market.uow(reviewer or market.rights.operator)).order


# -- reaching a state --------------------------------------------------------------------------


def reach(market: Market, state: OrderStatus) -> Order:
    """An order driven through the use cases to ``state`` (a stable one)."""
    if state is S.CREATED:
        return market.place(sensitive_listed(market))
    order = market.place(market.listed())
    if state is S.AWAITING_PAYMENT:
        return order
    if state is S.CANCELLED:
        trading.cancel_order(order.id, "不需要了", uow=market.uow(buyer_of(market, order)))
        return market.order(order.id)
    market.pay(order)
    if state is S.PAID:
        return market.order(order.id)
    market.deliver_file(order)
    if state is S.DELIVERED:
        return market.order(order.id)
    if state is S.SETTLED:
        market.accept(order)
        return market.order(order.id)
    dispute = open_dispute(market, order)
    if state is S.DISPUTED:
        return market.order(order.id)
    assert state is S.REFUNDED
    answer(market, dispute)
    decide(market, dispute, DisputeOutcome.FULL_REFUND)
    return market.order(order.id)


Action = Callable[[Market, Order], Any]
ACTIONS: dict[str, tuple[OrderStatus, Action]] = {
    "pay": (S.PAID, lambda m, o: m.pay(o)),
    "deliver": (S.DELIVERED, lambda m, o: m.deliver_file(o)),
    "accept": (S.ACCEPTED, lambda m, o: m.accept(o)),
    "cancel": (S.CANCELLED, lambda m, o: trading.cancel_order(
        o.id, "不需要了", uow=m.uow(buyer_of(m, o)))),
    "dispute": (S.DISPUTED, lambda m, o: open_dispute(m, o)),
    "approve": (S.AWAITING_PAYMENT, lambda m, o: review(m, o, True)),
    "reject": (S.CANCELLED, lambda m, o: review(m, o, False)),
}
# accepted and resolved are passed through within one use case, never rested in
REACHABLE = [S.CREATED, S.AWAITING_PAYMENT, S.PAID, S.DELIVERED, S.DISPUTED, S.SETTLED,
             S.CANCELLED, S.REFUNDED]


def _allowed(state: OrderStatus, action: str) -> bool:
    target, _ = ACTIONS[action]
    if action in ("approve", "reject"):  # a review decides only orders waiting for one
        return state is S.CREATED
    if action == "pay":  # created → paid is a free order leaving placement, never a payment
        return state is S.AWAITING_PAYMENT
    return target in TRANSITIONS[state]


FORBIDDEN = [(state, action) for state in REACHABLE for action in ACTIONS
             if not _allowed(state, action)]


# -- 1. the state machine ----------------------------------------------------------------------


@pytest.mark.parametrize("current", list(OrderStatus), ids=str)
def test_order_move_allows_exactly_the_listed_transitions(current: OrderStatus) -> None:
    at = datetime(2026, 1, 1, tzinfo=START.tzinfo)
    for target in OrderStatus:
        order = Order(status=current.value)
        if target in TRANSITIONS[current]:
            assert order.move(target, at=at) == current.value
            assert (order.status, order.updated_at) == (target.value, at)
        else:
            with pytest.raises(InvalidTransition):
                order.move(target, at=at)
            assert order.status == current.value
    assert (current in TERMINAL) == (not TRANSITIONS[current])


def test_terminal_and_open_states_are_the_designed_ones() -> None:
    assert {S.SETTLED, S.CANCELLED, S.REFUNDED} == TERMINAL
    assert set(OrderStatus) - TERMINAL == OPEN
    assert all(Order(status=s.value).terminal == (s in TERMINAL) for s in OrderStatus)


def test_the_forbidden_pairs_include_the_classic_mistakes() -> None:
    for pair in [(S.PAID, "pay"), (S.AWAITING_PAYMENT, "deliver"), (S.PAID, "accept"),
                 (S.PAID, "cancel"), (S.SETTLED, "dispute"), (S.CANCELLED, "pay"),
                 (S.REFUNDED, "deliver"), (S.SETTLED, "accept")]:
        assert pair in FORBIDDEN
    assert len(FORBIDDEN) == len(REACHABLE) * len(ACTIONS) - 9


def test_a_placed_order_awaits_payment_with_its_contract_frozen(market: Market) -> None:
    chain = market.listed()
    buyer = market.buyer()
    before = world(market)

    view = trading.place_order(chain.product_id, market.offer_id(chain), COMMITMENT,
                               policy=market.policy, uow=market.uow(buyer))

    order = market.order(view.order.id)
    assert order.status == S.AWAITING_PAYMENT
    assert order.pay_by == START + market.policy.payment_window
    assert (order.buyer_org_id, order.seller_org_id, order.amount, order.currency) == (
        buyer.org_id, chain.grantee.org_id, PRICE, "CNY")
    assert order.outcome == "pass"
    assert not order.flagged
    document = contract(market, order).document
    assert document["price"] == {"amount": PRICE, "currency": "CNY"}
    assert document["offer"]["id"] == market.offer_id(chain)
    assert document["distribution"] == default_rule(chain).as_dict()
    assert sorted((link["right_id"], link["kind"], link["holder_org_id"])
                  for link in document["rights_chain"]) == sorted([
        (chain.holding.id, "resource_holding", chain.holder.org_id),
        (chain.use.id, "processing_use", chain.grantee.org_id),
        (chain.product.id, "product_operation", chain.grantee.org_id)])
    assert contract(market, order).sha256 == hashlib.sha256(
        rfc8785.dumps(document)).hexdigest()
    assert history(market, order) == [("placed", None, "created"),
                                      ("accepted_for_payment", "created", "awaiting_payment")]
    after = world(market)
    assert after["orders"] == before["orders"] + 1
    assert after["contracts"] == before["contracts"] + 1
    assert after["declarations"] == before["declarations"] + 1
    assert after["decisions"] == before["decisions"] + 1
    assert after["offers_sold"] == before["offers_sold"] + 1
    assert after["ledger_journals"] == before["ledger_journals"]  # no money moves yet


def test_an_order_the_rules_send_to_review_waits_and_approval_opens_payment(
    market: Market
) -> None:
    chain = sensitive_listed(market)
    order = market.place(chain)
    assert status(market, order) == S.CREATED
    assert market.order(order.id).outcome == "needs_review"
    assert market.order(order.id).pay_by is None
    with pytest.raises(InvalidTransition):
        market.pay(order)
    with pytest.raises(RoleNotAllowed):
        review(market, order, True, reviewer=buyer_of(market, order))

    approved = review(market, order, True, reviewer=market.rights.assessor)

    assert approved.status == S.AWAITING_PAYMENT
    assert market.order(order.id).pay_by == START + market.policy.payment_window
    assert history(market, order)[-1] == ("approved", "created", "awaiting_payment")
    market.pay(order)
    assert status(market, order) == S.PAID


def test_rejecting_an_order_in_review_cancels_it_and_gives_the_unit_back(
    market: Market
) -> None:
    chain = sensitive_listed(market, quantity=1)
    order = market.place(chain)
    assert sold(market, chain) == 1

    assert review(market, order, False).status == S.CANCELLED

    assert sold(market, chain) == 0
    assert market.order(order.id).closed_at == START
    assert history(market, order)[-1] == ("rejected", "created", "cancelled")
    assert market.place(chain, market.buyer("other")).status == S.CREATED


def test_an_order_needing_an_assessment_is_approved_only_with_a_report(
    market: Market
) -> None:
    rights, shop = market.rights, market.shop
    holder, grantee = rights.party("holder"), rights.party("grantee")
    resource = rights.resource(holder, classification=Classification.IMPORTANT)
    holding = rights.holding(holder, resource)
    grant = rights.grant(holder, holding, grantee)
    use = rights.use(grantee, holding, grant)
    chain = Chain(holder, grantee, resource, holding, grant, use, rights.product(grantee, use))
    shop.draft(chain, offers=[("标准版", OfferSpec(OfferKind.ONE_TIME, amount=PRICE))],
               delivery_modes=["api"], terms=replace(TERMS, territory="cross_border"))
    shop.submit(chain, {**DECLARATION, "contains_important_data": True})
    shop.review(chain.product_id)
    order = market.place(chain, commitment={"cross_border": True, "destination": "新加坡"})
    assert (order.status, order.outcome) == (S.CREATED, "needs_assessment")
    before = world(market)

    with pytest.raises(OrderRefused) as raised:
        review(market, order, True)

    assert [(v["code"], v["rule"]) for v in raised.value.errors["rules"]] == [
        ("assessment_missing", "ImportantDataAbroadNeedsSecurityAssessment"),
        ("assessment_missing", "DataAbroadNeedsSecurityAssessment")]  # a buyer abroad
    assert world(market) == before
    assert status(market, order) == S.CREATED
    (item,) = [i for i in compliance.list_reviews(uow=operator_uow(market), kind="order").items
               if i.subject_id == order.id]
    compliance.attach_report(item.id, "security", "出境安全评估.pdf", "ef" * 32,
                             uow=market.uow(market.rights.assessor))
    assert review(market, order, True).status == S.AWAITING_PAYMENT


@pytest.mark.parametrize("state", [S.CREATED, S.AWAITING_PAYMENT], ids=str)
def test_the_buyer_cancels_before_payment(market: Market, state: OrderStatus) -> None:
    order = reach(market, state)
    before = market.balance(order.buyer_org_id)

    view = trading.cancel_order(order.id, "不需要了", uow=market.uow(buyer_of(market, order)))

    assert view.order.status == S.CANCELLED
    assert market.order(order.id).closed_at == START
    assert history(market, order)[-1] == ("cancelled", state.value, "cancelled")
    assert market.balance(order.buyer_org_id) == before
    assert escrow_account(market, order.id) is None  # never paid, no escrow opened
    assert market.verify().ok


def review_items(market: Market, order: Order) -> list[tuple[str, str | None]]:
    page = compliance.list_reviews(uow=operator_uow(market), kind="order")
    return [(i.status, i.outcome) for i in page.items if i.subject_id == order.id]


@pytest.mark.parametrize("how", ["approved", "rejected", "cancelled"])
def test_the_review_queue_follows_the_order(market: Market, how: str) -> None:
    order = reach(market, S.CREATED)
    assert review_items(market, order) == [("open", None)]

    if how == "cancelled":  # the buyer withdraws while the order waits for its review
        trading.cancel_order(order.id, "不需要了", uow=market.uow(buyer_of(market, order)))
    else:
        review(market, order, how == "approved")

    assert review_items(market, order) == [("closed", how)]


def test_the_seller_may_cancel_an_unpaid_order_and_a_stranger_may_not(
    market: Market
) -> None:
    order = reach(market, S.AWAITING_PAYMENT)
    stranger = market.rights.party("stranger", "merchant")
    with pytest.raises(OrderNotFound):
        trading.cancel_order(order.id, "x", uow=market.uow(stranger))
    trading.cancel_order(order.id, "无法供货", uow=market.uow(seller_of(market, order)))
    assert status(market, order) == S.CANCELLED


def test_a_full_trade_goes_through_every_step_with_its_history_in_order(
    market: Market
) -> None:
    chain = market.listed()
    order = market.place(chain)
    assert market.pay(order).status == S.PAID
    paid = market.order(order.id)
    assert (paid.paid_at, paid.deliver_by) == (START, START + market.policy.delivery_window)
    market.rights.clock.advance(timedelta(hours=1))
    assert market.deliver_file(order).status == S.DELIVERED
    delivered = market.order(order.id)
    assert delivered.accept_by == START + timedelta(hours=1) + market.policy.acceptance_window

    accepted = market.accept(order)

    assert accepted.status == S.SETTLED
    final = market.order(order.id)
    assert not final.auto_accepted
    assert final.accepted_at == final.settled_at == final.closed_at
    assert history(market, order) == [
        ("placed", None, "created"),
        ("accepted_for_payment", "created", "awaiting_payment"),
        ("paid", "awaiting_payment", "paid"),
        ("delivered", "paid", "delivered"),
        ("accepted", "delivered", "accepted"),
        ("settled", "accepted", "settled"),
    ]
    assert len(market.filings(order.id)) == 1


def test_an_api_delivery_issues_a_credential_the_merchant_can_check(market: Market) -> None:
    order = reach(market, S.PAID)
    seller = seller_of(market, order)
    access_to = START + timedelta(days=30)

    view, credential = deliver(market, order, trading.DeliveryInput(
        mode=DeliveryMode.API, endpoint="https://api.example.cn/v1/scores",
        access_to=access_to))

    assert view.order.status == S.DELIVERED
    assert credential is not None
    assert credential.startswith("mkc_")
    (delivery,) = view.deliveries
    assert delivery.credential_hash == hashlib.sha256(credential.encode()).hexdigest()
    check = trading.check_credential(credential, uow=market.uow(seller))
    assert (check.order_id, check.buyer_org_id, check.status, check.valid) == (
        order.id, order.buyer_org_id, "delivered", True)
    assert check.terms == contract(market, order).document["terms"]
    with pytest.raises(CredentialNotValid):  # only the seller's API asks
        trading.check_credential(credential, uow=market.uow(buyer_of(market, order)))
    with pytest.raises(CredentialNotValid):
        trading.check_credential("mkc_unknown", uow=market.uow(seller))
    market.accept(order)
    assert trading.check_credential(credential, uow=market.uow(seller)).valid
    market.rights.clock.advance(access_to - START)
    assert not trading.check_credential(credential, uow=market.uow(seller)).valid


def test_a_refunded_orders_credential_is_no_longer_valid(market: Market) -> None:
    order = reach(market, S.PAID)
    _, credential = deliver(market, order, trading.DeliveryInput(
        mode=DeliveryMode.API, endpoint="https://api.example.cn/v1/scores"))
    assert credential is not None
    dispute = open_dispute(market, order)
    answer(market, dispute)
    decide(market, dispute, DisputeOutcome.FULL_REFUND)

    check = trading.check_credential(credential, uow=market.uow(seller_of(market, order)))

    assert (check.status, check.valid) == ("refunded", False)


def test_a_sandbox_delivery_needs_a_purpose_and_a_future_end(market: Market) -> None:
    order = reach(market, S.PAID)
    with pytest.raises(InvalidInput):
        deliver(market, order, trading.DeliveryInput(mode=DeliveryMode.SANDBOX,
                                                     purpose="模型验证", access_to=START))
    assert status(market, order) == S.PAID

    view, credential = deliver(market, order, trading.DeliveryInput(
        mode=DeliveryMode.SANDBOX, purpose="模型验证", access_to=START + timedelta(days=14)))

    assert credential is None
    assert view.order.status == S.DELIVERED
    (delivery,) = trading.get_order(order.id, uow=market.uow(buyer_of(market, order))
                                    ).deliveries
    assert (delivery.mode, delivery.purpose, delivery.access_to) == (
        "sandbox", "模型验证", START + timedelta(days=14))
    assert market.accept(order).status == S.SETTLED


def test_a_file_delivery_is_stored_by_its_fingerprint(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    (delivery,) = trading.get_order(order.id, uow=market.uow(buyer_of(market, order))
                                    ).deliveries
    assert (delivery.mode, delivery.sha256, delivery.size) == ("file", FILE_SHA, len(FILE))
    assert (market.storage / FILE_SHA).read_bytes() == FILE


def test_a_mode_the_listing_does_not_offer_is_refused(market: Market) -> None:
    chain = market.listed(delivery_modes=("file",))
    order = market.place(chain)
    market.pay(order)
    before = world(market)
    with pytest.raises(DeliveryModeNotOffered):
        deliver(market, order, trading.DeliveryInput(mode=DeliveryMode.API,
                                                     endpoint="https://x.example.cn"))
    assert world(market) == before
    assert status(market, order) == S.PAID


def test_a_dispute_released_by_the_operator_settles_with_its_history(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    dispute = open_dispute(market, order)
    answer(market, dispute)
    decide(market, dispute, DisputeOutcome.RELEASE)

    assert status(market, order) == S.SETTLED
    assert [h[0] for h in history(market, order)][-4:] == [
        "delivered", "disputed", "resolved", "settled"]
    assert history(market, order)[-2:] == [("resolved", "disputed", "resolved"),
                                           ("settled", "resolved", "settled")]


def test_a_dispute_over_an_undelivered_order_can_end_in_a_refund(market: Market) -> None:
    order = reach(market, S.PAID)
    dispute = open_dispute(market, order, "迟迟未交付")
    answer(market, dispute)
    decide(market, dispute, DisputeOutcome.FULL_REFUND)

    assert status(market, order) == S.REFUNDED
    assert history(market, order)[-3:] == [("disputed", "paid", "disputed"),
                                           ("resolved", "disputed", "resolved"),
                                           ("refunded", "resolved", "refunded")]
    assert market.balance(order.buyer_org_id) == FUNDS


@pytest.mark.parametrize(("state", "action"), FORBIDDEN,
                         ids=[f"{s.value}-{a}" for s, a in FORBIDDEN])
def test_a_forbidden_step_raises_invalid_transition_and_changes_nothing(
    market: Market, state: OrderStatus, action: str
) -> None:
    order = reach(market, state)
    assert order.status == state
    before, row = world(market), order_row(market, order)
    balance = market.balance(order.buyer_org_id)

    with pytest.raises(InvalidTransition) as raised:
        ACTIONS[action][1](market, order)

    assert raised.value.status == 409
    assert world(market) == before
    assert order_row(market, order) == row
    assert market.balance(order.buyer_org_id) == balance


# -- 2. refusals write only their decision -----------------------------------------------------


@pytest.mark.parametrize(("commitment", "rule"), [
    ({"scenarios": ["精准营销"]}, "BuyerPurposeMustFitListingScenarios"),
    ({"no_onward_transfer": False}, "BuyerMustMakeEveryCommitment"),
], ids=["scenario", "onward-transfer"])
def test_a_blocked_order_writes_only_its_decision(
    market: Market, commitment: dict[str, Any], rule: str
) -> None:
    chain = market.listed(quantity=3)
    buyer = market.buyer()
    before = world(market)

    with pytest.raises(OrderRefused) as raised:
        market.place(chain, buyer, commitment)

    assert rule in rule_names(raised.value)
    assert raised.value.code == "order_refused"
    assert world(market) == plus(before, decisions=1, audit=1)
    assert sold(market, chain) == 0
    (violation,) = [v for v in raised.value.errors["rules"] if v["rule"] == rule]
    decision_id = violation["decision_id"]
    (decision,) = [d for d in compliance.list_decisions(uow=operator_uow(market)).items
                   if d.id == decision_id]
    assert (decision.outcome, decision.subject_type) == ("block", "order")
    with market.rights.session_factory() as session:
        assert session.get(Order, decision.subject_id) is None


def test_a_delivery_to_a_suspended_buyer_writes_only_its_decision(market: Market) -> None:
    order = reach(market, S.PAID)
    participants.change_status(order.buyer_org_id, Status.SUSPENDED, "违规",
                               uow=operator_uow(market))
    before, row = world(market), order_row(market, order)

    with pytest.raises(DeliveryRefused) as raised:
        market.deliver_file(order)

    assert raised.value.code == "delivery_refused"
    assert "ParticipantsMustBeAdmitted" in rule_names(raised.value)
    assert world(market) == plus(before, decisions=1, audit=1)
    assert order_row(market, order) == row
    assert status(market, order) == S.PAID
    assert not (market.storage / FILE_SHA).exists()
    assert market.escrow(order.id) == PRICE


def test_a_delivery_after_the_rights_chain_lapsed_writes_only_its_decision(
    market: Market
) -> None:
    assert PRODUCT_TERM.valid_to is not None
    # a delivery window longer than what is left of the product right's term
    market.policy = replace(market.policy,
                           delivery_window=2 * (PRODUCT_TERM.valid_to - START))
    order = reach(market, S.PAID)
    market.rights.clock.advance(PRODUCT_TERM.valid_to - START)  # no expiry job has run
    before = world(market)

    with pytest.raises(DeliveryRefused) as raised:
        market.deliver_file(order)

    assert "SellerNeedsOperationRightChain" in rule_names(raised.value)
    assert world(market) == plus(before, decisions=1, audit=1)
    assert status(market, order) == S.PAID


# -- 3. limited quantity -----------------------------------------------------------------------


def test_the_last_unit_goes_to_one_buyer_and_comes_back_on_cancel(market: Market) -> None:
    chain = market.listed(quantity=1)
    first, second = market.buyer("first"), market.buyer("second")
    order = market.place(chain, first)
    assert sold(market, chain) == 1
    before = world(market)

    with pytest.raises(SoldOut):
        market.place(chain, second)

    assert world(market) == before  # not even a decision: the unit is taken first
    trading.cancel_order(order.id, "不需要了", uow=market.uow(first))
    assert sold(market, chain) == 0
    again = market.place(chain, second)
    assert again.status == S.AWAITING_PAYMENT
    assert sold(market, chain) == 1


def test_payment_expiry_gives_the_unit_back(market: Market) -> None:
    chain = market.listed(quantity=1)
    order = market.place(chain, market.buyer("first"))
    market.rights.clock.advance(market.policy.payment_window)

    assert deadlines(market)["cancelled"] == [order.id]

    assert sold(market, chain) == 0
    assert market.place(chain, market.buyer("second")).status == S.AWAITING_PAYMENT


def test_a_full_refund_gives_the_unit_back(market: Market) -> None:
    chain = market.listed(quantity=1)
    order = market.place(chain, market.buyer("first"))
    market.pay(order)
    dispute = open_dispute(market, order)
    answer(market, dispute)
    with pytest.raises(SoldOut):
        market.place(chain, market.buyer("second"))

    decide(market, dispute, DisputeOutcome.FULL_REFUND)

    assert sold(market, chain) == 0
    assert market.place(chain, market.buyer("second")).status == S.AWAITING_PAYMENT


# -- 4. insufficient funds ---------------------------------------------------------------------


def test_paying_with_too_little_money_is_refused_and_changes_nothing(market: Market) -> None:
    chain = market.listed()
    buyer = market.buyer("poor", funds=PRICE - 1)
    order = market.place(chain, buyer)
    before, row = world(market), order_row(market, order)

    with pytest.raises(InsufficientFunds):
        market.pay(order)

    assert status(market, order) == S.AWAITING_PAYMENT
    assert world(market) == before
    assert order_row(market, order) == row
    assert market.balance(buyer.org_id) == PRICE - 1
    assert escrow_account(market, order.id) is None
    assert market.verify().ok

    market.top_up(buyer, 1, reference="BANK-poor-2")
    market.pay(order)
    assert market.balance(buyer.org_id) == 0
    assert market.escrow(order.id) == PRICE


# -- 5. money after each operation -------------------------------------------------------------


@dataclass
class Books:
    """The balances a test follows, read fresh."""

    buyer: int
    escrow: int
    holder: int
    grantee: int
    fee: int
    rail: int


def books(market: Market, chain: Chain, buyer: Party, order_id: str) -> Books:
    payable = AccountKind.PAYABLE
    return Books(
        buyer=market.balance(buyer.org_id), escrow=market.escrow(order_id),
        holder=market.balance(chain.holder.org_id, payable),
        grantee=market.balance(chain.grantee.org_id, payable),
        fee=market.balance(PLATFORM, AccountKind.FEE_REVENUE),
        rail=market.balance(PLATFORM, AccountKind.RAIL_CLEARING, "offline"))


def test_money_is_exact_after_top_up_pay_and_settle(market: Market) -> None:
    chain = market.listed()
    buyer = market.buyer(funds=FUNDS)
    order = market.place(chain, buyer)
    assert books(market, chain, buyer, order.id) == Books(FUNDS, 0, 0, 0, 0, -FUNDS)
    assert market.verify().ok

    market.pay(order)
    assert books(market, chain, buyer, order.id) == Books(FUNDS - PRICE, PRICE, 0, 0, 0,
                                                          -FUNDS)
    assert escrow_account(market, order.id).closed_at is None  # type: ignore[union-attr]
    assert market.verify().ok

    market.deliver_file(order)
    market.accept(order)

    rule = default_rule(chain)
    shares = per_org(PRICE, rule)
    assert shares[PLATFORM] == PRICE * POLICY.platform_fee_bps // 10_000
    assert books(market, chain, buyer, order.id) == Books(
        FUNDS - PRICE, 0, shares[chain.holder.org_id], shares[chain.grantee.org_id],
        shares[PLATFORM], -FUNDS)
    assert sum(shares.values()) == PRICE
    closed = escrow_account(market, order.id)
    assert closed is not None
    assert (closed.balance, closed.closed_at is not None) == (0, True)
    assert sorted((a.role, a.org_id, a.amount, a.refunded)
                  for a in market.allocations(order.id)) == sorted(
        (line.role.value, line.org_id, line.amount, 0) for line in split(PRICE, rule))
    assert market.verify().ok


def test_money_is_exact_after_a_refund_of_an_undelivered_order(market: Market) -> None:
    chain = market.listed()
    buyer = market.buyer(funds=FUNDS)
    order = market.place(chain, buyer)
    market.pay(order)
    market.rights.clock.advance(market.policy.delivery_window)

    assert deadlines(market)["refunded"] == [order.id]

    assert books(market, chain, buyer, order.id) == Books(FUNDS, 0, 0, 0, 0, -FUNDS)
    closed = escrow_account(market, order.id)
    assert closed is not None
    assert closed.closed_at is not None
    assert market.allocations(order.id) == []
    assert market.filings(order.id) == []
    assert market.verify().ok


def test_a_free_order_completes_with_no_payment_step(market: Market) -> None:
    chain = market.listed(kind=OfferKind.FREE)
    buyer = market.buyer(funds=FUNDS)
    before = world(market)

    placed = market.place(chain, buyer)
    assert (placed.status, placed.pay_by) == (S.PAID, None)
    with pytest.raises(InvalidTransition):
        market.pay(placed)
    market.deliver_file(placed)
    order = market.accept(placed)

    assert order.status == S.SETTLED
    assert [(action, status) for action, _, status in history(market, order)] == [
        ("placed", "created"), ("free", "paid"), ("delivered", "delivered"),
        ("accepted", "accepted"), ("settled", "settled")]
    assert world(market)["ledger_journals"] == before["ledger_journals"]
    assert market.balance(buyer.org_id) == FUNDS
    assert all(a.amount == 0 for a in market.allocations(order.id))
    assert [f.amount for f in market.filings(order.id)] == [0]
    assert market.verify().ok


# -- 6. disputes -------------------------------------------------------------------------------


def test_an_open_dispute_keeps_the_money_in_escrow(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    buyer = buyer_of(market, order)

    dispute = open_dispute(market, order)

    assert (dispute.status, dispute.answer_by) == (
        "open", START + market.policy.answer_window)
    assert status(market, order) == S.DISPUTED
    assert market.escrow(order.id) == PRICE
    assert market.balance(buyer.org_id) == FUNDS - PRICE
    answered = answer(market, dispute)
    assert (answered.status, answered.answer_evidence_sha256) == ("answered", ["cd" * 32])
    with pytest.raises(DisputeNotOpen):
        answer(market, dispute)
    assert market.escrow(order.id) == PRICE
    assert market.verify().ok


def test_a_released_dispute_settles_in_full(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    chain_rule = DistributionRule.from_dict(contract(market, order).document["distribution"])
    dispute = open_dispute(market, order)
    answer(market, dispute)

    decided = decide(market, dispute, DisputeOutcome.RELEASE)

    assert (decided.status, decided.outcome, decided.refund_amount) == (
        "decided", "release", 0)
    assert status(market, order) == S.SETTLED
    assert market.balance(order.buyer_org_id) == FUNDS - PRICE
    assert sorted((a.role, a.org_id, a.amount, a.refunded)
                  for a in market.allocations(order.id)) == sorted(
        (line.role.value, line.org_id, line.amount, 0) for line in split(PRICE, chain_rule))
    assert per_org(PRICE, chain_rule)[PLATFORM] == market.balance(PLATFORM,
                                                                  AccountKind.FEE_REVENUE)
    assert [f.amount for f in market.filings(order.id)] == [PRICE]
    with pytest.raises(DisputeNotOpen):
        decide(market, dispute, DisputeOutcome.FULL_REFUND)
    assert market.verify().ok


def test_a_partial_refund_is_taken_from_every_share_in_proportion(market: Market) -> None:
    chain = market.listed()
    order = market.place(chain)
    market.pay(order)
    market.deliver_file(order)
    dispute = open_dispute(market, order)
    answer(market, dispute)
    refund = 30_001

    decide(market, dispute, DisputeOutcome.PARTIAL_REFUND, refund_amount=refund)

    assert status(market, order) == S.SETTLED
    assert market.balance(order.buyer_org_id) == FUNDS - PRICE + refund
    allocations = market.allocations(order.id)
    assert sum(a.refunded for a in allocations) == refund
    assert all(0 <= a.refunded <= a.amount for a in allocations)
    assert sum(a.amount for a in allocations) == PRICE
    kept: dict[str, int] = {}
    for a in allocations:
        kept[a.org_id] = kept.get(a.org_id, 0) + a.amount - a.refunded
    assert market.balance(chain.holder.org_id, AccountKind.PAYABLE) == kept[chain.holder.org_id]
    assert market.balance(chain.grantee.org_id, AccountKind.PAYABLE) == kept[
        chain.grantee.org_id]
    assert market.balance(PLATFORM, AccountKind.FEE_REVENUE) == kept[PLATFORM]
    assert [f.amount for f in market.filings(order.id)] == [PRICE - refund]
    closed = escrow_account(market, order.id)
    assert closed is not None
    assert (closed.balance, closed.closed_at is not None) == (0, True)
    assert dispute_row(market, dispute.id).refund_amount == refund
    assert market.verify().ok


@pytest.mark.parametrize("refund", [None, 0, PRICE, PRICE + 1])
def test_a_partial_refund_must_be_strictly_between_nothing_and_the_price(
    market: Market, refund: int | None
) -> None:
    order = reach(market, S.DELIVERED)
    dispute = open_dispute(market, order)
    answer(market, dispute)
    before = world(market)
    with pytest.raises(InvalidInput):
        decide(market, dispute, DisputeOutcome.PARTIAL_REFUND, refund_amount=refund)
    assert world(market) == before
    assert dispute_row(market, dispute.id).status == "answered"


def test_a_full_refund_returns_the_escrow_and_files_nothing(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    dispute = open_dispute(market, order)
    answer(market, dispute)

    decide(market, dispute, DisputeOutcome.FULL_REFUND)

    final = market.order(order.id)
    assert final.status == S.REFUNDED
    assert final.closed_at is not None
    assert market.balance(order.buyer_org_id) == FUNDS
    closed = escrow_account(market, order.id)
    assert closed is not None
    assert (closed.balance, closed.closed_at is not None) == (0, True)
    assert market.filings(order.id) == []
    assert market.allocations(order.id) == []
    assert dispute_row(market, dispute.id).refund_amount == PRICE
    assert market.verify().ok


def test_the_operator_waits_for_the_answer_or_the_end_of_its_window(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    dispute = open_dispute(market, order)
    market.rights.clock.advance(market.policy.answer_window - US)
    before = world(market)

    with pytest.raises(DisputeAwaitingAnswer):
        decide(market, dispute, DisputeOutcome.RELEASE)
    assert world(market) == before

    market.rights.clock.advance(US)
    decide(market, dispute, DisputeOutcome.RELEASE)
    assert status(market, order) == S.SETTLED


def test_no_dispute_after_the_acceptance_window(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    market.rights.clock.advance(market.policy.acceptance_window)
    before = world(market)
    with pytest.raises(DisputeWindowClosed):
        open_dispute(market, order)
    assert world(market) == before
    assert status(market, order) == S.DELIVERED


def test_only_the_parties_take_their_dispute_steps(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    seller, buyer = seller_of(market, order), buyer_of(market, order)
    stranger = market.buyer("stranger")
    with pytest.raises(NotAParty):  # the seller does not dispute its own sale
        trading.open_dispute(order.id, "x", [], policy=market.policy, uow=market.uow(seller))
    with pytest.raises(OrderNotFound):
        trading.open_dispute(order.id, "x", [], policy=market.policy,
                             uow=market.uow(stranger))
    dispute = open_dispute(market, order)
    with pytest.raises(NotAParty):  # the buyer does not answer for the merchant
        trading.answer_dispute(dispute.id, "x", [], uow=market.uow(buyer))
    with pytest.raises(DisputeNotFound):
        trading.answer_dispute(dispute.id, "x", [], uow=market.uow(stranger))
    answer(market, dispute)
    for party in (buyer, seller):
        with pytest.raises(RoleNotAllowed):
            trading.decide_dispute(dispute.id, DisputeOutcome.RELEASE, "x",
                                   uow=market.uow(party))
    assert dispute_row(market, dispute.id).status == "answered"
    assert status(market, order) == S.DISPUTED


# -- 7. deadlines ------------------------------------------------------------------------------


def test_an_unpaid_order_is_cancelled_when_the_payment_window_ends(market: Market) -> None:
    order = market.place(market.listed())
    market.rights.clock.advance(market.policy.payment_window - US)
    assert deadlines(market) == NOTHING_DUE
    assert status(market, order) == S.AWAITING_PAYMENT

    market.rights.clock.advance(US)
    assert deadlines(market) == {**NOTHING_DUE, "cancelled": [order.id]}

    assert status(market, order) == S.CANCELLED
    assert history(market, order)[-1] == ("payment_expired", "awaiting_payment", "cancelled")
    assert deadlines(market) == NOTHING_DUE


def test_an_order_nobody_reviews_is_cancelled_when_the_review_window_ends(
    market: Market
) -> None:
    """An order waiting for review holds a unit of a limited offer: it cannot wait forever."""
    chain = sensitive_listed(market, quantity=1)
    order = market.place(chain)
    assert market.order(order.id).review_by == START + market.policy.review_window
    assert review_items(market, order) == [("open", None)]
    market.rights.clock.advance(market.policy.review_window - US)
    assert deadlines(market) == NOTHING_DUE
    assert status(market, order) == S.CREATED

    market.rights.clock.advance(US)
    assert deadlines(market) == {**NOTHING_DUE, "unreviewed": [order.id]}

    assert status(market, order) == S.CANCELLED
    assert history(market, order)[-1] == ("review_expired", "created", "cancelled")
    assert review_items(market, order) == [("closed", "expired")]
    assert sold(market, chain) == 0  # the unit is free for the next buyer
    assert market.place(chain, market.buyer("next")).status == S.CREATED
    assert deadlines(market) == NOTHING_DUE


def test_a_review_decided_when_its_window_ends_is_refused(market: Market) -> None:
    """The window ends at ``review_by`` for the reviewer as for the worker."""
    order = market.place(sensitive_listed(market))
    market.rights.clock.advance(market.policy.review_window)
    before = world(market)
    with pytest.raises(ReviewWindowClosed):
        review(market, order, True)
    assert world(market) == before
    assert deadlines(market)["unreviewed"] == [order.id]


def test_an_approved_order_has_a_payment_deadline_and_no_review_deadline(
    market: Market
) -> None:
    order = market.place(sensitive_listed(market))
    market.rights.clock.advance(market.policy.review_window - US)
    approved = review(market, order, True)
    assert (approved.review_by, approved.pay_by) == (
        None, market.rights.clock.now() + market.policy.payment_window)
    market.rights.clock.advance(US)
    assert deadlines(market) == NOTHING_DUE
    assert status(market, order) == S.AWAITING_PAYMENT


def test_paying_when_the_window_ends_is_refused_even_before_the_worker_runs(
    market: Market
) -> None:
    """The window ends at ``pay_by`` for the buyer as for the worker, which cancels the
    order at that instant."""
    order = market.place(market.listed())
    market.rights.clock.advance(market.policy.payment_window)
    before = world(market)
    with pytest.raises(PaymentWindowClosed):
        market.pay(order)
    assert world(market) == before
    assert status(market, order) == S.AWAITING_PAYMENT
    assert market.balance(order.buyer_org_id) == FUNDS
    assert deadlines(market)["cancelled"] == [order.id]


def test_paying_just_before_the_window_ends_succeeds(market: Market) -> None:
    order = market.place(market.listed())
    market.rights.clock.advance(market.policy.payment_window - US)
    assert market.pay(order).status == S.PAID


def test_an_undelivered_order_is_refunded_when_the_delivery_window_ends(
    market: Market
) -> None:
    order = reach(market, S.PAID)
    market.rights.clock.advance(market.policy.delivery_window - US)
    assert deadlines(market) == NOTHING_DUE
    assert market.escrow(order.id) == PRICE

    market.rights.clock.advance(US)
    assert deadlines(market) == {**NOTHING_DUE, "refunded": [order.id]}

    assert status(market, order) == S.REFUNDED
    assert history(market, order)[-1] == ("undelivered", "paid", "refunded")
    assert market.balance(order.buyer_org_id) == FUNDS
    assert market.escrow(order.id) == 0
    assert market.verify().ok


def test_a_delivered_order_is_accepted_and_settled_when_the_window_ends(
    market: Market
) -> None:
    order = reach(market, S.DELIVERED)
    market.rights.clock.advance(market.policy.acceptance_window - US)
    assert deadlines(market) == NOTHING_DUE

    market.rights.clock.advance(US)
    assert deadlines(market) == {**NOTHING_DUE, "auto_accepted": [order.id]}

    final = market.order(order.id)
    assert final.status == S.SETTLED
    assert final.auto_accepted
    assert history(market, order)[-2:] == [("auto_accepted", "delivered", "accepted"),
                                           ("settled", "accepted", "settled")]
    assert len(market.filings(order.id)) == 1
    assert market.escrow(order.id) == 0
    assert market.verify().ok


def test_an_unanswered_dispute_goes_to_the_operator_when_its_window_ends(
    market: Market
) -> None:
    order = reach(market, S.DELIVERED)
    dispute = open_dispute(market, order)
    market.rights.clock.advance(market.policy.answer_window - US)
    assert deadlines(market) == NOTHING_DUE

    market.rights.clock.advance(US)
    assert deadlines(market) == {**NOTHING_DUE, "unanswered": [dispute.id]}

    assert dispute_row(market, dispute.id).status == DisputeStatus.UNANSWERED
    assert status(market, order) == S.DISPUTED  # the dispute stops the acceptance clock
    with pytest.raises(DisputeNotOpen):
        answer(market, dispute)
    decide(market, dispute, DisputeOutcome.FULL_REFUND)
    assert status(market, order) == S.REFUNDED


def test_a_late_answer_is_refused_even_before_the_worker_runs(market: Market) -> None:
    """The merchant answers within the answer window; once it has ended the dispute goes
    to the operator whether or not the worker has marked it unanswered yet."""
    order = reach(market, S.DELIVERED)
    dispute = open_dispute(market, order)
    market.rights.clock.advance(market.policy.answer_window)
    before = world(market)

    with pytest.raises(DisputeNotOpen):
        answer(market, dispute)

    assert world(market) == before
    assert dispute_row(market, dispute.id).status == DisputeStatus.OPEN
    decide(market, dispute, DisputeOutcome.RELEASE)
    assert status(market, order) == S.SETTLED


def test_the_worker_handles_every_kind_of_deadline_in_one_run(market: Market) -> None:
    unpaid = reach(market, S.AWAITING_PAYMENT)
    undelivered = reach(market, S.PAID)
    delivered = reach(market, S.DELIVERED)
    disputed = reach(market, S.DELIVERED)
    dispute = open_dispute(market, disputed)
    assert deadlines(market) == NOTHING_DUE

    market.rights.clock.advance(market.policy.delivery_window)  # the longest window

    unreviewed = reach(market, S.CREATED)
    market.rights.clock.advance(market.policy.review_window)
    assert deadlines(market) == {"unreviewed": [unreviewed.id], "cancelled": [unpaid.id],
                                 "refunded": [undelivered.id],
                                 "auto_accepted": [delivered.id], "unanswered": [dispute.id],
                                 "decisions_carried_out": []}
    assert [status(market, o) for o in (unreviewed, unpaid, undelivered, delivered,
                                        disputed)] == [
        S.CANCELLED, S.CANCELLED, S.REFUNDED, S.SETTLED, S.DISPUTED]
    assert market.verify().ok


# -- 8. download tokens ------------------------------------------------------------------------


def test_a_token_allows_the_configured_number_of_downloads(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    token = token_for(market, order)
    assert token.startswith("mkd_")
    limit = market.policy.download_limit

    remaining = [redeem(market, token).remaining for _ in range(limit)]

    assert remaining == list(range(limit - 1, -1, -1))
    download = redeem(market, token, counted=False)  # a further range of the last download
    assert (download.sha256, download.name, download.media_type) == (
        FILE_SHA, "scores.csv", "text/csv")
    assert download.path.read_bytes() == FILE
    with pytest.raises(DownloadNotAllowed):
        redeem(market, token)
    fresh = token_for(market, order)  # a new link starts a new count
    assert redeem(market, fresh).remaining == limit - 1


def test_ranged_requests_do_not_use_downloads(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    token = token_for(market, order)
    with pytest.raises(DownloadNotAllowed):  # a range of a download that never started
        redeem(market, token, counted=False)

    assert redeem(market, token).remaining == market.policy.download_limit - 1
    for _ in range(3):
        assert redeem(market, token, counted=False).remaining == (
            market.policy.download_limit - 1)
    with market.rights.session_factory() as session:
        assert session.scalars(select(DownloadToken.uses)).one() == 1


def test_a_token_expires_after_its_time_to_live(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    token = token_for(market, order)
    market.rights.clock.advance(market.policy.download_ttl - US)
    assert redeem(market, token).remaining == market.policy.download_limit - 1

    market.rights.clock.advance(US)
    with pytest.raises(DownloadNotAllowed):
        redeem(market, token)
    with pytest.raises(DownloadNotAllowed):
        redeem(market, token, counted=False)


def test_a_refunded_orders_token_is_refused(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    token = token_for(market, order)
    dispute = open_dispute(market, order)
    assert redeem(market, token).remaining == market.policy.download_limit - 1  # disputed
    answer(market, dispute)
    decide(market, dispute, DisputeOutcome.FULL_REFUND)

    with pytest.raises(DownloadNotAllowed):
        redeem(market, token)
    with pytest.raises(NoFileDelivered):
        token_for(market, order)


def test_tokens_are_for_the_buyer_of_a_delivered_file(market: Market) -> None:
    order = reach(market, S.PAID)
    with pytest.raises(NoFileDelivered):
        token_for(market, order)
    market.deliver_file(order)
    with pytest.raises(NotAParty):
        trading.issue_download_token(order.id, policy=market.policy,
                                     uow=market.uow(seller_of(market, order)))
    with pytest.raises(DownloadNotAllowed):
        redeem(market, "mkd_not-a-token")
    market.accept(order)
    assert redeem(market, token_for(market, order)).sha256 == FILE_SHA  # settled: still ok


# -- 9. acceptance with a fingerprint ----------------------------------------------------------


def test_accepting_with_the_wrong_fingerprint_is_refused(market: Market) -> None:
    order = reach(market, S.DELIVERED)
    before, row = world(market), order_row(market, order)

    with pytest.raises(FingerprintMismatch):
        market.accept(order, sha256="0" * 64)

    assert world(market) == before
    assert order_row(market, order) == row
    assert market.accept(order, sha256=FILE_SHA.upper()).status == S.SETTLED
    assert len(market.filings(order.id)) == 1


# -- 10. the rights cascade reaches orders -----------------------------------------------------


def test_revoking_the_holding_right_flags_open_orders_in_the_same_transaction(
    market: Market
) -> None:
    chain = market.listed()
    unpaid = market.place(chain)
    paid = market.place(chain)
    market.pay(paid)
    settled = market.trade(chain)

    rights_services.change_right_status(chain.holding.id, RightStatus.REVOKED, "不再持有",
                                        uow=market.uow(chain.holder))

    flagged = [market.order(o.id) for o in (unpaid, paid)]
    assert all(o.flagged for o in flagged)
    assert all("不再持有" in (o.flag_reason or "") for o in flagged)
    assert not market.order(settled.id).flagged
    with pytest.raises(OrderFlagged):
        market.pay(unpaid)
    with pytest.raises(OrderFlagged):
        market.deliver_file(paid)
    assert [status(market, o) for o in (unpaid, paid, settled)] == [
        S.AWAITING_PAYMENT, S.PAID, S.SETTLED]
    trading.cancel_order(unpaid.id, "权属存疑", uow=market.uow(buyer_of(market, unpaid)))
    assert status(market, unpaid) == S.CANCELLED  # the buyer may still walk away


def test_an_expiring_right_flags_open_orders_and_new_orders_are_refused(
    market: Market
) -> None:
    chain = market.listed()
    order = market.place(chain)
    market.pay(order)
    assert PRODUCT_TERM.valid_to is not None
    market.rights.clock.advance(PRODUCT_TERM.valid_to - START)

    expired = rights_services.expire_due_rights(uow=market.system())

    assert chain.product.id in expired
    assert market.order(order.id).flagged
    with pytest.raises(OrderFlagged):
        market.deliver_file(order)
    with pytest.raises(ProductNotFound):  # the listing was suspended with the right
        market.place(chain, market.buyer("late"))
    # the delivery window runs out and the buyer gets the money back
    assert deadlines(market)["refunded"] == [order.id]
    assert market.balance(order.buyer_org_id) == FUNDS


def test_a_suspended_right_flags_orders_and_reinstating_it_clears_the_flag(
    market: Market
) -> None:
    chain = market.listed()
    order = market.place(chain)
    operator = market.rights.operator

    rights_services.change_right_status(chain.holding.id, RightStatus.SUSPENDED, "核查",
                                        uow=market.uow(operator))
    assert market.order(order.id).flagged
    before = world(market)
    with pytest.raises(OrderFlagged):
        market.pay(order)
    assert world(market) == before

    rights_services.change_right_status(chain.holding.id, RightStatus.REGISTERED, "核查完毕",
                                        uow=market.uow(operator))

    restored = market.order(order.id)
    assert not restored.flagged
    assert restored.flag_reason is None
    assert market.pay(order).status == S.PAID
    assert market.escrow(order.id) == PRICE


def test_a_delivered_order_flagged_by_its_rights_waits_in_escrow_until_a_dispute(
    market: Market
) -> None:
    chain = market.listed()
    order = market.place(chain)
    market.pay(order)
    market.deliver_file(order)
    rights_services.change_right_status(chain.holding.id, RightStatus.SUSPENDED, "权属争议",
                                        uow=market.uow(market.rights.operator))

    with pytest.raises(OrderFlagged):
        market.accept(order)
    market.rights.clock.advance(market.policy.acceptance_window)
    assert deadlines(market) == NOTHING_DUE  # not accepted while the chain is broken
    assert status(market, order) == S.DELIVERED
    assert market.escrow(order.id) == PRICE

    # past the acceptance window, the buyer may still dispute a flagged order
    dispute = trading.open_dispute(order.id, "权属存疑", [], policy=market.policy,
                                   uow=market.uow(buyer_of(market, order)))
    market.rights.clock.advance(market.policy.answer_window)
    trading.decide_dispute(dispute.id, DisputeOutcome.FULL_REFUND, "权属不清",
                           uow=market.uow(market.rights.operator))
    assert status(market, order) == S.REFUNDED
    assert market.balance(order.buyer_org_id) == FUNDS
    assert market.verify().ok


def test_a_delivery_after_the_delivery_window_is_refused(market: Market) -> None:
    order = reach(market, S.PAID)
    market.rights.clock.advance(market.policy.delivery_window)
    before, row = world(market), order_row(market, order)

    with pytest.raises(DeliveryWindowClosed):
        market.deliver_file(order)

    assert world(market) == before
    assert order_row(market, order) == row
    assert deadlines(market)["refunded"] == [order.id]


def test_a_suspended_product_right_flags_only_that_products_orders(market: Market) -> None:
    chain, other = market.listed(), market.listed()
    mine, theirs = market.place(chain), market.place(other)

    rights_services.change_right_status(chain.product.id, RightStatus.SUSPENDED, "核查",
                                        uow=operator_uow(market))

    assert market.order(mine.id).flagged
    assert not market.order(theirs.id).flagged


# -- 11. filings -------------------------------------------------------------------------------


def test_every_settled_order_has_exactly_one_filing(market: Market) -> None:
    chain = market.listed()
    settled = [market.trade(chain, market.buyer(name)) for name in ("a", "b", "c")]
    open_order = market.place(chain, market.buyer("d"))
    market.pay(open_order)

    filings = [market.filings(o.id) for o in settled]
    assert [len(f) for f in filings] == [1, 1, 1]
    assert market.filings(open_order.id) == []
    assert market.counts()["filings"] == len(settled)
    assert len({f[0].number for f in filings}) == 3
    first = filings[0][0]
    assert (first.amount, first.buyer_org_id, first.seller_org_id, first.kind) == (
        PRICE, settled[0].buyer_org_id, chain.grantee.org_id, "exchange")
    placed = market.order(settled[0].id)
    assert first.declaration_ids == [placed.commitment_id]
    assert placed.decision_id in first.decision_ids
    assert len(first.decision_ids) == 2  # the order's and the delivery's
    assert first.rights_chain == contract(market, placed).document["rights_chain"]

    again = market.system()
    with again:
        filing = compliance.file_trade(compliance.TradeFiling(
            order_id=first.order_id or "", product_id=first.product_id or "",
            version_id=first.version_id or "", product_title=first.product_title,
            sector=first.sector, product_type=first.product_type,
            seller_org_id=first.seller_org_id, buyer_org_id=first.buyer_org_id,
            amount=first.amount, currency=first.currency, rights_chain=first.rights_chain,
            declaration_ids=first.declaration_ids, decision_ids=first.decision_ids,
            concluded_at=first.concluded_at), uow=again)
        assert filing.id == first.id
        again.commit()
    assert market.counts()["filings"] == len(settled)


# -- 12. distribution rules --------------------------------------------------------------------


def shares(*lines: tuple[ShareRole, Party, int]) -> list[dict[str, Any]]:
    return [{"role": role.value, "org_id": party.org_id, "bps": bps}
            for role, party, bps in lines]


def split_policy(market: Market) -> SplitPolicy:
    policy = market.policy
    return SplitPolicy(policy.platform_fee_bps, policy.holder_bps, policy.processor_bps)


def set_rule(market: Market, chain: Chain, lines: list[dict[str, Any]],
             party: Party | None = None) -> DistributionRule:
    return listing.set_distribution_rule(chain.product_id, lines, policy=split_policy(market),
                                         uow=market.uow(party or chain.grantee))


def test_a_rule_naming_a_party_outside_the_chain_is_refused(market: Market) -> None:
    chain = market.listed()
    stranger = market.rights.party("stranger", "merchant")
    before = world(market)

    with pytest.raises(InvalidInput) as raised:
        set_rule(market, chain, shares((ShareRole.RESOURCE_HOLDER, stranger, 2000),
                                       (ShareRole.MERCHANT, chain.grantee, 8000)))

    (field,) = raised.value.errors
    assert field.startswith("shares.")
    assert field.endswith(".org_id")
    assert "resource_holding" in raised.value.errors[field][0]
    with pytest.raises(InvalidInput) as raised:
        set_rule(market, chain, shares((ShareRole.PROCESSOR, chain.holder, 2000),
                                       (ShareRole.MERCHANT, chain.grantee, 8000)))
    assert any("processing_use" in m[0] for m in raised.value.errors.values())
    with pytest.raises(InvalidInput) as raised:
        set_rule(market, chain, shares((ShareRole.MERCHANT, chain.grantee, 9000)))
    assert "shares" in raised.value.errors
    with pytest.raises(ProductNotFound):  # another merchant does not see the rule at all
        set_rule(market, chain, shares((ShareRole.MERCHANT, chain.holder, 10_000)),
                 party=chain.holder)
    assert world(market) == before
    rule, custom = listing.distribution_rule(chain.product_id, policy=split_policy(market),
                                             uow=market.uow(chain.grantee))
    assert (rule, custom) == (default_rule(chain), False)


def test_orders_freeze_the_rule_in_force_when_they_were_placed(market: Market) -> None:
    chain = market.listed()
    first_rule = set_rule(market, chain, shares((ShareRole.RESOURCE_HOLDER, chain.holder, 3000),
                                                (ShareRole.PROCESSOR, chain.grantee, 2000),
                                                (ShareRole.MERCHANT, chain.grantee, 5000)))
    assert listing.distribution_rule(chain.product_id, policy=split_policy(market),
                                     uow=market.uow(chain.grantee)) == (first_rule, True)
    early = market.place(chain, market.buyer("early"))
    assert contract(market, early).document["distribution"] == first_rule.as_dict()

    second_rule = set_rule(market, chain, shares((ShareRole.RESOURCE_HOLDER, chain.holder, 500),
                                                 (ShareRole.MERCHANT, chain.grantee, 9500)))
    late = market.place(chain, market.buyer("late"))
    assert contract(market, late).document["distribution"] == second_rule.as_dict()

    for order in (early, late):
        market.pay(order)
        market.deliver_file(order)
        market.accept(order)

    for order, rule in ((early, first_rule), (late, second_rule)):
        assert sorted((a.role, a.org_id, a.amount) for a in market.allocations(order.id)) == (
            sorted((line.role.value, line.org_id, line.amount)
                   for line in split(PRICE, rule)))
    holder_total = per_org(PRICE, first_rule)[chain.holder.org_id] + per_org(
        PRICE, second_rule)[chain.holder.org_id]
    assert market.balance(chain.holder.org_id, AccountKind.PAYABLE) == holder_total
    assert holder_total == 29_700 + 4_950
    assert market.verify().ok


# -- 13. visibility ----------------------------------------------------------------------------


def test_another_buyer_cannot_see_or_touch_someone_elses_order(market: Market) -> None:
    order = reach(market, S.AWAITING_PAYMENT)
    other = market.buyer("other")

    def uow() -> UnitOfWork:
        return market.uow(other)

    before = world(market)

    with pytest.raises(OrderNotFound):
        trading.get_order(order.id, uow=uow())
    with pytest.raises(OrderNotFound):
        trading.pay_order(order.id, policy=market.policy, uow=uow())
    with pytest.raises(OrderNotFound):
        trading.order_history(order.id, uow=uow())
    with pytest.raises(OrderNotFound):
        trading.order_money(order.id, uow=uow())
    assert trading.list_orders(trading.OrderFilters(), uow=uow()).items == []
    market.pay(order)
    market.deliver_file(order)
    with pytest.raises(OrderNotFound):
        trading.accept_order(order.id, uow=uow())
    with pytest.raises(OrderNotFound):
        trading.issue_download_token(order.id, policy=market.policy, uow=uow())

    assert status(market, order) == S.DELIVERED
    assert world(market)["ledger_journals"] == before["ledger_journals"] + 1  # the payment
    mine = trading.list_orders(trading.OrderFilters(), uow=market.uow(buyer_of(market, order)))
    assert [o.id for o in mine.items] == [order.id]
    theirs = trading.get_order(order.id, uow=market.uow(seller_of(market, order)))
    assert theirs.order.id == order.id
    with pytest.raises(NotAParty):  # the seller sees the order but does not pay or accept it
        trading.pay_order(order.id, policy=market.policy,
                          uow=market.uow(seller_of(market, order)))
    with pytest.raises(NotAParty):
        trading.accept_order(order.id, uow=market.uow(seller_of(market, order)))


def test_the_money_of_an_order_is_shown_to_its_parties(market: Market) -> None:
    order = market.trade()
    money = trading.order_money(order.id, uow=market.uow(buyer_of(market, order)))
    assert [j.kind for j in money.journals] == ["payment", "settlement"]
    assert sum(p.amount for p in money.postings[money.journals[0].id]) == 0
    assert sum(a.amount for a in money.allocations) == PRICE
