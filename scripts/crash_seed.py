"""The small world the crash run trades in, made through the services as the API would make
it: an operator, a resource holder and a merchant with a registered rights chain (resource
→ holding → grant → processing use → product operation), the merchant's product listed with
one unlimited one-time offer, and one buyer per client with an API key and a large top-up."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from market.kernel.actor import Actor, system_actor
from market.kernel.clock import SystemClock
from market.kernel.db import make_session_factory
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.listing.domain import (
    DevelopmentLevel,
    OfferKind,
    OfferSpec,
    ProductType,
    UsageTerms,
)
from market.listing.models import Offer, Product
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

PRICE = 10_000  # 100.00 CNY in fen
FUNDS = 10**12  # per buyer: never the limit
DAY = timedelta(days=1)

WIDE = Scope(frozenset({"analytics", "marketing", "risk"}),
             frozenset({"finance", "retail", "health"}), Territory.CROSS_BORDER)
GRANTED = Scope(frozenset({"analytics", "risk"}), frozenset({"finance", "retail"}),
                Territory.DOMESTIC)
USE = Scope(frozenset({"analytics", "risk"}), frozenset({"finance"}), Territory.DOMESTIC)
PRODUCT = Scope(frozenset({"analytics"}), frozenset({"finance"}), Territory.DOMESTIC)
TERMS = UsageTerms(purposes=("信贷风控",), scenarios=("小微企业授信",), territory="domestic",
                   duration_days=365, onward_transfer=False, resale=False, max_users=5,
                   attribution=None)
DECLARATION: dict[str, Any] = {
    "statement": "本公司承诺所售数据来源合法、权属清晰，不含核心数据。",
    "source_is_lawful": True, "contains_personal_information": False,
    "contains_important_data": False, "contains_core_data": False,
    "source_basis": "self_collected", "personal_information_basis": "none",
    "cross_border": False, "third_party_rights_cleared": True,
    "security_measures": ["分级访问控制", "传输加密"], "scenarios": ["企业信用评估"],
    "onward_transfer_commitment": True,
    "commitments": ["按约定用途使用", "不转售"],
}
COMMITMENT: dict[str, Any] = {
    "purpose": "小微企业授信审批", "purposes": ["信贷风控"],
    "scenarios": ["小微企业授信"], "cross_border": False,
    "destination": None, "security_measures": ["加密存储"], "no_onward_transfer": True,
    "no_reidentification": True, "commitments": [],
}


@dataclass(frozen=True)
class Party:
    org_id: str
    token: str
    actor: Actor


@dataclass(frozen=True)
class World:
    operator: Party
    holder: Party
    merchant: Party
    buyers: list[Party]
    product_id: str
    offer_id: str


def _register(factory: Any, label: str, role: str) -> Party:
    code = random_credit_code()
    data = participants.OrganisationInput(
        name=f"crash {label} {code[-6:]}", credit_code=code, contact_name=f"crash {label}",
        contact_email=f"crash-{label}-{code.lower()}@example.cn", roles=frozenset([role]))
    reg = participants.register_organisation(
        data, uow=UnitOfWork(factory, SystemClock(), system_actor("crash")),
        key_ttl=timedelta(days=7), reason="scripts/crash")
    actor = Actor(kind="user", label=f"crash {label}", user_id=reg.user.id,
                  org_id=reg.organisation.id, roles=frozenset([role]), org_status="admitted",
                  scopes=frozenset({"read", "write"}), key_id=reg.api_key.key.id)
    return Party(reg.organisation.id, reg.api_key.token, actor)


def _evidence(kind: EvidenceKind) -> rights.EvidenceInput:
    name = f"{kind.value}.pdf"
    return rights.EvidenceInput(kind=kind, name=name, media_type="application/pdf",
                                sha256=hashlib.sha256(name.encode()).hexdigest())


def seed(engine: Engine, signer: Signer, buyers: int) -> World:
    """Everything the trades need; each party acts as itself."""
    factory = make_session_factory(engine)
    clock = SystemClock()

    def uow(party: Party | None = None) -> UnitOfWork:
        return UnitOfWork(factory, clock, party.actor if party else system_actor("crash"))

    operator = _register(factory, "operator", "operator")
    holder = _register(factory, "holder", "merchant")
    merchant = _register(factory, "merchant", "merchant")
    clients = [_register(factory, f"buyer{i}", "buyer") for i in range(buyers)]
    start = clock.now() - DAY

    def registered(party: Party, data: rights.RightInput) -> Any:
        right = rights.submit_right(data, uow=uow(party))
        rights.claim_review(right.id, uow=uow(operator))
        return rights.decide_review(right.id, approve=True, reason="材料齐全",
                                    uow=uow(operator), signer=signer)

    resource = rights.register_resource(rights.ResourceInput(
        title="企业用电数据", description="月度用电量", origin=Origin.ENTERPRISE,
        classification=Classification.GENERAL, pi_level=PILevel.NONE,
        collection_method="meter", collection_source="grid company",
        scenarios=["finance", "retail"], update_frequency="monthly",
        evidence=[_evidence(EvidenceKind.SOURCE_LEGALITY)]), uow=uow(holder))
    holding = registered(holder, rights.RightInput(
        kind=RightKind.RESOURCE_HOLDING, scope=WIDE, term=Term(start, start + 3 * 365 * DAY),
        resource_id=resource.id))
    grant = rights.create_grant(rights.GrantInput(
        holding_right_id=holding.id, grantee_org_id=merchant.org_id, scope=GRANTED,
        term=Term(start, start + 2 * 365 * DAY)), uow=uow(holder))
    use = registered(merchant, rights.RightInput(
        kind=RightKind.PROCESSING_USE, scope=USE, term=Term(start, start + 2 * 365 * DAY),
        resource_id=resource.id, parent_ids=(holding.id,), grant_id=grant.id))
    operation = registered(merchant, rights.RightInput(
        kind=RightKind.PRODUCT_OPERATION, scope=PRODUCT, term=Term(start, start + 365 * DAY),
        parent_ids=(use.id,), product_title="企业用电风险指数"))
    product_id = operation.product_id
    assert product_id is not None

    listing.create_product(listing.ProductInput(
        title="企业用电风险指数", description="按月更新的企业用电景气与风险指数",
        type=ProductType.DATASET, development_level=DevelopmentLevel.MODELLED,
        sector="finance", region="上海", update_frequency="monthly",
        scenarios=["小微企业授信"], delivery_modes=["api", "file"], derived_from=[resource.id],
        terms=TERMS, offers=[("标准版", OfferSpec(OfferKind.ONE_TIME, amount=PRICE))]),
        uow=uow(merchant), product_id=product_id)
    listing.submit_listing(product_id, DECLARATION, uow=uow(merchant))
    listing.claim_review(product_id, uow=uow(operator))
    listing.decide_review(product_id, "list", "材料齐全", uow=uow(operator))
    with factory() as session:
        offer_id = session.scalars(select(Offer.id).join(
            Product, Product.listed_version_id == Offer.version_id).where(
            Product.id == product_id)).one()
    for buyer in clients:  # the operator's offline rail, as a system actor records it
        settlement.record_top_up(buyer.org_id, FUNDS, "CNY", f"CRASH-{buyer.org_id}",
                                 uow=uow())
    return World(operator, holder, merchant, clients, product_id, offer_id)
