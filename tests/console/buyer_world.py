"""The world the buyer's console pages are tested in, built once per module through the
services: a listed product (with a sample) and a product only drafted, a buyer with money,
an order of its waiting for payment and one delivered as a file, a download link, a demand
and a negotiation where it is the buyer's turn; another buyer with the same objects of its
own; and one organisation of every other role."""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.actor import system_actor
from market.kernel.clock import FixedClock
from market.kernel.storage import FileStore
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.listing.domain import OfferKind, OfferSpec
from market.matching import services as matching
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.receipts.signing import Signer
from market.settlement import services as settlement
from market.trading import services as trading
from market.trading.domain import DeliveryMode
from tests.conftest import START, TEST_SIGNING_KEY, Party
from tests.integration.rights_fixtures import RightsWorld
from tests.integration.test_listing_services import Shop
from tests.integration.trading_fixtures import COMMITMENT, POLICY

PRICE = 100_000  # 1,000.00 CNY
FUNDS = 10 * PRICE
TITLE = "企业用电风险指数"
CONTENT = "月份,用电指数\n2026-10,101.2\n".encode()
SAMPLE = b"month,index\n2026-09,98.7\n"
DEMAND: dict[str, Any] = {
    "title": "企业用电 风险 指数", "description": "需要按月的企业用电指数用于授信。",
    "sector": "finance", "region": "上海", "product_types": ["dataset"],
    "delivery_modes": ["file"], "budget_min": 50_000, "budget_max": 150_000,
    "currency": "CNY", "purpose": "小微企业授信审批", "purposes": ["信贷风控"],
    "scenarios": ["小微企业授信"], "cross_border": False,
    "deadline": START + timedelta(days=30)}


@dataclass(frozen=True)
class Side:
    """One buyer's own objects."""

    party: Party
    unpaid_order: str
    delivered_order: str
    token: str
    demand: str
    negotiation: str


@dataclass(frozen=True)
class BuyerWorld:
    parties: dict[str, Party]
    product_id: str
    offer_id: str
    unlisted_id: str
    own: Side
    foreign: Side
    sha256: str = hashlib.sha256(CONTENT).hexdigest()


def party_maker(sessions: sessionmaker[Session], clock: FixedClock
                ) -> Callable[..., Party]:
    """Organisations registered and admitted through the services, as conftest's
    ``make_party`` makes them, for a world built once per module."""
    counter = itertools.count()

    def make(*roles: str, name: str | None = None) -> Party:
        n = next(counter)
        code = random_credit_code()
        reg = participants.register_organisation(
            participants.OrganisationInput(
                name=name or f"{'/'.join(roles)} org {n}", credit_code=code,
                contact_name=f"contact {n}",
                contact_email=f"b{n}-{code.lower()}@example.cn", roles=frozenset(roles)),
            uow=UnitOfWork(sessions, clock, system_actor("test")),
            key_ttl=timedelta(days=30), reason="test")
        return Party(reg.organisation.id, reg.user.id, reg.api_key.key.id,
                     reg.api_key.token, tuple(sorted(roles)))

    return make


def build(app: Flask, sessions: sessionmaker[Session]) -> BuyerWorld:
    clock = FixedClock(START)
    rights = RightsWorld(party_maker(sessions, clock), sessions, clock,
                         Signer(TEST_SIGNING_KEY))
    shop = Shop(rights)
    files: FileStore = app.extensions["market.files"]

    def uow(party: Party) -> UnitOfWork:
        return rights.uow(party)

    chain = rights.chain()
    merchant = chain.grantee
    listing.create_product(
        shop.input(chain, delivery_modes=["file", "api"],
                   offers=[("标准版", OfferSpec(OfferKind.ONE_TIME, amount=PRICE))],
                   sample=listing.Sample("sample.csv", "text/csv", SAMPLE)),
        uow=uow(merchant), product_id=chain.product_id, sample_dir=files.under("samples"))
    shop.submit(chain)
    view = shop.review(chain.product_id)
    offer_id = view.offers[0].id
    unlisted = rights.chain("holder 2", "grantee 2")
    shop.draft(unlisted)

    def side(name: str) -> Side:
        buyer = rights.party(name, "buyer")
        settlement.record_top_up(buyer.org_id, FUNDS, "CNY", f"BANK-{name}",
                                 uow=uow(rights.operator))
        unpaid = trading.place_order(chain.product_id, offer_id, COMMITMENT, policy=POLICY,
                                     uow=uow(buyer)).order.id
        delivered = trading.place_order(chain.product_id, offer_id, COMMITMENT,
                                        policy=POLICY, uow=uow(buyer)).order.id
        trading.pay_order(delivered, policy=POLICY, uow=uow(buyer))
        trading.deliver(delivered, trading.DeliveryInput(
            mode=DeliveryMode.FILE, file=trading.FileUpload(
                "用电指数.csv", "text/csv", io.BytesIO(CONTENT))),
            storage=files.under("deliveries"), policy=POLICY, uow=uow(merchant))
        token, _ = trading.issue_download_token(delivered, policy=POLICY, uow=uow(buyer))
        terms = matching.MatchPolicy()
        demand = matching.post_demand(DEMAND, policy=terms, uow=uow(buyer)).demand.id
        asked = matching.request_quote(chain.product_id, {
            "amount": 80_000, "purposes": ["信贷风控"], "scenarios": ["小微企业授信"]},
            policy=terms, uow=uow(buyer)).negotiation.id
        matching.make_offer(asked, {"amount": 90_000, "term_days": 180}, policy=terms,
                            uow=uow(merchant))
        return Side(buyer, unpaid, delivered, token, demand, asked)

    own, foreign = side("buyer"), side("other buyer")
    parties = {"buyer": own.party, "merchant": merchant, "operator": rights.operator,
               "regulator": rights.regulator, "assessor": rights.assessor,
               "broker": rights.party("broker", "broker")}
    return BuyerWorld(parties, chain.product_id, offer_id, unlisted.product_id, own, foreign)

