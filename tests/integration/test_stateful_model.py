"""The market against a pure-Python model, through its services: participants' orders,
payments into escrow, deliveries, acceptances and auto-acceptances, disputes and their
decisions, refunds before and after settlement, payouts, deadlines, duplicate and
out-of-order events, crashed units of work and a worker killed between claim and
completion (see :mod:`tests.integration.model_machine`). Every step's outcome must be the
one the model predicts, and after every step the ledger and audit chain verify and every
balance equals the model's.

Budget and reproduction: ``MARKET_MODEL_SEED``, ``MARKET_MODEL_EXAMPLES``,
``MARKET_MODEL_STEPS`` (:mod:`tests.integration.model_world`); ``make model`` for a long run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import seed
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy.engine import Connection

from market.cli import consumers
from market.kernel.config import Settings
from market.kernel.errors import MarketError
from market.kernel.uow import UnitOfWork
from market.settlement import services as settlement
from market.trading import services as trading
from market.trading.domain import DeliveryMode, DisputeOutcome, Policy
from tests.conftest import START
from tests.integration.model_book import Order, Product
from tests.integration.model_machine import Context, MarketModel, Outcome
from tests.integration.model_world import BUDGET, REPRODUCE, SEED, ModelClock, build_world
from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa: F401
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.trading_fixtures import COMMITMENT, Market, market_fixture  # noqa: F401

INSTANT = Policy(arbitration_window=timedelta(0))
WINDOWED = Policy(arbitration_window=timedelta(days=1))
BANK_ACCOUNT = {"holder": "收款方", "bank": "上海银行", "number": "6222 0210 0000 0002"}


@pytest.fixture
def clock() -> ModelClock:
    return ModelClock(START)


class ServiceDriver:
    """The use cases called as the API calls them, each in its own unit of work, as the
    party that may make it."""

    def __init__(self, market: Market, storage: Path) -> None:
        self.market = market
        self.storage = storage
        self.products: list[Product] = []

    def _uow(self, org_id: str) -> UnitOfWork:
        return self.market.uow(self.market.party_of(org_id))

    def _operator(self) -> UnitOfWork:
        return self.market.uow(self.market.rights.operator)

    @staticmethod
    def _run(call: Callable[[], str | None]) -> Outcome:
        try:
            return Outcome(None, call())
        except MarketError as refused:
            return Outcome(refused.code)

    def top_up(self, org: str, amount: int, reference: str) -> Outcome:
        # (A repeated reference answers the first record without committing; the savepoint
        # each run of the model is wrapped in expires it as the unit of work closes, so
        # nothing of the answer is read here.)
        def record() -> None:
            settlement.record_top_up(org, amount, "CNY", reference, uow=self._operator())

        return self._run(record)

    def place(self, buyer: str, product_index: int) -> Outcome:
        product = self.products[product_index]
        return self._run(lambda: trading.place_order(
            product.id, product.offer_id, COMMITMENT, policy=INSTANT,
            uow=self._uow(buyer)).order.id)

    def pay(self, order: Order) -> Outcome:
        return self._run(lambda: trading.pay_order(order.id, policy=INSTANT,
                                                   uow=self._uow(order.buyer)).order.id)

    def cancel(self, order: Order) -> Outcome:
        return self._run(lambda: trading.cancel_order(order.id, "买方取消",
                                                      uow=self._uow(order.buyer)).order.id)

    def deliver(self, order: Order) -> Outcome:
        data = trading.DeliveryInput(mode=DeliveryMode.API,
                                     endpoint="https://api.seller.example.cn/v1/scores")
        return self._run(lambda: trading.deliver(
            order.id, data, storage=self.storage, policy=INSTANT,
            uow=self._uow(order.product.seller))[0].order.id)

    def accept(self, order: Order) -> Outcome:
        return self._run(lambda: trading.accept_order(order.id,
                                                      uow=self._uow(order.buyer)).order.id)

    def open_dispute(self, order: Order, instant: bool) -> Outcome:
        return self._run(lambda: trading.open_dispute(
            order.id, "数据与描述不符", [], policy=INSTANT if instant else WINDOWED,
            uow=self._uow(order.buyer)).id)

    def answer(self, dispute_id: str, seller: str) -> Outcome:
        return self._run(lambda: trading.answer_dispute(dispute_id, "数据符合约定", [],
                                                        uow=self._uow(seller)).id)

    def decide(self, dispute_id: str, outcome: str, refund: int | None) -> Outcome:
        return self._run(lambda: trading.decide_dispute(
            dispute_id, DisputeOutcome(outcome), "依规则裁决", refund_amount=refund,
            uow=self._operator()).id)

    def refund(self, order: Order, amount: int, goodwill: bool) -> Outcome:
        cause = settlement.RefundCause.GOODWILL if goodwill else settlement.RefundCause.DISPUTE
        uow = self._uow(order.product.seller) if goodwill else self._operator()
        return self._run(lambda: trading.refund_order(order.id, amount, cause, "退款",
                                                      uow=uow).id)

    def request_payout(self, org: str, amount: int) -> Outcome:
        return self._run(lambda: settlement.request_payout(amount, "CNY", BANK_ACCOUNT,
                                                           uow=self._uow(org)).id)

    def dispute_window(self, instant: bool) -> timedelta:
        return (INSTANT if instant else WINDOWED).arbitration_window

    def resolve_payout(self, payout_id: str, confirm: bool) -> Outcome:
        if confirm:
            return self._run(lambda: settlement.confirm_payout(payout_id, "BANK-PAID",
                                                               uow=self._operator()).id)
        return self._run(lambda: settlement.reject_payout(payout_id, "账户有误",
                                                          uow=self._operator()).id)


def test_the_services_keep_to_the_model(market: Market, connection: Connection,
                                        clock: ModelClock, settings: Settings,
                                        tmp_path: Path) -> None:
    world = build_world(market)
    driver = ServiceDriver(market, tmp_path / "deliveries")
    driver.products = world.products
    context = Context(world, connection, clock,
                      consumers(market.rights.session_factory, settings, clock),
                      lambda machine: driver)

    def machine() -> MarketModel:
        return MarketModel(context)

    started = time.monotonic()
    try:
        run_state_machine_as_test(cast(Any, seed(SEED)(machine)), settings=BUDGET)
    except BaseException as failure:
        failure.add_note(REPRODUCE)
        raise
    print(f"model (services): seed {SEED}, {context.runs} runs, {context.steps} steps, "
          f"{time.monotonic() - started:.1f} s")
    for what, count in sorted(context.seen.items()):
        print(f"  {count:6}  {what}")
