"""The demo scenario behind ``market demo``: a small cast, one rights chain, and a whole
trade on it (listing → order → payment into escrow → file delivery → acceptance → revenue
split → filing), end to end.

It goes through the same services the API calls, with each party acting as itself.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from market.compliance import services as compliance
from market.kernel.actor import Actor, system_actor
from market.kernel.clock import Clock
from market.kernel.storage import FileStore
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.listing.domain import DevelopmentLevel, OfferKind, OfferSpec, ProductType, UsageTerms
from market.matching import services as matching
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.receipts.signing import Signer
from market.rights import services as rights
from market.rights.domain import (
    Classification,
    EvidenceKind,
    Origin,
    PILevel,
    RightKind,
    Scope,
    Term,
    Territory,
)
from market.settlement import services as settlement
from market.settlement.rails.stripe_rail import StripeMoney, reconcile
from market.trading import services as trading
from market.trading.domain import DeliveryMode, Policy

CAST = (
    ("operator", "operator", "示例数据交易所运营方"),
    ("merchant", "merchant", "示例数据商有限公司"),
    ("processor", "merchant", "示例数据加工服务有限公司"),
    ("buyer", "buyer", "示例需求方科技有限公司"),
)


def run_demo(
    session_factory: sessionmaker[Session], clock: Clock, signer: Signer, *, key_ttl: timedelta,
    storage: FileStore, policy: Policy, say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Create the cast and the chain resource_holding ← processing_use ← product_operation,
    then list the product and trade it."""

    def uow(actor: Actor) -> UnitOfWork:
        return UnitOfWork(session_factory, clock, actor)

    made: dict[str, Any] = {}
    actors: dict[str, Actor] = {}
    for label, role, name in CAST:
        code = random_credit_code()
        reg = participants.register_organisation(
            participants.OrganisationInput(
                name=name, credit_code=code, contact_name=f"{label} admin",
                contact_email=f"{label}+{code.lower()}@market.local", roles=frozenset([role]),
            ),
            uow=uow(system_actor("demo")), key_ttl=key_ttl, reason="demo",
        )
        made[label] = {"organisation_id": reg.organisation.id, "api_key": reg.api_key.token}
        actors[label] = Actor(
            kind="user", label=f"demo {label}", user_id=reg.user.id,
            org_id=reg.organisation.id, roles=frozenset([role]), org_status="admitted",
            scopes=frozenset({"read", "write"}), key_id=reg.api_key.key.id,
        )
        say(f"{label:9} {name} {reg.organisation.id}")

    now = clock.now()
    term = Term(now, now + timedelta(days=3 * 365))
    scope = Scope(frozenset({"交通规划", "traffic analytics"}),
                  frozenset({"城市交通治理", "urban mobility"}), Territory.DOMESTIC)
    licence = "数据来源：路侧感知设备自采，见采集备案文件。".encode()
    resource = rights.register_resource(
        rights.ResourceInput(
            title="城市道路交通流量数据 (urban traffic flow)",
            description="路段级 5 分钟粒度车流量与平均车速，已脱敏，不含个人信息。",
            origin=Origin.ENTERPRISE, classification=Classification.GENERAL,
            pi_level=PILevel.NONE, collection_method="roadside sensors",
            collection_source="自有路侧感知设备", scenarios=sorted(scope.scenarios),
            update_frequency="5 minutes",
            evidence=[rights.EvidenceInput(
                EvidenceKind.SOURCE_LEGALITY, "采集备案.txt", "text/plain",
                hashlib.sha256(licence).hexdigest(), licence,
            )],
        ),
        uow=uow(actors["merchant"]),
    )
    say(f"resource  {resource.id} registered by the merchant")

    def register(actor: str, data: rights.RightInput) -> Any:
        right = rights.submit_right(data, uow=uow(actors[actor]))
        rights.claim_review(right.id, uow=uow(actors["operator"]))
        right = rights.decide_review(right.id, approve=True, reason="材料齐全，权属清晰",
                                     uow=uow(actors["operator"]), signer=signer)
        say(f"{right.kind:17} {right.id} registered, certificate {right.certificate_number}")
        return right

    holding = register("merchant", rights.RightInput(
        kind=RightKind.RESOURCE_HOLDING, scope=scope, term=term, resource_id=resource.id))
    grant = rights.create_grant(
        rights.GrantInput(holding_right_id=holding.id,
                          grantee_org_id=made["processor"]["organisation_id"],
                          scope=scope, term=term),
        uow=uow(actors["merchant"]),
    )
    say(f"grant     {grant.id} processing use granted to the processor")
    processing = register("processor", rights.RightInput(
        kind=RightKind.PROCESSING_USE, scope=scope, term=term, resource_id=resource.id,
        parent_ids=[holding.id], grant_id=grant.id))
    operation = register("processor", rights.RightInput(
        kind=RightKind.PRODUCT_OPERATION, scope=scope, term=term,
        product_title="城市拥堵指数 API (congestion index)", parent_ids=[processing.id]))
    chain = rights.check_chain(operation.product_id or "", clock.now(),
                               uow=uow(system_actor("demo")))
    say(f"chain     product {operation.product_id}: "
        f"{'unbroken' if chain.ok else chain.broken}")
    made["rights"] = {
        "resource_id": resource.id, "grant_id": grant.id,
        "product_id": operation.product_id, "chain_ok": chain.ok,
        "certificates": [holding.certificate_number, processing.certificate_number,
                         operation.certificate_number],
    }
    made["trade"] = _trade(uow, actors, made, operation.product_id or "", resource.id,
                           scope, storage=storage, policy=policy, say=say)
    made["match"] = _match(uow, actors, operation.product_id or "", storage=storage,
                           policy=policy, say=say)
    return made


