"""Refunds after settlement, over the real services and database: a settled order gives
money back in part and more than once, up to what it billed, taken from every payee's
share and the platform fee in proportion (largest remainder, never more than a line kept);
a payee already paid out owes the rest as a receivable, recovered from its next earnings or
before its next payout; each refund is filed, proved by a receipt and announced; a hypothesis
property drives random splits and refund sequences through the ledger, verified after each
step."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.compliance import services as compliance
from market.compliance.models import FilingRefund
from market.kernel.actor import system_actor
from market.kernel.clock import FixedClock
from market.kernel.errors import RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.outbox import OutboxMessage
from market.kernel.uow import UnitOfWork
from market.receipts.models import Receipt
from market.settlement import ledger
from market.settlement import services as settlement
from market.settlement.domain import PLATFORM, AccountKind, JournalKind, Leg, RefundCause
from market.settlement.errors import InsufficientFunds, RefundExceedsPaid
from market.settlement.models import Journal, Refund, RefundLine
from market.settlement.split import Allocation as Line
from market.settlement.split import DistributionRule, Share, ShareRole, reverse, split
from market.trading import services as trading
from market.trading.domain import DisputeOutcome
from market.trading.errors import OrderNotFound, OrderNotSettled
from market.trading.models import Order
from tests.conftest import START, Party
from tests.integration.rights_fixtures import (  # noqa: F401
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.trading_fixtures import (  # noqa: F401
    PRICE,
    Market,
    market_fixture,
)

FUNDS = 10 * PRICE
CNY = "CNY"
BANK = {"holder": "某某公司", "bank": "中国银行", "number": "6222 0000 1111"}


# -- helpers -----------------------------------------------------------------------------------


def payees(market: Market, order: Order) -> list[str]:
    return sorted({a.org_id for a in market.allocations(order.id)} - {PLATFORM})


def positions(market: Market, orgs: list[str]) -> dict[str, tuple[int, int]]:
    """Each payee's (payable, receivable) balances, and the platform's fee revenue."""
    found = {org: (market.balance(org, AccountKind.PAYABLE),
                   market.balance(org, AccountKind.RECEIVABLE)) for org in orgs}
    found[PLATFORM] = (market.balance(PLATFORM, AccountKind.FEE_REVENUE), 0)
    return found


def seller(market: Market, order: Order) -> Party:
    return market.party_of(order.seller_org_id)


def refund(market: Market, order: Order, amount: int,
           cause: RefundCause = RefundCause.GOODWILL, by: Party | None = None,
           reason: str = "数据更新延迟，部分退款") -> settlement.RefundRecord:
    if by is None:
        by = seller(market, order) if cause is RefundCause.GOODWILL else market.rights.operator
    return trading.refund_order(order.id, amount, cause, reason, uow=market.uow(by))


def lines_of(market: Market, refund_id: str) -> list[RefundLine]:
    with market.rights.session_factory() as session:
        return list(session.scalars(select(RefundLine).where(RefundLine.refund_id == refund_id)))


def counts(market: Market) -> dict[str, int]:
    with market.rights.session_factory() as session:
        return {model.__tablename__: int(session.scalar(
            select(func.count()).select_from(model)) or 0)
            for model in (Refund, RefundLine, FilingRefund, Journal, OutboxMessage, Receipt)}


def outbox(market: Market, topic: str) -> list[dict[str, object]]:
    with market.rights.session_factory() as session:
        return [m.payload for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == topic)
            .order_by(OutboxMessage.id))]


def settled(market: Market) -> Order:
    buyer = market.buyer(funds=FUNDS)
    return market.order(market.trade(market.listed(), buyer).id)


# -- the round trip ----------------------------------------------------------------------------


def test_a_settled_order_refunded_twice_in_part_and_then_in_full_leaves_every_payee_and_the_fee_where_they_started(  # noqa: E501
        market: Market) -> None:
    chain = market.listed()
    buyer = market.buyer(funds=FUNDS)
    orgs = sorted({chain.holder.org_id, chain.grantee.org_id})
    before = positions(market, orgs)
    order = market.trade(chain, buyer)
    assert positions(market, orgs) != before
    assert market.balance(buyer.org_id) == FUNDS - PRICE

    first = refund(market, order, 30_001)
    assert market.verify().ok
    second = refund(market, order, 20_000, RefundCause.DISPUTE)
    assert market.verify().ok
    rest = PRICE - 30_001 - 20_000
    last = refund(market, order, rest, RefundCause.ARBITRATION, reason="仲裁裁决全额退款")
    report = market.verify()
    assert report.ok, report.problems

    assert positions(market, orgs) == before
    assert market.balance(buyer.org_id) == FUNDS
    final = market.order(order.id)
    assert (final.status, final.refunded_amount) == ("settled", PRICE)
    assert [r.number for r in (first, second, last)] == [1, 2, 3]
    assert [r.cause for r in (first, second, last)] == ["goodwill", "dispute", "arbitration"]
    assert all(a.refunded == a.amount for a in market.allocations(order.id))
    with market.rights.session_factory() as session:
        keys = sorted(session.scalars(select(Journal.key).where(
            Journal.order_id == order.id, Journal.kind == JournalKind.REFUND.value)))
    assert keys == [f"refund:{order.id}:{n}" for n in (1, 2, 3)]
    listed = trading.list_refunds(order.id, uow=market.uow(buyer))
    assert [r.id for r in listed.items] == [first.id, second.id, last.id]
    assert (listed.refunded_amount, listed.refundable_amount) == (PRICE, 0)
    with pytest.raises(RefundExceedsPaid) as refused:
        refund(market, order, 1)
    assert refused.value.code == "refund_exceeds_paid"


def test_each_refund_is_filed_proved_and_announced(market: Market) -> None:
    order = settled(market)
    issued = refund(market, order, 12_345)

    (filing,) = market.filings(order.id)
    shown = compliance.get_filing(filing.id, uow=market.uow(market.rights.regulator))
    assert filing.amount == PRICE
    assert [(r.refund_id, r.amount, r.cause) for r in shown["refunds"]] == [
        (issued.id, 12_345, "goodwill")]
    assert shown["refunded_amount"] == 12_345
    assert outbox(market, "refund.issued") == [
        {"order_id": order.id, "refund_id": issued.id, "amount": 12_345, "currency": CNY}]
    with market.rights.session_factory() as session:
        (receipt,) = session.scalars(select(Receipt).where(
            Receipt.subject_id == order.id, Receipt.kind == "settlement.refund"))
    assert receipt.body["record"]["refund_id"] == issued.id
    assert receipt.body["record"]["amount"] == 12_345


# -- proportion --------------------------------------------------------------------------------


def test_a_refund_is_taken_from_every_line_in_proportion_by_largest_remainder(
        market: Market) -> None:
    order = settled(market)
    allocations = market.allocations(order.id)

    issued = refund(market, order, 33_333)

    expected = reverse(33_333, [Line(ShareRole(a.role), a.org_id, a.amount)
                                for a in allocations])
    assert [(line.role, line.org_id, line.amount) for line in issued.lines] == [
        (line.role.value, line.org_id, line.amount) for line in expected if line.amount]
    assert sum(line.amount for line in issued.lines) == 33_333
    assert settlement.refund_lines(issued.id, uow=market.system()) == issued.lines
    by_line = {(a.role, a.org_id): a.refunded for a in market.allocations(order.id)}
    assert by_line == {(line.role.value, line.org_id): line.amount for line in expected}
    second = refund(market, order, 1_000)
    left = [Line(ShareRole(a.role), a.org_id, a.amount - by_line[(a.role, a.org_id)])
            for a in allocations]
    assert [(line.org_id, line.amount) for line in second.lines] == [
        (line.org_id, line.amount) for line in reverse(1_000, left) if line.amount]
    assert market.verify().ok


# -- paid out: receivables ---------------------------------------------------------------------


def _payout_all(market: Market, party: Party) -> str:
    payable = market.balance(party.org_id, AccountKind.PAYABLE)
    payout = settlement.request_payout(payable, CNY, BANK, uow=market.uow(party))
    return payout.id


def test_a_payee_already_paid_out_owes_its_part_as_a_receivable(market: Market) -> None:
    order = settled(market)
    merchant = seller(market, order)
    paid = settlement.confirm_payout(_payout_all(market, merchant), "PAYOUT-1",
                                     uow=market.uow(market.rights.operator))
    assert market.balance(merchant.org_id, AccountKind.PAYABLE) == 0

    issued = refund(market, order, PRICE // 2)

    line = next(line for line in issued.lines if line.org_id == merchant.org_id
                and line.role == ShareRole.MERCHANT.value)
    assert (line.from_payable, line.receivable) == (0, line.amount)
    owed = sum(ln.receivable for ln in issued.lines if ln.org_id == merchant.org_id)
    assert market.balance(merchant.org_id, AccountKind.RECEIVABLE) == -owed
    assert market.balance(merchant.org_id, AccountKind.PAYABLE) == 0
    others = [ln for ln in issued.lines if ln.org_id != merchant.org_id]
    assert all(ln.receivable == 0 for ln in others)
    assert market.balance(order.buyer_org_id) == FUNDS - PRICE + PRICE // 2
    report = market.verify()
    assert report.ok, report.problems
    assert paid.status == "paid"


def test_a_receivable_is_recovered_from_the_payees_next_earnings(market: Market) -> None:
    chain = market.listed()
    buyer = market.buyer(funds=FUNDS)
    order = market.trade(chain, buyer)
    merchant = seller(market, order)
    settlement.confirm_payout(_payout_all(market, merchant), "PAYOUT-2",
                              uow=market.uow(market.rights.operator))
    refund(market, order, PRICE // 3)
    owed = -market.balance(merchant.org_id, AccountKind.RECEIVABLE)
    assert owed > 0

    again = market.trade(chain, buyer)

    earned = sum(a.amount for a in market.allocations(again.id)
                 if a.org_id == merchant.org_id)
    assert earned > owed
    assert market.balance(merchant.org_id, AccountKind.RECEIVABLE) == 0
    assert market.balance(merchant.org_id, AccountKind.PAYABLE) == earned - owed
    report = market.verify()
    assert report.ok, report.problems


def test_a_payout_request_recovers_what_the_payee_owes_first(market: Market) -> None:
    order = settled(market)
    merchant = seller(market, order)
    operator = market.rights.operator
    pending = _payout_all(market, merchant)  # reserved: the refund cannot take it
    issued = refund(market, order, PRICE // 2)
    owed = sum(ln.receivable for ln in issued.lines if ln.org_id == merchant.org_id)
    assert owed > 0
    settlement.reject_payout(pending, "账户信息有误", uow=market.uow(operator))
    payable = market.balance(merchant.org_id, AccountKind.PAYABLE)

    with pytest.raises(InsufficientFunds):
        settlement.request_payout(payable, CNY, BANK, uow=market.uow(merchant))
    payout = settlement.request_payout(payable - owed, CNY, BANK, uow=market.uow(merchant))

    assert payout.amount == payable - owed
    assert market.balance(merchant.org_id, AccountKind.RECEIVABLE) == 0
    assert market.balance(merchant.org_id, AccountKind.PAYABLE) == payable - owed
    with market.rights.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Journal).where(
            Journal.kind == JournalKind.RECOVERY.value)) == 1
    report = market.verify()
    assert report.ok, report.problems


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [PRICE + 1, 10 * PRICE])
def test_a_refund_beyond_what_was_billed_is_refused_and_writes_nothing(
        market: Market, amount: int) -> None:
    order = settled(market)
    before = counts(market)

    with pytest.raises(RefundExceedsPaid) as refused:
        refund(market, order, amount)

    assert refused.value.code == "refund_exceeds_paid"
    assert refused.value.params == {"requested": amount, "refundable": PRICE}
    assert counts(market) == before
    assert market.order(order.id).refunded_amount == 0


def test_a_dispute_refund_at_settlement_counts_against_what_is_left(market: Market) -> None:
    buyer = market.buyer(funds=FUNDS)
    order = market.place(market.listed(), buyer)
    market.pay(order)
    market.deliver_file(order)
    dispute = trading.open_dispute(order.id, "数据缺字段", ["ab" * 32], policy=market.policy,
                                   uow=market.uow(buyer))
    trading.answer_dispute(dispute.id, "字段齐全", [], uow=market.uow(seller(market, order)))
    trading.decide_dispute(dispute.id, DisputeOutcome.PARTIAL_REFUND, "经核查",
                           uow=market.uow(market.rights.operator), refund_amount=40_000)
    assert market.order(order.id).refunded_amount == 40_000

    with pytest.raises(RefundExceedsPaid):
        refund(market, order, PRICE - 40_000 + 1)
    refund(market, order, PRICE - 40_000, RefundCause.DISPUTE)

    assert market.order(order.id).refunded_amount == PRICE
    assert market.balance(buyer.org_id) == FUNDS
    assert market.verify().ok


def test_only_a_settled_order_is_refunded_after_settlement(market: Market) -> None:
    buyer = market.buyer(funds=FUNDS)
    order = market.place(market.listed(), buyer)
    market.pay(order)
    with pytest.raises(OrderNotSettled):
        refund(market, order, 1)


def test_who_may_refund_follows_the_cause(market: Market) -> None:
    order = settled(market)
    other = market.rights.party("another merchant", "merchant")
    with pytest.raises(RoleNotAllowed):
        refund(market, order, 1, RefundCause.GOODWILL, by=market.rights.operator)
    with pytest.raises(RoleNotAllowed):
        refund(market, order, 1, RefundCause.DISPUTE, by=seller(market, order))
    with pytest.raises(RoleNotAllowed):
        refund(market, order, 1, RefundCause.GOODWILL, by=market.party_of(order.buyer_org_id))
    with pytest.raises(OrderNotFound):  # a merchant that is not a party sees no order
        refund(market, order, 1, RefundCause.GOODWILL, by=other)
    assert market.order(order.id).refunded_amount == 0


# -- a property over random splits and refund sequences ---------------------------------------


def _system(factory: sessionmaker[Session], clock: FixedClock) -> UnitOfWork:
    return UnitOfWork(factory, clock, system_actor("refund property"))


rules = st.builds(
    lambda fee, weights: DistributionRule(tuple(
        Share(role, f"org-{i}", bps) for i, (role, bps) in enumerate(zip(
            [ShareRole.RESOURCE_HOLDER, ShareRole.PROCESSOR, ShareRole.MERCHANT,
             ShareRole.BROKER][:len(weights)], _bps(weights), strict=True)) if bps) or (
        Share(ShareRole.MERCHANT, "org-0", 10_000),), fee),
    st.integers(0, 3_000), st.lists(st.integers(1, 100), min_size=1, max_size=4))


def _bps(weights: list[int]) -> list[int]:
    from market.kernel.money import allocate

    return allocate(10_000, weights)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=rules, price=st.integers(1, 5_000_000),
       steps=st.lists(st.tuples(st.integers(1, 10_000), st.booleans()), min_size=1,
                      max_size=4))
def test_random_splits_and_refund_sequences_keep_the_books(
        session_factory: sessionmaker[Session], rule: DistributionRule, price: int,
        steps: list[tuple[int, bool]]) -> None:
    """Pay, settle by a random rule, then refund random parts (a payee sometimes paid out
    first): every refund's lines follow the largest remainder over what each line still
    holds, no line ever gives back more than it got, the ledger verifies after every step,
    and refunding the rest puts every payee (payable and receivable together) and the fee
    back where they started."""
    clock = FixedClock(START)
    order_id, buyer = new_id("ord"), new_id("org")
    rule = DistributionRule(tuple(Share(share.role, f"{order_id}-{share.org_id}", share.bps)
                                  for share in rule.shares), rule.platform_fee_bps)
    orgs = sorted({share.org_id for share in rule.shares})
    specs = [(AccountKind.PAYABLE, org, CNY, "") for org in orgs] + [
        (AccountKind.RECEIVABLE, org, CNY, "") for org in orgs] + [
        (AccountKind.FEE_REVENUE, PLATFORM, CNY, "")]

    def balances() -> list[int]:
        with _system(session_factory, clock) as uow:
            ids = ledger.account_ids(uow.session, specs, at=clock.now())
            held = ledger.lock_balances(uow.session, ids)
            return [held[i][0] for i in ids]

    def net(values: list[int]) -> list[int]:
        n = len(orgs)
        return [values[i] + values[n + i] for i in range(n)] + [values[-1]]

    def verified() -> None:
        with session_factory() as session:
            report = ledger.verify(session)
            assert report.ok, report.problems

    start = balances()
    with _system(session_factory, clock) as uow:
        rail, available = ledger.account_ids(uow.session, [
            (AccountKind.RAIL_CLEARING, PLATFORM, CNY, "offline"),
            (AccountKind.AVAILABLE, buyer, CNY, "")], at=clock.now())
        ledger.transfer(uow, key=f"top_up:{order_id}", kind=JournalKind.TOP_UP,
                        legs=[Leg(rail, -price, CNY), Leg(available, price, CNY)])
        settlement.pay_into_escrow(order_id=order_id, buyer_org_id=buyer, amount=price,
                                   currency=CNY, uow=uow.joined())
        settlement.settle(order_id=order_id, buyer_org_id=buyer, amount=price,
                          currency=CNY, rule=rule.as_dict(), uow=uow.joined())
        uow.commit()
    verified()
    kept = {(line.role.value, line.org_id): line.amount for line in split(price, rule)}
    paid_out: dict[str, int] = {}
    for share_of, pay_out in steps:
        if pay_out:  # the first payee with money takes it all out
            for org in orgs:
                with _system(session_factory, clock) as uow:
                    payable, = ledger.account_ids(uow.session, [specs[orgs.index(org)]],
                                                  at=clock.now())
                    held = ledger.lock_balances(uow.session, [payable])[payable]
                    out = held[0] - held[1]
                    if out > 0:
                        ledger.transfer(uow, key=new_id("out"), kind=JournalKind.PAYOUT,
                                        legs=[Leg(payable, -out, CNY), Leg(rail, out, CNY)])
                        uow.commit()
                        paid_out[org] = paid_out.get(org, 0) + out
                        break
            verified()
        left = sum(kept.values())
        if not left:
            break
        amount = max(1, left * share_of // 10_000)
        with _system(session_factory, clock) as uow:
            issued = settlement.refund_settled(order_id=order_id, buyer_org_id=buyer,
                                               amount=amount, cause=RefundCause.GOODWILL,
                                               reason="property", uow=uow.joined())
            uow.commit()
        expected = reverse(amount, [Line(ShareRole(r), o, a) for (r, o), a in kept.items()])
        assert [(line.role, line.org_id, line.amount) for line in issued.lines] == [
            (line.role.value, line.org_id, line.amount) for line in expected if line.amount]
        for line in issued.lines:
            assert line.amount <= kept[(line.role, line.org_id)]
            assert line.from_payable + line.receivable == line.amount
            kept[(line.role, line.org_id)] -= line.amount
        verified()
    rest = sum(kept.values())
    if rest:
        with _system(session_factory, clock) as uow:
            settlement.refund_settled(order_id=order_id, buyer_org_id=buyer, amount=rest,
                                      cause=RefundCause.ARBITRATION, reason="the rest",
                                      uow=uow.joined())
            uow.commit()
    verified()
    end = balances()
    # What a payee took out is what it now owes (or had in hand): its payable and
    # receivable together are back where they started, less what left through payouts.
    assert net(end) == [s - paid_out.get(org, 0) for s, org in zip(
        net(start), [*orgs, PLATFORM], strict=True)]
