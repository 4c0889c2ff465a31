"""A market with listed products, buyers with money and helpers to trade, over the real
services and database (rights chain → listing → order → ledger)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from market.compliance.models import Decision, Declaration, Filing
from market.kernel.actor import system_actor
from market.kernel.uow import UnitOfWork
from market.listing.domain import OfferKind, OfferSpec
from market.settlement import ledger
from market.settlement import services as settlement
from market.settlement.domain import AccountKind
from market.settlement.models import Account, Allocation, Journal, Posting
from market.trading import services as trading
from market.trading.domain import DeliveryMode, Policy
from market.trading.models import Order
from tests.conftest import Party
from tests.integration.rights_fixtures import Chain, RightsWorld
from tests.integration.test_listing_services import Shop

COMMITMENT: dict[str, Any] = {
    "purpose": "小微企业授信审批", "purposes": ["信贷风控"],
    "scenarios": ["小微企业授信"], "cross_border": False,
    "destination": None, "security_measures": ["加密存储"], "no_onward_transfer": True,
    "no_reidentification": True, "commitments": [],
}
# Dispute decisions are carried out at once here (no escalation window), as the tests of
# decisions expect; the arbitration tests give their disputes a window.
POLICY = Policy(arbitration_window=timedelta(0))
PRICE = 100_000  # 1,000.00 CNY


@dataclass
class Market:
    """Trading over a :class:`Shop`: buyers, money, orders and fresh reads."""

    shop: Shop
    storage: Path
    policy: Policy = POLICY
    _buyers: dict[str, Party] = field(default_factory=dict)

    @property
    def rights(self) -> RightsWorld:
        return self.shop.rights

    def uow(self, party: Party) -> UnitOfWork:
        return self.rights.uow(party)

    def system(self) -> UnitOfWork:
        return UnitOfWork(self.rights.session_factory, self.rights.clock,
                          system_actor("worker"))

    def buyer(self, name: str = "buyer", *, funds: int = 10 * PRICE) -> Party:
        if name not in self._buyers:
            party = self.rights.party(name, "buyer")
            if funds:
                self.top_up(party, funds, reference=f"BANK-{party.org_id}")
            self._buyers[name] = party
        return self._buyers[name]

    def top_up(self, party: Party, amount: int, *, reference: str) -> None:
        settlement.record_top_up(party.org_id, amount, "CNY", reference,
                                 uow=self.uow(self.rights.operator))

    def listed(self, *, quantity: int | None = None, amount: int = PRICE,
               kind: OfferKind = OfferKind.ONE_TIME, delivery_modes: tuple[str, ...] = (
                   "file", "api", "sandbox")) -> Chain:
        offer = OfferSpec(kind, amount=amount if kind is not OfferKind.FREE else None,
                          quantity=quantity)
        return self.shop.listed(offers=[("标准版", offer)], delivery_modes=list(delivery_modes))

    def offer_id(self, chain: Chain) -> str:
        view = self.shop.product(chain.product_id)
        from market.listing.models import Offer

        with self.rights.session_factory() as session:
            return session.scalars(select(Offer.id).where(
                Offer.version_id == view.listed_version_id,
                Offer.buyer_org_id.is_(None))).one()

    # -- steps -----------------------------------------------------------------------------

    def place(self, chain: Chain, buyer: Party | None = None,
              commitment: Mapping[str, Any] | None = None) -> Order:
        view = trading.place_order(chain.product_id, self.offer_id(chain),
                                   {**COMMITMENT, **(commitment or {})}, policy=self.policy,
                                   uow=self.uow(buyer or self.buyer()))
        return view.order

    def pay(self, order: Order, buyer: Party | None = None) -> Order:
        return trading.pay_order(order.id, policy=self.policy,
                                 uow=self.uow(buyer or self._party(order.buyer_org_id))).order

    def deliver_file(self, order: Order, content: bytes = b"id,score\n1,0.9\n") -> Order:
        data = trading.DeliveryInput(mode=DeliveryMode.FILE, file=trading.FileUpload(
            "scores.csv", "text/csv", io.BytesIO(content)))
        view, _ = trading.deliver(order.id, data, storage=self.storage, policy=self.policy,
                                  uow=self.uow(self._party(order.seller_org_id)))
        return view.order

    def accept(self, order: Order, sha256: str | None = None) -> Order:
        return trading.accept_order(order.id, sha256=sha256,
                                    uow=self.uow(self._party(order.buyer_org_id))).order

    def trade(self, chain: Chain | None = None, buyer: Party | None = None) -> Order:
        chain = chain or self.listed()
        order = self.place(chain, buyer)
        self.pay(order)
        self.deliver_file(order)
        return self.accept(order)

    def _party(self, org_id: str) -> Party:
        for party in [*self.rights._parties.values(), *self._buyers.values()]:
            if party.org_id == org_id:
                return party
        raise LookupError(org_id)

    def party_of(self, org_id: str) -> Party:
        return self._party(org_id)

    # -- fresh reads -----------------------------------------------------------------------

    def order(self, order_id: str) -> Order:
        with self.rights.session_factory() as session:
            found = session.get(Order, order_id)
            assert found is not None
            session.expunge(found)
            return found

    def balance(self, owner: str, kind: AccountKind = AccountKind.AVAILABLE,
                ref: str = "") -> int:
        with self.rights.session_factory() as session:
            found = session.scalars(select(Account.balance).where(
                Account.owner == owner, Account.kind == kind.value, Account.ref == ref,
                Account.currency == "CNY")).one_or_none()
            return int(found or 0)

    def escrow(self, order_id: str) -> int:
        with self.rights.session_factory() as session:
            found = session.scalars(select(Account.balance).where(
                Account.kind == AccountKind.ESCROW.value, Account.ref == order_id)
            ).one_or_none()
            return int(found or 0)

    def allocations(self, order_id: str) -> list[Allocation]:
        with self.rights.session_factory() as session:
            return list(session.scalars(select(Allocation).where(
                Allocation.order_id == order_id).order_by(Allocation.id)))

    def filings(self, order_id: str) -> list[Filing]:
        with self.rights.session_factory() as session:
            return list(session.scalars(select(Filing).where(Filing.order_id == order_id)))

    def verify(self) -> ledger.Verification:
        with self.rights.session_factory() as session:
            return ledger.verify(session)

    def counts(self) -> dict[str, int]:
        with self.rights.session_factory() as session:
            return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                    or 0 for model in (Order, Journal, Posting, Account, Declaration, Decision,
                                       Filing)}


@pytest.fixture(name="market")
def market_fixture(rights: RightsWorld, tmp_path: Path) -> Market:
    return Market(Shop(rights), tmp_path / "deliveries")