def _match(uow: Callable[[Actor], UnitOfWork], actors: dict[str, Actor], product_id: str, *,
           storage: FileStore, policy: Policy, say: Callable[[str], None]) -> dict[str, Any]:
    """The buyer posts a demand; the engine matches the listed product and explains its
    score; the processor answers with an offer, the buyer counters, the processor agrees,
    and the buyer orders the private offer through the order flow."""
    buyer, seller = actors["buyer"], actors["processor"]
    terms = matching.MatchPolicy()
    posted = matching.post_demand({
        "title": "城市拥堵指数 congestion index", "sector": "transport", "region": "武汉",
        "description": "需要按路段的拥堵指数用于交通规划评估，文件或接口交付。",
        "product_types": ["dataset"], "delivery_modes": ["file"], "freshness": "realtime",
        "budget_min": 100_000, "budget_max": 400_000, "currency": "CNY",
        "purpose": "城市拥堵治理方案评估", "purposes": ["交通规划"],
        "scenarios": ["城市交通治理"], "cross_border": False,
        "deadline": uow(buyer).clock.now() + timedelta(days=30)}, policy=terms, uow=uow(buyer))
    ranking = matching.match_demand(posted.demand.id, policy=terms, uow=uow(buyer))
    top = ranking.candidates[0]
    say(f"demand    {posted.demand.id} {posted.demand.status}: {top.product_id} scores "
        f"{top.score} = " + " + ".join(f"{k} {v}" for k, v in top.components.items()))
    negotiation = matching.answer_demand(posted.demand.id, product_id, {
        "amount": 450_000, "delivery_modes": ["file"]}, policy=terms, uow=uow(seller))
    n = negotiation.negotiation.id
    matching.counter(n, {"amount": 380_000, "term_days": 180}, policy=terms, uow=uow(buyer))
    agreed = matching.agree(n, policy=terms, uow=uow(seller)).negotiation
    say(f"negotiate {n}: offered {_yuan(450_000)}, countered {_yuan(380_000)}, "
        f"{agreed.status}; private offer {agreed.private_offer_id}")
    commitment = {**PURCHASE_COMMITMENT, "purposes": ["交通规划"]}
    order = trading.place_order(product_id, agreed.private_offer_id or "", commitment,
                                policy=policy, uow=uow(buyer))
    trading.pay_order(order.order.id, policy=policy, uow=uow(buyer))
    content = b"segment_id,congestion_index\nS001,0.82\n"
    delivered, _ = trading.deliver(order.order.id, trading.DeliveryInput(
        mode=DeliveryMode.FILE, file=trading.FileUpload(
            "congestion.csv", "text/csv", io.BytesIO(content))),
        storage=storage, policy=policy, uow=uow(seller))
    settled = trading.accept_order(order.order.id, sha256=delivered.deliveries[0].sha256,
                                   uow=uow(buyer))
    demand = matching.get_demand(posted.demand.id, uow=uow(buyer)).demand
    say(f"bought    order {order.order.id} {settled.order.status} for "
        f"{_yuan(settled.order.amount)}; demand {demand.status}")
    return {"demand_id": posted.demand.id, "demand_status": demand.status,
            "top_score": top.score, "components": top.components,
            "negotiation_id": n, "private_offer_id": agreed.private_offer_id,
            "order_id": order.order.id, "order_status": settled.order.status}


