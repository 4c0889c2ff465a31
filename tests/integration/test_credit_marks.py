"""Public credit marks (信用评价) over real records: the components come from orders
completed and refunded undelivered, disputes opened and lost, declaration breaches and
suspensions, and change as they change; matching weighs the mark and shows it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from market.compliance import services as compliance
from market.compliance.models import Declaration
from market.kernel.outbox import OutboxMessage
from market.participants import services as participants
from market.participants.errors import CreditMarkNotFound
from market.participants.services import Status
from market.trading import services as trading
from market.trading.domain import DisputeOutcome
from tests.conftest import Party
from tests.integration.rights_fixtures import (  # noqa: F401
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_cli import env, migrated, run  # noqa: F401
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.test_matching import MATCH, Desk, desk_fixture  # noqa: F401
from tests.integration.trading_fixtures import POLICY, Market, market_fixture  # noqa: F401


def mark(market: Market, party: Party) -> participants.CreditMarkView:
    return participants.get_credit_mark(party.org_id, uow=market.system())


def recompute(market: Market) -> list[str]:
    return trading.recompute_credit_marks(uow=market.system())


def listing_declaration(market: Market, party: Party) -> str:
    with market.rights.session_factory() as session:
        return session.scalars(select(Declaration.id).where(
            Declaration.org_id == party.org_id, Declaration.kind == "listing")).first() or ""


def test_the_mark_follows_fulfilment_disputes_breaches_and_sanctions(market: Market) -> None:
    chain = market.listed()
    seller, operator = chain.grantee, market.rights.operator
    with pytest.raises(CreditMarkNotFound):
        mark(market, seller)
    market.trade(chain)
    market.trade(chain, market.buyer("second"))
    assert seller.org_id in recompute(market)
    found = mark(market, seller)
    assert (found.score, found.grade) == (100, "A")
    assert found.components["fulfilment"] == {"points": 30, "of": 30, "completed": 2,
                                              "failed": 0, "on_time": 2, "late": 0}
    assert recompute(market) == []  # the same records: nothing changes

    # An order paid and never delivered is refunded when the delivery window ends.
    late = market.place(chain, market.buyer("third"))
    market.pay(late)
    market.rights.clock.advance(POLICY.delivery_window + timedelta(minutes=1))
    trading.run_deadlines(uow=market.system())
    recompute(market)
    found = mark(market, seller)
    assert found.components["fulfilment"]["points"] == 20  # 30 × 2/3
    assert (found.components["fulfilment"]["failed"], found.components["fulfilment"]["late"]) \
        == (1, 1)

    # A dispute decided against the seller.
    disputed = market.place(chain, market.buyer("fourth"))
    market.pay(disputed)
    market.deliver_file(disputed)
    dispute = trading.open_dispute(disputed.id, "文件内容与描述不符", [], policy=market.policy,
                                   uow=market.uow(market.buyer("fourth")))
    market.rights.clock.advance(POLICY.answer_window)
    trading.decide_dispute(dispute.id, DisputeOutcome.PARTIAL_REFUND, "部分字段缺失",
                           refund_amount=10_000, uow=market.uow(operator))
    recompute(market)
    assert mark(market, seller).components["disputes"] == {"points": 15, "of": 20,
                                                           "opened": 1, "lost": 1}

    # A serious breach of its listing declaration takes 20 of the 30 points.
    compliance.record_breach(listing_declaration(market, seller),
                             compliance.BreachSeverity.SERIOUS, "来源证明不实", [],
                             uow=market.uow(operator))
    recompute(market)
    assert mark(market, seller).components["breaches"]["points"] == 10

    # Suspended: no sanctions points; reinstated, one earlier suspension costs five.
    participants.change_status(seller.org_id, Status.SUSPENDED, "整改", uow=market.system())
    recompute(market)
    assert mark(market, seller).components["sanctions"]["points"] == 0
    participants.change_status(seller.org_id, Status.ADMITTED, "整改完毕",
                               uow=market.system())
    recompute(market)
    found = mark(market, seller)
    assert found.components["sanctions"] == {"points": 15, "of": 20, "suspended_now": False,
                                             "blacklisted": False, "past_suspensions": 1}
    # The disputed order settled with its partial refund: 3 completed, 1 failed → 22.5 → 22.
    assert found.components["fulfilment"]["points"] == 22
    assert (found.score, found.grade) == (22 + 15 + 10 + 15, "C")
    # Each change of grade (not of score alone) was told to the organisation.
    with market.rights.session_factory() as session:
        told = [m.payload for m in session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == "participant.credit_grade_changed")
            .order_by(OutboxMessage.created_at, OutboxMessage.id))]
    assert (told[0]["organisation_id"], told[0]["previous_grade"]) == (seller.org_id, "A")
    assert told[-1]["grade"] == "C"
    assert all(t["grade"] != t["previous_grade"] for t in told)


def test_matching_ranks_by_the_credit_mark_and_shows_it(desk: Desk, market: Market) -> None:
    trusted = desk.listed()
    breached = desk.listed("breached", "breached holder")
    compliance.record_breach(listing_declaration(market, breached.grantee),
                             compliance.BreachSeverity.GRAVE, "伪造来源证明", [],
                             uow=market.uow(market.rights.operator))
    buyer = market.buyer("demander")
    view = desk.post(buyer)
    before = {c.product_id: c for c in desk.rank(buyer, view.demand.id).candidates}
    # Unrated yet: both weighed at full credit, whatever the breach.
    assert before[trusted.product_id].components["credit"] == 1000
    assert before[breached.product_id].components["credit"] == 1000
    assert before[breached.product_id].credit_mark is None

    recompute(market)

    first, second = desk.rank(buyer, view.demand.id).candidates
    assert (first.product_id, second.product_id) == (trusted.product_id, breached.product_id)
    assert first.credit_mark is not None
    assert first.credit_mark["grade"] == "A"
    assert second.credit_mark is not None
    assert (second.credit_mark["score"], second.credit_mark["grade"]) == (70, "C")
    assert second.components["credit"] == 700  # 10 points × 70/100, in hundredths
    assert first.score - second.score == 300
    assert MATCH.weights.credit == 10


def test_the_command_line_and_the_worker_recompute_the_marks(
    migrated: dict[str, str],  # noqa: F811
) -> None:
    assert run(migrated, "demo").exit_code == 0
    first = run(migrated, "credit", "recompute", "--json")
    assert first.exit_code == 0, first.output
    changed = json.loads(first.output)["changed"]
    assert changed  # the demo's merchants and buyers, rated for the first time
    assert json.loads(run(migrated, "credit", "recompute", "--json").output) == {"changed": []}
    worker = run(migrated, "worker", "--once")
    assert worker.exit_code == 0, worker.output
    assert "credit marks changed" not in worker.output  # nothing changed since
