"""The cascade: when a right stops being usable, everything resting on it is suspended in the
same transaction and ``rights.unavailable`` is announced; restoring it restores exactly what
its loss suspended and announces ``rights.restored``. Disputes and expiry cascade the same
way, and the audit chain stays intact through all of it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from market.kernel import events
from market.kernel.actor import system_actor
from market.kernel.audit import verify_chain
from market.kernel.errors import InvalidInput, RoleNotAllowed
from market.kernel.outbox import OutboxMessage
from market.kernel.uow import UnitOfWork
from market.rights import services
from market.rights.domain import RightKind, RightStatus
from market.rights.errors import DisputeClosed, DisputeNotFound, RightRefused
from market.rights.models import Right
from tests.conftest import START
from tests.integration.rights_fixtures import (  # noqa: F401
    DAY,
    HOLDING_TERM,
    PRODUCT_TERM,
    USE,
    USE_TERM,
    WIDE,
    Chain,
    Recorder,
    RightsWorld,
    recorder_fixture,
    rights_fixture,
    signer_fixture,
)

S = RightStatus
UNAVAILABLE, RESTORED = services.UNAVAILABLE, services.RESTORED


class SubscriberFailed(Exception):
    pass


@pytest.fixture
def failing_subscriber() -> Iterator[list[Mapping[str, Any]]]:
    """A ``rights.unavailable`` and ``rights.restored`` subscriber that raises."""
    seen: list[Mapping[str, Any]] = []

    def fail(_uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
        seen.append(payload)
        raise SubscriberFailed("listing could not react")

    unsubscribers = [events.subscribe(UNAVAILABLE, fail), events.subscribe(RESTORED, fail)]
    try:
        yield seen
    finally:
        for unsubscribe in unsubscribers:
            unsubscribe()


def expire(rights: RightsWorld) -> list[str]:
    return services.expire_due_rights(
        uow=UnitOfWork(rights.session_factory, rights.clock, system_actor("expiry")))


def set_status(rights: RightsWorld, right_id: str, target: S, reason: str = "x") -> Right:
    return services.change_right_status(right_id, target, reason,
                                        uow=rights.uow(rights.operator))


def suspended_by(rights: RightsWorld, *right_ids: str) -> list[str | None]:
    return [rights.right(r).suspended_by for r in right_ids]


# -- revocation and reinstatement --------------------------------------------------------------


def test_revoking_a_holding_right_suspends_what_rests_on_it(
    rights: RightsWorld, recorder: Recorder
) -> None:
    chain = rights.chain()
    audit_before = rights.audit_seq()

    services.change_right_status(chain.holding.id, S.REVOKED, "不再持有",
                                 uow=rights.uow(chain.holder))

    assert rights.statuses(*chain.ids) == [S.REVOKED, S.SUSPENDED, S.SUSPENDED]
    assert suspended_by(rights, *chain.ids) == [None, chain.holding.id, chain.use.id]
    assert recorder.of(UNAVAILABLE) == [
        {"right_ids": chain.ids, "reason": "不再持有"}]
    assert recorder.of(RESTORED) == []
    for right_id in (chain.use.id, chain.product.id):
        last = rights.history(right_id)[-1]
        assert (last.action, last.from_status, last.to_status) == (
            "suspended", "registered", "suspended")
        assert last.actor_org_id == chain.holder.org_id  # the same transaction, same actor
    with rights.session_factory() as session:
        messages = [(m.topic, m.payload) for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic.in_(
                ["right.suspended", "right.revoked"])).order_by(OutboxMessage.id))]
    assert messages == [
        ("right.suspended", {"right_id": chain.use.id, "cause": chain.holding.id}),
        ("right.suspended", {"right_id": chain.product.id, "cause": chain.use.id}),
        ("right.revoked", {"right_id": chain.holding.id, "reason": "不再持有"}),
    ]
    # one audit entry for the revocation and one per suspended dependent
    assert rights.audit_seq() == audit_before + 3


def test_a_failing_subscriber_rolls_back_the_whole_revocation(
    rights: RightsWorld, failing_subscriber: list[Mapping[str, Any]]
) -> None:
    chain = rights.chain()
    before = rights.counts()

    with pytest.raises(SubscriberFailed):
        services.change_right_status(chain.holding.id, S.REVOKED, "surrendered",
                                     uow=rights.uow(chain.holder))

    # the subscriber ran after the dependents were suspended, in the same transaction...
    assert failing_subscriber == [{"right_ids": chain.ids, "reason": "surrendered"}]
    # ...so nothing of it survives: one transaction
    assert rights.statuses(*chain.ids) == [S.REGISTERED] * 3
    assert suspended_by(rights, *chain.ids) == [None] * 3
    assert rights.counts() == before
    assert [rights.actions(r)[-1] for r in chain.ids] == ["registered"] * 3


def test_a_failing_subscriber_rolls_back_the_reinstatement(
    rights: RightsWorld, request: pytest.FixtureRequest
) -> None:
    chain = rights.chain()
    set_status(rights, chain.holding.id, S.SUSPENDED)
    request.getfixturevalue("failing_subscriber")
    before = rights.counts()

    with pytest.raises(SubscriberFailed):
        set_status(rights, chain.holding.id, S.REGISTERED)

    assert rights.statuses(*chain.ids) == [S.SUSPENDED] * 3
    assert suspended_by(rights, *chain.ids) == [None, chain.holding.id, chain.use.id]
    assert rights.counts() == before


def test_reinstating_the_root_restores_what_its_suspension_suspended(
    rights: RightsWorld, recorder: Recorder
) -> None:
    chain = rights.chain()
    set_status(rights, chain.holding.id, S.SUSPENDED, "核查")

    set_status(rights, chain.holding.id, S.REGISTERED, "核查完毕")

    assert rights.statuses(*chain.ids) == [S.REGISTERED] * 3
    assert suspended_by(rights, *chain.ids) == [None] * 3
    assert recorder.of(UNAVAILABLE) == [{"right_ids": chain.ids, "reason": "核查"}]
    assert recorder.of(RESTORED) == [{"right_ids": chain.ids}]
    assert rights.actions(chain.use.id)[-2:] == ["suspended", "restored"]
    assert rights.actions(chain.holding.id)[-2:] == ["suspended", "reinstated"]
    assert rights.right(chain.product.id).certificate_number == "DR-2026-000003"


def test_suspending_a_middle_link_suspends_only_what_rests_on_it(
    rights: RightsWorld, recorder: Recorder
) -> None:
    chain = rights.chain()

    set_status(rights, chain.use.id, S.SUSPENDED, "audit")

    assert rights.statuses(*chain.ids) == [S.REGISTERED, S.SUSPENDED, S.SUSPENDED]
    assert recorder.of(UNAVAILABLE) == [{"right_ids": [chain.use.id, chain.product.id],
                                         "reason": "audit"}]


def test_a_right_suspended_for_its_own_sake_is_not_restored_with_its_parent(
    rights: RightsWorld,
) -> None:
    chain = rights.chain()
    set_status(rights, chain.use.id, S.SUSPENDED, "its own problem")
    set_status(rights, chain.holding.id, S.SUSPENDED)

    set_status(rights, chain.holding.id, S.REGISTERED)

    assert rights.statuses(*chain.ids) == [S.REGISTERED, S.SUSPENDED, S.SUSPENDED]
    assert rights.right(chain.use.id).status_reason == "its own problem"
    set_status(rights, chain.use.id, S.REGISTERED)
    assert rights.statuses(*chain.ids) == [S.REGISTERED] * 3


@pytest.mark.parametrize("first", ["granted", "own"])
def test_a_right_with_two_parents_stays_suspended_until_both_are_usable(
    rights: RightsWorld, recorder: Recorder, first: str
) -> None:
    chain = rights.chain()
    own = rights.holding(chain.grantee, rights.resource(chain.grantee, title="自有数据"))
    product = rights.product(chain.grantee, chain.use, own)
    roots = {"granted": chain.holding.id, "own": own.id}
    second = "own" if first == "granted" else "granted"

    set_status(rights, roots[first], S.SUSPENDED)
    set_status(rights, roots[second], S.SUSPENDED)
    assert rights.status(product.id) == S.SUSPENDED.value

    set_status(rights, roots[first], S.REGISTERED)
    assert rights.status(product.id) == S.SUSPENDED.value
    blocking = chain.use.id if second == "granted" else own.id
    assert rights.right(product.id).suspended_by == blocking

    set_status(rights, roots[second], S.REGISTERED)
    assert rights.statuses(product.id, chain.use.id, own.id, chain.holding.id) == [
        S.REGISTERED] * 4
    assert product.id in recorder.of(RESTORED)[-1]["right_ids"]


def test_a_revoked_parent_keeps_its_dependents_suspended_for_good(rights: RightsWorld) -> None:
    chain = rights.chain()
    set_status(rights, chain.use.id, S.REVOKED, "licence withdrawn")

    assert rights.statuses(*chain.ids) == [S.REGISTERED, S.REVOKED, S.SUSPENDED]
    set_status(rights, chain.holding.id, S.SUSPENDED)
    set_status(rights, chain.holding.id, S.REGISTERED)
    assert rights.statuses(*chain.ids) == [S.REGISTERED, S.REVOKED, S.SUSPENDED]


# -- disputes ----------------------------------------------------------------------------------


def test_a_dispute_suspends_the_rights_on_the_resource_and_what_rests_on_them(
    rights: RightsWorld, recorder: Recorder
) -> None:
    chain = rights.chain()
    rival = rights.party("rival")

    dispute = services.open_dispute(chain.resource.id, "数据归属有争议",
                                    uow=rights.uow(rights.operator), claimant_org_id=rival.org_id)

    assert (dispute.status, dispute.claimant_org_id) == ("open", rival.org_id)
    assert rights.statuses(*chain.ids) == [S.SUSPENDED] * 3
    assert suspended_by(rights, *chain.ids) == [dispute.id, dispute.id, chain.use.id]
    [announced] = recorder.of(UNAVAILABLE)
    assert sorted(announced["right_ids"]) == sorted(chain.ids)
    assert announced["right_ids"][-1] == chain.product.id


def test_a_disputed_resource_takes_no_new_rights(rights: RightsWorld) -> None:
    chain = rights.chain()
    services.open_dispute(chain.resource.id, "ours", uow=rights.uow(rights.operator),
        claimant_org_id=rights.party("rival").org_id)
    before = rights.counts()

    with pytest.raises(RightRefused) as refused:
        rights.submit(chain.holder, RightKind.PROCESSING_USE, scope=USE, term=USE_TERM,
                      resource_id=chain.resource.id, parent_ids=(chain.holding.id,))
    assert [v.code for v in refused.value.violations] == ["subject_disputed",
                                                          "parent_not_registered"]
    with pytest.raises(RightRefused) as refused:
        rights.submit(chain.holder, RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                      resource_id=chain.resource.id)
    assert [v.code for v in refused.value.violations] == ["subject_disputed"]
    assert rights.counts() == before


def test_a_dismissed_dispute_restores_the_rights(
    rights: RightsWorld, recorder: Recorder
) -> None:
    chain = rights.chain()
    dispute = services.open_dispute(chain.resource.id, "ours", uow=rights.uow(rights.operator),
        claimant_org_id=rights.party("rival").org_id)

    resolved = services.resolve_dispute(dispute.id, False, "证据不足", uow=rights.uow(
        rights.operator), resource_id=chain.resource.id)

    assert (resolved.status, resolved.resolution) == ("dismissed", "证据不足")
    assert rights.statuses(*chain.ids) == [S.REGISTERED] * 3
    assert suspended_by(rights, *chain.ids) == [None] * 3
    [restored] = recorder.of(RESTORED)
    assert sorted(restored["right_ids"]) == sorted(chain.ids)
    assert rights.actions(chain.holding.id)[-2:] == ["suspended", "restored"]
    # and the resource takes new rights again
    assert rights.use(chain.holder, chain.holding, None).status == S.REGISTERED.value


def test_an_upheld_dispute_revokes_the_rights_and_leaves_dependents_suspended(
    rights: RightsWorld,
) -> None:
    chain = rights.chain()
    dispute = services.open_dispute(chain.resource.id, "ours", uow=rights.uow(rights.operator),
        claimant_org_id=rights.party("rival").org_id)

    services.resolve_dispute(dispute.id, True, "归属于申请人", uow=rights.uow(rights.operator))

    assert rights.statuses(*chain.ids) == [S.REVOKED, S.REVOKED, S.SUSPENDED]
    assert rights.right(chain.holding.id).status_reason == (
        f"dispute {dispute.id} upheld: 归属于申请人")


@pytest.mark.parametrize("second_upheld", [False, True], ids=["dismissed", "upheld"])
def test_rights_stay_suspended_until_the_last_open_dispute_is_resolved(
    rights: RightsWorld, second_upheld: bool
) -> None:
    chain = rights.chain()
    first = services.open_dispute(chain.resource.id, "ours", uow=rights.uow(rights.operator),
        claimant_org_id=rights.party("rival").org_id)
    second = services.open_dispute(chain.resource.id, "no, ours", uow=rights.uow(rights.operator),
        claimant_org_id=rights.party("other rival").org_id)

    services.resolve_dispute(first.id, False, "unfounded", uow=rights.uow(rights.operator))
    assert rights.statuses(*chain.ids) == [S.SUSPENDED] * 3  # the second is still open

    services.resolve_dispute(second.id, second_upheld, "decided",
                             uow=rights.uow(rights.operator))
    if second_upheld:
        assert rights.statuses(*chain.ids) == [S.REVOKED, S.REVOKED, S.SUSPENDED]
    else:
        assert rights.statuses(*chain.ids) == [S.REGISTERED] * 3
        assert suspended_by(rights, *chain.ids) == [None] * 3


def test_who_may_open_and_resolve_disputes(rights: RightsWorld) -> None:
    chain = rights.chain()
    rival = rights.party("rival")

    # Objections are filed through the venue, never directly by a participant.
    for party in (chain.holder, rival, rights.regulator, rights.assessor):
        with pytest.raises(RoleNotAllowed):
            services.open_dispute(chain.resource.id, "x", uow=rights.uow(party),
                                  claimant_org_id=rival.org_id)
    # The claimant is an admitted organisation other than the holder.
    for claimant in (chain.holder.org_id, "org_00000000000000000000000000"):
        with pytest.raises(InvalidInput):
            services.open_dispute(chain.resource.id, "x", uow=rights.uow(rights.operator),
                                  claimant_org_id=claimant)
    assert rights.statuses(*chain.ids) == [S.REGISTERED] * 3
    dispute = services.open_dispute(chain.resource.id, "x", uow=rights.uow(rights.operator),
                                    claimant_org_id=rights.assessor.org_id)
    for party in (chain.holder, rights.party("rival"), rights.regulator, rights.assessor):
        with pytest.raises(RoleNotAllowed):
            services.resolve_dispute(dispute.id, True, "x", uow=rights.uow(party))
    with pytest.raises(DisputeNotFound):
        services.resolve_dispute(dispute.id, True, "x", uow=rights.uow(rights.operator),
                                 resource_id=rights.resource(chain.holder).id)
    services.resolve_dispute(dispute.id, False, "x", uow=rights.uow(rights.operator))
    with pytest.raises(DisputeClosed):
        services.resolve_dispute(dispute.id, True, "x", uow=rights.uow(rights.operator))
    assert rights.statuses(*chain.ids) == [S.REGISTERED] * 3


# -- expiry ------------------------------------------------------------------------------------


def test_rights_expire_when_their_term_ends_and_not_before(
    rights: RightsWorld, recorder: Recorder
) -> None:
    chain = rights.chain()
    assert PRODUCT_TERM.valid_to is not None
    assert HOLDING_TERM.valid_to is not None

    rights.clock.advance(PRODUCT_TERM.valid_to - START - timedelta(microseconds=1))
    assert expire(rights) == []
    rights.clock.advance(timedelta(microseconds=1))  # valid_to itself is outside the term
    assert expire(rights) == [chain.product.id]
    assert expire(rights) == []  # nothing more is due
    assert rights.statuses(*chain.ids) == [S.REGISTERED, S.REGISTERED, S.EXPIRED]

    rights.clock.advance(HOLDING_TERM.valid_to - PRODUCT_TERM.valid_to)
    assert sorted(expire(rights)) == sorted([chain.holding.id, chain.use.id])
    assert rights.statuses(*chain.ids) == [S.EXPIRED] * 3
    assert [e["right_ids"] for e in recorder.of(UNAVAILABLE)] == [
        [chain.product.id], sorted([chain.holding.id, chain.use.id])]
    assert rights.history(chain.use.id)[-1].reason == "term ended"


def test_a_suspended_right_expires_too(rights: RightsWorld) -> None:
    chain = rights.chain()
    set_status(rights, chain.holding.id, S.SUSPENDED)
    assert HOLDING_TERM.valid_to is not None
    rights.clock.advance(HOLDING_TERM.valid_to - START)

    assert sorted(expire(rights)) == sorted(chain.ids)
    assert rights.statuses(*chain.ids) == [S.EXPIRED] * 3


def test_expiry_suspends_dependents_that_outlive_their_parent(
    rights: RightsWorld, recorder: Recorder
) -> None:
    # Terms nest at registration, so a dependent normally ends with its parent; one that
    # outlives it (a term changed outside the services, say) is suspended, not left usable.
    chain = rights.chain()
    with rights.session_factory() as session:
        session.execute(update(Right).where(Right.id.in_([chain.use.id, chain.product.id]))
                        .values(valid_to=None))
        session.commit()
    assert HOLDING_TERM.valid_to is not None
    rights.clock.advance(HOLDING_TERM.valid_to - START)

    assert expire(rights) == [chain.holding.id]

    assert rights.statuses(*chain.ids) == [S.EXPIRED, S.SUSPENDED, S.SUSPENDED]
    assert suspended_by(rights, *chain.ids) == [None, chain.holding.id, chain.use.id]
    assert recorder.of(UNAVAILABLE) == [{"right_ids": chain.ids, "reason": "term ended"}]


# -- the audit chain ---------------------------------------------------------------------------


def test_the_audit_chain_verifies_after_cascades(rights: RightsWorld) -> None:
    chain = rights.chain()
    own = rights.holding(chain.grantee, rights.resource(chain.grantee, title="自有数据"))
    rights.product(chain.grantee, chain.use, own)
    operator = rights.operator

    set_status(rights, chain.holding.id, S.SUSPENDED)
    set_status(rights, own.id, S.SUSPENDED)
    set_status(rights, chain.holding.id, S.REGISTERED)
    set_status(rights, own.id, S.REGISTERED)
    dispute = services.open_dispute(chain.resource.id, "x", uow=rights.uow(rights.operator),
        claimant_org_id=rights.party("r").org_id)
    services.resolve_dispute(dispute.id, False, "x", uow=rights.uow(operator))
    services.revoke_grant(chain.grant.id, "ended", uow=rights.uow(chain.holder))
    rights.clock.advance(4 * 365 * DAY)
    expire(rights)

    with rights.session_factory() as session:
        result = verify_chain(session)
    assert result.ok, result
    assert result.head_seq == rights.audit_seq()