LISTING_DECLARATION: dict[str, Any] = {
    "statement": "本公司承诺数据来源合法、权属清晰，不含个人信息和核心数据。",
    "source_is_lawful": True, "source_basis": "derived", "source_evidence_sha256": [],
    "contains_personal_information": False, "personal_information_basis": "none",
    "personal_information_evidence_sha256": [], "contains_important_data": False,
    "contains_core_data": False, "cross_border": False, "security_assessment_ref": None,
    "third_party_rights_cleared": True, "security_measures": ["分级访问控制", "传输加密"],
    "scenarios": ["城市交通治理"], "onward_transfer_commitment": True, "commitments": [],
}
PURCHASE_COMMITMENT: dict[str, Any] = {
    "purpose": "城市拥堵治理方案评估", "purposes": ["交通规划"], "scenarios": ["城市交通治理"],
    "cross_border": False,
    "destination": None, "security_measures": ["加密存储", "最小权限访问"],
    "no_onward_transfer": True, "no_reidentification": True, "commitments": [],
}
PRICE = 500_000  # 5,000.00 CNY


def _yuan(amount: int) -> str:
    return f"{amount / 100:,.2f} CNY"


def _trade(uow: Callable[[Actor], UnitOfWork], actors: dict[str, Actor],
           made: dict[str, Any], product_id: str, resource_id: str, scope: Scope, *,
           storage: FileStore, policy: Policy, say: Callable[[str], None]) -> dict[str, Any]:
    """The processor lists the product; the buyer orders, pays, receives and accepts it."""
    terms = UsageTerms(purposes=tuple(sorted(scope.purposes)), scenarios=("城市交通治理",),
                       territory="domestic", duration_days=365, onward_transfer=False,
                       resale=False, max_users=10, attribution=None)
    listing.create_product(listing.ProductInput(
        title="城市拥堵指数 API (congestion index)",
        description="按路段计算的 5 分钟拥堵指数，支持历史回溯与文件批量交付。",
        type=ProductType.DATASET, development_level=DevelopmentLevel.MODELLED,
        sector="transport", region="武汉", update_frequency="5 minutes",
        scenarios=["城市交通治理"], delivery_modes=["file", "api"], derived_from=[resource_id],
        terms=terms, offers=[("年度授权", OfferSpec(OfferKind.ONE_TIME, amount=PRICE))],
    ), uow=uow(actors["processor"]), product_id=product_id)
    listing.submit_listing(product_id, LISTING_DECLARATION, uow=uow(actors["processor"]))
    listing.claim_review(product_id, uow=uow(actors["operator"]))
    view = listing.decide_review(product_id, "list", "材料齐全，准予挂牌",
                                 uow=uow(actors["operator"]))
    say(f"listing   product {product_id} listed (version {view.version.number}), "
        f"price {_yuan(PRICE)}")

    buyer = actors["buyer"]
    assert buyer.org_id is not None
    top_up = settlement.record_top_up(buyer.org_id, 2 * PRICE, "CNY",
                                      f"DEMO-{buyer.org_id[-8:]}", uow=uow(actors["operator"]))
    say(f"top-up    {_yuan(top_up.amount)} bank transfer {top_up.reference} recorded")
    order = trading.place_order(product_id, view.offers[0].id, PURCHASE_COMMITMENT,
                                policy=policy, uow=uow(buyer))
    say(f"order     {order.order.id} placed ({order.order.status}), contract "
        f"{order.contract.sha256[:16] if order.contract else '-'}…")
    paid = trading.pay_order(order.order.id, policy=policy, uow=uow(buyer))
    say(f"payment   {_yuan(paid.order.amount)} moved into escrow ({paid.order.status})")
    content = b"segment_id,time,congestion_index\nS001,2026-11-01T08:00Z,0.82\n"
    delivered, _ = trading.deliver(order.order.id, trading.DeliveryInput(
        mode=DeliveryMode.FILE, file=trading.FileUpload(
            "congestion.csv", "text/csv", io.BytesIO(content))),
        storage=storage, policy=policy, uow=uow(actors["processor"]))
    fingerprint = delivered.deliveries[0].sha256 or ""
    say(f"delivery  file congestion.csv sha256 {fingerprint[:16]}… ({delivered.order.status})")
    settled = trading.accept_order(order.order.id, sha256=fingerprint, uow=uow(buyer))
    say(f"accepted  fingerprint confirmed; order {settled.order.status}")
    money = trading.order_money(order.order.id, uow=uow(actors["operator"]))
    names = {made[label]["organisation_id"]: label for label in made if label != "rights"}
    for line in money.allocations:
        say(f"split     {line.role:15} {names.get(line.org_id, line.org_id):9} "
            f"{_yuan(line.amount)}")
    with uow(actors["operator"]) as reader:
        filing = compliance.filing_of_order(order.order.id, uow=reader)
    assert filing is not None
    say(f"filing    {filing.number} (登记备案) for order {order.order.id}")
    verification = settlement.verify(uow=uow(actors["operator"]))
    say(f"ledger    {'balanced' if verification.ok else 'BROKEN'}: "
        f"{verification.journals} journals, {verification.postings} postings")
    return {"order_id": order.order.id, "status": settled.order.status,
            "contract_sha256": order.contract.sha256 if order.contract else None,
            "file_sha256": fingerprint, "filing_number": filing.number,
            "offer_id": view.offers[0].id,
            "allocations": [{"role": a.role, "org_id": a.org_id, "amount": a.amount}
                            for a in money.allocations],
            "ledger_ok": verification.ok}


def run_card_trade(session_factory: sessionmaker[Session], clock: Clock, made: dict[str, Any],
                   *, rail: Any, fake: Any, webhook_secret: str, storage: FileStore,
                   policy: Policy, say: Callable[[str], None] = lambda _: None,
                   ) -> dict[str, Any]:
    """The same product bought by card on the Stripe rail: the payees onboard as Connect
    accounts, the buyer's card is authorised, the order delivered and accepted, the charge
    captured and one Transfer made per payee; then Stripe and the ledger are reconciled.
    ``rail`` is the worker's :class:`~market.settlement.rails.stripe_rail.StripeRail`;
    ``fake`` the local Stripe-compatible server, whose events are handed to the webhook's
    service signed as Stripe signs them."""
    def actor(label: str, role: str) -> Actor:
        return Actor(kind="user", label=f"demo {label}", user_id=None,
                     org_id=made[label]["organisation_id"], roles=frozenset([role]),
                     org_status="admitted", scopes=frozenset({"read", "write"}), key_id=None)

    def uow(who: Actor) -> UnitOfWork:
        return UnitOfWork(session_factory, clock, who)

    started = clock.now()  # the local fake is new: reconcile this run's money only
    delivered_events = 0

    def webhooks() -> None:
        nonlocal delivered_events
        for event in fake.events[delivered_events:]:
            payload, header = fake.signed(event)
            settlement.receive_stripe_event(payload, header, secret=webhook_secret,
                                            uow=uow(system_actor("stripe webhook")))
        delivered_events = len(fake.events)

    def work() -> None:
        for _ in range(5):
            webhooks()
            if not rail.tick().busy:
                break

    merchant, processor = actor("merchant", "merchant"), actor("processor", "merchant")
    buyer = actor("buyer", "buyer")
    for label, who in (("merchant", merchant), ("processor", processor)):
        settlement.open_connect_account("US", f"{label}@market.local",
                                        "https://market.local/connect/refresh",
                                        "https://market.local/connect/done", uow=uow(who))
    work()
    accounts = {}
    for label, who in (("merchant", merchant), ("processor", processor)):
        account = settlement.get_connect_account(uow=uow(who))
        fake.complete_onboarding(account.stripe_account_id)
        accounts[label] = account.stripe_account_id
    work()
    for label, who in (("merchant", merchant), ("processor", processor)):
        account = settlement.get_connect_account(uow=uow(who))
        say(f"connect   {label:9} {account.stripe_account_id} payouts "
            f"{'enabled' if account.payouts_enabled else 'disabled'}")

    product_id, offer_id = made["rights"]["product_id"], made["trade"]["offer_id"]
    order = trading.place_order(product_id, offer_id, PURCHASE_COMMITMENT, policy=policy,
                                uow=uow(buyer)).order
    card = trading.request_card_payment(order.id, policy=policy, uow=uow(buyer))
    work()
    card = trading.get_card_payment(order.id, uow=uow(buyer))
    say(f"card      order {order.id}: PaymentIntent {card.payment_intent_id} "
        f"({card.capture_method} capture) for {_yuan(card.amount)}")
    fake.pay(card.payment_intent_id)
    work()
    paid = trading.get_order(order.id, uow=uow(buyer)).order
    card = trading.get_card_payment(order.id, uow=uow(buyer))
    say(f"authorise card {card.status}; order {paid.status}, price in escrow")
    content = b"segment_id,time,congestion_index\nS002,2026-11-01T08:05Z,0.64\n"
    delivered, _ = trading.deliver(order.id, trading.DeliveryInput(
        mode=DeliveryMode.FILE, file=trading.FileUpload(
            "congestion.csv", "text/csv", io.BytesIO(content))),
        storage=storage, policy=policy, uow=uow(processor))
    say(f"delivery  {delivered.order.status}")
    settled = trading.accept_order(order.id, uow=uow(buyer))
    say(f"accepted  order {settled.order.status}")
    StripeMoney().settled(order.id, uow=uow(system_actor("stripe")))
    work()
    card = trading.get_card_payment(order.id, uow=uow(buyer))
    say(f"capture   {_yuan(card.captured_amount)} captured ({card.status})")
    transfers = [t for t in fake.of_kind("transfer")
                 if t["transfer_group"] == f"order_{order.id}"]
    names = {v: k for k, v in accounts.items()}
    for transfer in sorted(transfers, key=lambda t: t["destination"]):
        say(f"transfer  {transfer['id']} {_yuan(transfer['amount'])} to "
            f"{names.get(transfer['destination'], transfer['destination'])} "
            f"(source {transfer['source_transaction']})")
    report = reconcile(session_factory, rail.settings, since=started, client=rail.client)
    say(f"reconcile {'no differences' if report.ok else report.differences}: "
        f"{report.balance_transactions} balance transactions, {report.journals} journals")
    verification = settlement.verify(uow=uow(system_actor("demo")))
    say(f"ledger    {'balanced' if verification.ok else 'BROKEN'}")
    return {"order_id": order.id, "status": settled.order.status,
            "payment_intent_id": card.payment_intent_id, "captured": card.captured_amount,
            "transfers": [{"id": t["id"], "amount": t["amount"],
                           "destination": t["destination"]} for t in transfers],
            "reconciled": report.ok, "ledger_ok": verification.ok}
