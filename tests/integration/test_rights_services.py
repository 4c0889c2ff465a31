"""Rights use cases end to end through the services: registration and review, automatic
refusals that write nothing, grants, status changes, history, visibility and the rights chain
other contexts check before listing, ordering and delivering."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from market.kernel.errors import InvalidInput, InvalidTransition, RoleNotAllowed
from market.kernel.outbox import OutboxMessage
from market.participants.domain import Status
from market.rights import services
from market.rights.domain import (
    Classification,
    EvidenceKind,
    PILevel,
    RightKind,
    RightStatus,
    Scope,
    Term,
    Territory,
)
from market.rights.errors import (
    GranteeNotAdmitted,
    GrantNotFound,
    NotTheHolder,
    ResourceNotFound,
    ReviewClaimedByOther,
    RightNotFound,
    RightRefused,
)
from market.rights.models import (
    Certificate,
    DataResource,
    Grant,
    ResourceDispute,
    Right,
)
from tests.conftest import START, Party
from tests.integration.rights_fixtures import (  # noqa: F401
    DAY,
    GRANT_TERM,
    GRANTED,
    HOLDING_TERM,
    PRODUCT,
    PRODUCT_TERM,
    USE,
    USE_TERM,
    WIDE,
    Chain,
    RightsWorld,
    evidence,
    rights_fixture,
    signer_fixture,
)

S = RightStatus
CERTIFICATE_NUMBER = re.compile(r"^DR-(\d{4})-(\d{6})$")


def violations(refused: pytest.ExceptionInfo[RightRefused]) -> list[tuple[str, str | None]]:
    return [(v.code, v.right_id) for v in refused.value.violations]


def codes(refused: pytest.ExceptionInfo[RightRefused]) -> list[str]:
    return [v.code for v in refused.value.violations]


# -- registration and review -----------------------------------------------------------------


def test_a_holding_right_is_submitted_claimed_approved_and_certified(rights: RightsWorld) -> None:
    holder = rights.party("holder")
    resource = rights.resource(holder)

    submitted = rights.submit(holder, RightKind.RESOURCE_HOLDING, scope=WIDE,
                              term=HOLDING_TERM, resource_id=resource.id)
    assert (submitted.status, submitted.certificate_number) == (S.SUBMITTED.value, None)
    assert submitted.holder_org_id == holder.org_id
    assert submitted.subject_title == resource.title

    rights.clock.advance(timedelta(hours=1))
    claimed = rights.claim(submitted.id, rights.assessor)
    assert (claimed.status, claimed.reviewer_org_id) == (S.UNDER_REVIEW.value,
                                                         rights.assessor.org_id)

    rights.clock.advance(timedelta(hours=1))
    registered = rights.approve(submitted.id, rights.assessor)
    assert registered.status == S.REGISTERED.value
    assert registered.registered_at == START + timedelta(hours=2)
    assert registered.certificate_number == "DR-2026-000001"
    with rights.session_factory() as session:
        certificate = session.get(Certificate, "DR-2026-000001")
        assert certificate is not None
        assert certificate.right_id == registered.id
        assert certificate.signer == rights.signer.address
        topics = list(session.scalars(select(OutboxMessage.topic)))
    assert "right.registered" in topics


def test_certificate_numbers_increase_without_gaps_and_restart_each_year(
    rights: RightsWorld,
) -> None:
    holder = rights.party("holder")
    numbers = [rights.holding(holder).certificate_number for _ in range(3)]
    rights.clock.advance(timedelta(days=60))  # 2027-01-20
    numbers.append(rights.holding(holder, term=Term(rights.clock.now(), None))
                   .certificate_number)

    assert numbers == ["DR-2026-000001", "DR-2026-000002", "DR-2026-000003", "DR-2027-000001"]
    assert all(CERTIFICATE_NUMBER.match(n or "") for n in numbers)


def test_a_reviewer_may_reject(rights: RightsWorld) -> None:
    holder = rights.party("holder")
    right = rights.submit(holder, RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                          resource_id=rights.resource(holder).id)
    rights.claim(right.id)

    rejected = services.decide_review(right.id, approve=False, reason="来源证明不清晰",
                                      uow=rights.uow(rights.operator), signer=rights.signer)

    assert (rejected.status, rejected.status_reason) == (S.REJECTED.value, "来源证明不清晰")
    assert rejected.certificate_number is None
    assert rights.actions(right.id) == ["submitted", "review_claimed", "rejected"]
    with pytest.raises(InvalidTransition):
        rights.approve(right.id)
    assert rights.counts().certificates == 0


def test_a_review_claimed_by_another_organisation_cannot_be_decided(rights: RightsWorld) -> None:
    holder = rights.party("holder")
    right = rights.submit(holder, RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                          resource_id=rights.resource(holder).id)
    rights.claim(right.id, rights.assessor)
    operator = rights.operator
    before = rights.counts()

    for approve in (True, False):
        with pytest.raises(ReviewClaimedByOther) as refused:
            services.decide_review(right.id, approve=approve, reason="x",
                                   uow=rights.uow(operator), signer=rights.signer)
        assert refused.value.code == "review_claimed"
    with pytest.raises(InvalidTransition):  # nor claimed twice
        rights.claim(right.id, operator)

    assert rights.counts() == before
    assert rights.right(right.id).reviewer_org_id == rights.assessor.org_id
    assert rights.approve(right.id, rights.assessor).status == S.REGISTERED.value


def test_only_a_claimed_right_can_be_decided(rights: RightsWorld) -> None:
    holder = rights.party("holder")
    right = rights.submit(holder, RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                          resource_id=rights.resource(holder).id)
    for approve in (True, False):
        with pytest.raises(InvalidTransition):
            services.decide_review(right.id, approve=approve, reason="x",
                                   uow=rights.uow(rights.operator), signer=rights.signer)
    assert rights.status(right.id) == S.SUBMITTED.value


def test_roles(rights: RightsWorld) -> None:
    holder = rights.party("holder")
    buyer = rights.party("buyer", "buyer")
    resource = rights.resource(holder)
    right = rights.submit(holder, RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                          resource_id=resource.id)

    with pytest.raises(RoleNotAllowed):
        rights.resource(buyer)
    for party in (buyer, rights.regulator, rights.operator, rights.assessor):
        with pytest.raises(RoleNotAllowed):
            rights.submit(party, RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                          resource_id=resource.id)
    for party in (holder, buyer, rights.regulator):
        with pytest.raises(RoleNotAllowed):
            rights.claim(right.id, party)
    rights.claim(right.id)
    for party in (holder, rights.regulator):
        with pytest.raises(RoleNotAllowed):
            rights.approve(right.id, party)
    assert rights.status(right.id) == S.UNDER_REVIEW.value


# -- automatic refusals ----------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """A submission that must be refused: who submits what, and the expected violations."""

    name: str
    setup: Callable[[RightsWorld], tuple[Party, services.RightInput, list[tuple[str, str]]]]

    def __str__(self) -> str:
        return self.name


def _holding_input(resource: DataResource, **kw: object) -> services.RightInput:
    data = services.RightInput(kind=RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                               resource_id=resource.id)
    return replace(data, **kw)  # type: ignore[arg-type]


def _use_input(holding: Right, **kw: object) -> services.RightInput:
    data = services.RightInput(kind=RightKind.PROCESSING_USE, scope=USE, term=USE_TERM,
                               resource_id=holding.resource_id, parent_ids=(holding.id,))
    return replace(data, **kw)  # type: ignore[arg-type]


def _core(w: RightsWorld) -> tuple[Party, services.RightInput, list[tuple[str, str]]]:
    holder = w.party("holder")
    resource = w.resource(holder, classification=Classification.CORE)
    return holder, _holding_input(resource), [("core_data", "")]


def _personal(w: RightsWorld) -> tuple[Party, services.RightInput, list[tuple[str, str]]]:
    holder = w.party("holder")
    resource = w.resource(holder, pi_level=PILevel.SENSITIVE_PERSONAL)
    return holder, _holding_input(resource), [("personal_data_without_basis", "")]


def _anonymised(w: RightsWorld) -> tuple[Party, services.RightInput, list[tuple[str, str]]]:
    holder = w.party("holder")
    resource = w.resource(holder, pi_level=PILevel.ANONYMISED)
    return holder, _holding_input(resource), [("personal_data_without_basis", "")]


def _no_source(w: RightsWorld) -> tuple[Party, services.RightInput, list[tuple[str, str]]]:
    holder = w.party("holder")
    resource = w.resource(holder, evidence_kinds=(EvidenceKind.CONTRACT,))
    return holder, _holding_input(resource), [("source_legality_missing", "")]


def _disputed(w: RightsWorld) -> tuple[Party, services.RightInput, list[tuple[str, str]]]:
    holder = w.party("holder")
    resource = w.resource(holder)
    services.open_dispute(resource.id, "this is ours", uow=w.uow(w.operator),
        claimant_org_id=w.party("rival").org_id)
    return holder, _holding_input(resource), [("subject_disputed", "")]


def _bad_term(w: RightsWorld) -> tuple[Party, services.RightInput, list[tuple[str, str]]]:
    holder = w.party("holder")
    term = Term(START, START - DAY)
    return holder, _holding_input(w.resource(holder), term=term), [("term_invalid", "")]


def _holding_with_parent(w: RightsWorld) -> tuple[Party, services.RightInput,
                                                  list[tuple[str, str]]]:
    holder = w.party("holder")
    resource = w.resource(holder)
    parent = w.holding(holder, resource)
    return (holder, _holding_input(resource, parent_ids=(parent.id,)),
            [("wrong_parent_kind", "")])


def _use_without_parent(w: RightsWorld) -> tuple[Party, services.RightInput,
                                                 list[tuple[str, str]]]:
    holder = w.party("holder")
    holding = w.holding(holder)
    return holder, _use_input(holding, parent_ids=()), [("parent_missing", "")]


def _missing_parent(w: RightsWorld) -> tuple[Party, services.RightInput,
                                             list[tuple[str, str]]]:
    holder = w.party("holder")
    holding = w.holding(holder)
    gone = "rgt_01JD00000000000000000000GO"
    return holder, _use_input(holding, parent_ids=(gone,)), [("parent_missing", gone)]


def _pending_parent(w: RightsWorld) -> tuple[Party, services.RightInput,
                                             list[tuple[str, str]]]:
    holder = w.party("holder")
    resource = w.resource(holder)
    pending = w.submit(holder, RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                       resource_id=resource.id)
    return holder, _use_input(pending), [("parent_not_registered", pending.id)]


def _purpose(w: RightsWorld) -> tuple[Party, services.RightInput, list[tuple[str, str]]]:
    holder = w.party("holder")
    holding = w.holding(holder)
    scope = replace(USE, purposes=frozenset({"analytics", "resale"}))
    return holder, _use_input(holding, scope=scope), [("scope_exceeded", holding.id)]


def _cross_border(w: RightsWorld) -> tuple[Party, services.RightInput,
                                           list[tuple[str, str]]]:
    holder = w.party("holder")
    holding = w.holding(holder, scope=replace(WIDE, territory=Territory.DOMESTIC))
    scope = replace(USE, territory=Territory.CROSS_BORDER)
    return holder, _use_input(holding, scope=scope), [("scope_exceeded", holding.id)]


def _long_term(w: RightsWorld) -> tuple[Party, services.RightInput, list[tuple[str, str]]]:
    holder = w.party("holder")
    holding = w.holding(holder)
    assert HOLDING_TERM.valid_to is not None
    term = Term(START, HOLDING_TERM.valid_to + DAY)
    return holder, _use_input(holding, term=term), [("term_exceeded", holding.id)]


def _use_of_another_resource(w: RightsWorld) -> tuple[Party, services.RightInput,
                                                      list[tuple[str, str]]]:
    holder = w.party("holder")
    holding = w.holding(holder)
    other = w.resource(holder, title="另一个资源")
    return (holder, _use_input(holding, resource_id=other.id),
            [("wrong_parent_kind", holding.id)])


def _without_grant(w: RightsWorld) -> tuple[Party, services.RightInput,
                                            list[tuple[str, str]]]:
    holding = w.holding(w.party("holder"))
    return w.party("grantee"), _use_input(holding), [("wrong_holder", holding.id)]


def _someone_elses_grant(w: RightsWorld) -> tuple[Party, services.RightInput,
                                                  list[tuple[str, str]]]:
    holder = w.party("holder")
    holding = w.holding(holder)
    grant = w.grant(holder, holding, w.party("grantee"))
    return (w.party("intruder"), _use_input(holding, grant_id=grant.id),
            [("wrong_holder", holding.id), ("grant_invalid", "")])


def _revoked_grant(w: RightsWorld) -> tuple[Party, services.RightInput,
                                            list[tuple[str, str]]]:
    holder = w.party("holder")
    holding = w.holding(holder)
    grant = w.grant(holder, holding, w.party("grantee"))
    services.revoke_grant(grant.id, "contract ended", uow=w.uow(holder))
    return w.party("grantee"), _use_input(holding, grant_id=grant.id), [("grant_invalid", "")]


def _beyond_grant(w: RightsWorld) -> tuple[Party, services.RightInput,
                                           list[tuple[str, str]]]:
    holder = w.party("holder")
    holding = w.holding(holder)
    grant = w.grant(holder, holding, w.party("grantee"), scope=USE)
    scope = replace(USE, scenarios=frozenset({"finance", "retail"}))  # within the holding
    return (w.party("grantee"), _use_input(holding, grant_id=grant.id, scope=scope),
            [("scope_exceeded", "")])


def _product_on_product(w: RightsWorld) -> tuple[Party, services.RightInput,
                                                 list[tuple[str, str]]]:
    holder = w.party("holder")
    product = w.product(holder, w.holding(holder))
    data = services.RightInput(kind=RightKind.PRODUCT_OPERATION, scope=PRODUCT,
                               term=PRODUCT_TERM, parent_ids=(product.id,), product_title="x")
    return holder, data, [("wrong_parent_kind", product.id)]


def _product_on_anothers_right(w: RightsWorld) -> tuple[Party, services.RightInput,
                                                        list[tuple[str, str]]]:
    holding = w.holding(w.party("holder"))
    data = services.RightInput(kind=RightKind.PRODUCT_OPERATION, scope=PRODUCT,
                               term=PRODUCT_TERM, parent_ids=(holding.id,), product_title="x")
    return w.party("intruder"), data, [("wrong_holder", holding.id)]


REFUSALS = [
    Refusal("core data", _core),
    Refusal("sensitive personal data without consent", _personal),
    Refusal("anonymised data without anonymisation evidence", _anonymised),
    Refusal("holding right without source-legality evidence", _no_source),
    Refusal("resource under dispute", _disputed),
    Refusal("term ending before it starts", _bad_term),
    Refusal("holding right with a parent", _holding_with_parent),
    Refusal("processing use without a parent", _use_without_parent),
    Refusal("parent that does not exist", _missing_parent),
    Refusal("parent still under review", _pending_parent),
    Refusal("purpose beyond the parent", _purpose),
    Refusal("cross-border use on a domestic parent", _cross_border),
    Refusal("term beyond the parent", _long_term),
    Refusal("processing use of another resource's holding right", _use_of_another_resource),
    Refusal("a revoked grant", _revoked_grant),
    Refusal("scope beyond the grant", _beyond_grant),
    Refusal("product operation on a product operation right", _product_on_product),
    Refusal("product operation on another's right", _product_on_anothers_right),
]


@pytest.mark.parametrize("case", REFUSALS, ids=str)
def test_an_automatic_refusal_names_the_violations_and_writes_nothing(
    rights: RightsWorld, case: Refusal
) -> None:
    party, data, expected = case.setup(rights)
    before = rights.counts()

    with pytest.raises(RightRefused) as refused:
        services.submit_right(replace(data, evidence=[evidence(EvidenceKind.OTHER)]),
                              uow=rights.uow(party))

    assert refused.value.code == "right_refused"
    assert refused.value.status == 422
    assert [(code, right_id or "") for code, right_id in violations(refused)] == expected
    assert refused.value.errors["violations"] == [
        v.as_dict() for v in refused.value.violations]
    assert rights.counts() == before


@pytest.mark.parametrize("setup", [_without_grant, _someone_elses_grant],
                         ids=["without a grant", "with a grant naming someone else"])
def test_use_of_another_organisations_resource_needs_a_grant_naming_you(
    rights: RightsWorld,
    setup: Callable[[RightsWorld], tuple[Party, services.RightInput, list[tuple[str, str]]]],
) -> None:
    # Without a grant naming the applicant the resource is not even acknowledged: a refusal
    # would tell a stranger whether it is personal, core or disputed.
    party, data, _ = setup(rights)
    before = rights.counts()

    with pytest.raises(ResourceNotFound):
        services.submit_right(data, uow=rights.uow(party))

    assert rights.counts() == before


def test_source_legality_evidence_may_come_with_the_submission(rights: RightsWorld) -> None:
    holder = rights.party("holder")
    resource = rights.resource(holder, evidence_kinds=())

    right = rights.register(holder, RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                            resource_id=resource.id,
                            evidence_kinds=(EvidenceKind.SOURCE_LEGALITY,))

    assert right.status == S.REGISTERED.value


def test_a_holding_right_on_another_organisations_resource_is_not_found(
    rights: RightsWorld,
) -> None:
    # submit_right documents "ResourceNotFound: the subject resource does not exist (or, for
    # a holding right, is not the caller's)", and objects the caller may not see answer
    # not-found everywhere else: a refusal must not reveal that the resource exists, who
    # holds it or whether it is disputed.
    resource = rights.resource(rights.party("holder"), pi_level=PILevel.PERSONAL)
    intruder = rights.party("intruder")
    before = rights.counts()

    with pytest.raises(ResourceNotFound):
        rights.submit(intruder, RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                      resource_id=resource.id)
    assert rights.counts() == before


def test_an_unknown_resource_is_not_found(rights: RightsWorld) -> None:
    with pytest.raises(ResourceNotFound):
        rights.submit(rights.party("holder"), RightKind.RESOURCE_HOLDING, scope=WIDE,
                      term=HOLDING_TERM, resource_id="res_01JD0000000000000000000000")


def test_approval_checks_the_rules_again(rights: RightsWorld) -> None:
    holder = rights.party("holder")
    holding = rights.holding(holder)
    child = rights.submit(holder, RightKind.PROCESSING_USE, scope=USE, term=USE_TERM,
                          resource_id=holding.resource_id, parent_ids=(holding.id,))
    rights.claim(child.id)
    services.change_right_status(holding.id, S.REVOKED, "surrendered", uow=rights.uow(holder))
    before = rights.counts()

    with pytest.raises(RightRefused) as refused:
        rights.approve(child.id)

    assert violations(refused) == [("parent_not_registered", holding.id)]
    assert rights.status(child.id) == S.UNDER_REVIEW.value
    assert rights.right(child.id).certificate_number is None
    assert rights.counts() == before


def test_approval_refuses_a_resource_disputed_since_submission(rights: RightsWorld) -> None:
    holder = rights.party("holder")
    resource = rights.resource(holder)
    right = rights.submit(holder, RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                          resource_id=resource.id)
    rights.claim(right.id)
    services.open_dispute(resource.id, "ours", uow=rights.uow(rights.operator),
        claimant_org_id=rights.party("rival").org_id)

    with pytest.raises(RightRefused) as refused:
        rights.approve(right.id)

    assert codes(refused) == ["subject_disputed"]
    assert rights.status(right.id) == S.UNDER_REVIEW.value


# -- grants ----------------------------------------------------------------------------------


def test_a_holder_grants_processing_use_and_the_grantee_registers_it(
    rights: RightsWorld,
) -> None:
    holder, grantee = rights.party("holder"), rights.party("grantee")
    holding = rights.holding(holder)

    grant = rights.grant(holder, holding, grantee, evidence_kinds=(EvidenceKind.CONTRACT,))
    use = rights.use(grantee, holding, grant)

    assert (grant.status, grant.grantor_org_id, grant.grantee_org_id, grant.resource_id) == (
        "active", holder.org_id, grantee.org_id, holding.resource_id)
    assert (grant.scope, grant.term) == (GRANTED, GRANT_TERM)
    assert (use.status, use.holder_org_id, use.grant_id) == (
        S.REGISTERED.value, grantee.org_id, grant.id)
    found, parents, _ = services.get_right(use.id, uow=rights.uow(grantee))
    assert (found.id, parents) == (use.id, [holding.id])
    _, grant_evidence = services.get_grant(grant.id, uow=rights.uow(grantee))
    assert [e.kind for e in grant_evidence] == ["contract"]


@pytest.mark.parametrize("who", ["itself", "applicant", "suspended", "unknown"])
def test_a_grant_names_another_admitted_organisation(rights: RightsWorld, who: str) -> None:
    holder = rights.party("holder")
    holding = rights.holding(holder)
    if who == "itself":
        grantee_id = holder.org_id
    elif who == "unknown":
        grantee_id = "org_01JD0000000000000000000000"
    else:
        status = Status.APPLIED if who == "applicant" else Status.SUSPENDED
        grantee_id = rights.make_party("merchant", status=status.value).org_id
    before = rights.counts()

    with pytest.raises(GranteeNotAdmitted):
        services.create_grant(services.GrantInput(holding.id, grantee_id, GRANTED, GRANT_TERM),
                              uow=rights.uow(holder))
    assert rights.counts() == before


@pytest.mark.parametrize(("scope", "term", "expected"), [
    (replace(GRANTED, purposes=frozenset({"resale"})), GRANT_TERM, ["scope_exceeded"]),
    (replace(GRANTED, territory=Territory.CROSS_BORDER), GRANT_TERM, []),
    (GRANTED, Term(START, None), ["term_exceeded"]),
    (GRANTED, Term(START - DAY, START + DAY), ["term_exceeded"]),
], ids=["purpose", "cross-border within a cross-border right", "open-ended", "earlier"])
def test_a_grant_stays_within_the_holding_right(
    rights: RightsWorld, scope: Scope, term: Term, expected: list[str]
) -> None:
    holder = rights.party("holder")
    holding = rights.holding(holder)
    data = services.GrantInput(holding.id, rights.party("grantee").org_id, scope, term)
    before = rights.counts()

    if not expected:
        assert services.create_grant(data, uow=rights.uow(holder)).status == "active"
        return
    with pytest.raises(RightRefused) as refused:
        services.create_grant(data, uow=rights.uow(holder))
    assert violations(refused) == [(code, holding.id) for code in expected]
    assert rights.counts() == before


def test_a_grant_needs_a_usable_holding_right_of_the_grantor(rights: RightsWorld) -> None:
    holder, grantee = rights.party("holder"), rights.party("grantee")
    holding = rights.holding(holder)
    own_use = rights.use(holder, holding, None)

    def grant_of(right: Right, grantor: Party) -> None:
        services.create_grant(services.GrantInput(right.id, grantee.org_id, GRANTED, GRANT_TERM),
                              uow=rights.uow(grantor))

    with pytest.raises(RightNotFound):
        grant_of(holding, grantee)  # not the grantee's right
    with pytest.raises(RightNotFound):
        grant_of(own_use, holder)  # not a resource holding right
    with pytest.raises(RoleNotAllowed):
        grant_of(holding, rights.operator)
    services.change_right_status(holding.id, S.SUSPENDED, "audit", uow=rights.uow(rights.operator))
    with pytest.raises(RightRefused) as refused:
        grant_of(holding, holder)
    assert violations(refused) == [("parent_not_registered", holding.id)]


def test_revoking_a_grant_revokes_the_use_and_suspends_the_product(
    rights: RightsWorld,
) -> None:
    chain = rights.chain()
    rights.clock.advance(DAY)

    revoked = services.revoke_grant(chain.grant.id, "合同终止", uow=rights.uow(chain.holder))

    assert (revoked.status, revoked.revoked_reason, revoked.revoked_at) == (
        "revoked", "合同终止", START + DAY)
    assert rights.statuses(*chain.ids) == [S.REGISTERED, S.REVOKED, S.SUSPENDED]
    assert rights.right(chain.product.id).suspended_by == chain.use.id
    assert rights.actions(chain.use.id)[-1] == "revoked"
    assert rights.actions(chain.product.id)[-1] == "suspended"
    # revoking again changes nothing
    before = rights.counts()
    assert services.revoke_grant(chain.grant.id, "again",
                                 uow=rights.uow(chain.holder)).revoked_reason == "合同终止"
    assert rights.counts() == before


def test_revoking_a_grant_rejects_pending_registrations_on_it(rights: RightsWorld) -> None:
    holder, grantee = rights.party("holder"), rights.party("grantee")
    holding = rights.holding(holder)
    grant = rights.grant(holder, holding, grantee)
    submitted = rights.submit(grantee, RightKind.PROCESSING_USE, scope=USE, term=USE_TERM,
                              resource_id=holding.resource_id, parent_ids=(holding.id,),
                              grant_id=grant.id)
    claimed = rights.submit(grantee, RightKind.PROCESSING_USE, scope=USE, term=USE_TERM,
                            resource_id=holding.resource_id, parent_ids=(holding.id,),
                            grant_id=grant.id)
    rights.claim(claimed.id)

    services.revoke_grant(grant.id, "ended", uow=rights.uow(rights.operator))

    assert rights.statuses(submitted.id, claimed.id) == [S.REJECTED, S.REJECTED]
    assert rights.actions(submitted.id) == ["submitted", "review_claimed", "rejected"]
    assert rights.actions(claimed.id) == ["submitted", "review_claimed", "rejected"]


def test_only_the_grantor_or_the_operator_revokes_a_grant(rights: RightsWorld) -> None:
    holder, grantee = rights.party("holder"), rights.party("grantee")
    grant = rights.grant(holder, rights.holding(holder), grantee)

    with pytest.raises(NotTheHolder):
        services.revoke_grant(grant.id, "mine now", uow=rights.uow(grantee))
    with pytest.raises(NotTheHolder):
        services.revoke_grant(grant.id, "no", uow=rights.uow(rights.assessor))
    with pytest.raises(GrantNotFound):
        services.revoke_grant(grant.id, "no", uow=rights.uow(rights.party("stranger")))
    assert rights.grant_row(grant.id).status == "active"

    services.revoke_grant(grant.id, "ended", uow=rights.uow(rights.operator))
    assert rights.grant_row(grant.id).status == "revoked"


# -- status changes --------------------------------------------------------------------------


def test_a_holder_may_only_revoke_its_own_right(rights: RightsWorld) -> None:
    holder, stranger, assessor = rights.party("holder"), rights.party("stranger"), rights.assessor
    right = rights.holding(holder)
    before = rights.counts()

    for target in (S.SUSPENDED, S.REGISTERED):
        with pytest.raises(NotTheHolder) as refused:
            services.change_right_status(right.id, target, "x", uow=rights.uow(holder))
        assert refused.value.code == "not_the_holder"
    with pytest.raises(NotTheHolder):  # sees it by duty, but does not hold it
        services.change_right_status(right.id, S.REVOKED, "x", uow=rights.uow(assessor))
    with pytest.raises(RightNotFound):  # another merchant does not even see it
        services.change_right_status(right.id, S.REVOKED, "x", uow=rights.uow(stranger))
    assert rights.counts() == before

    revoked = services.change_right_status(right.id, S.REVOKED, "不再持有",
                                           uow=rights.uow(holder))
    assert (revoked.status, revoked.status_reason) == (S.REVOKED.value, "不再持有")


def test_a_regulator_cannot_change_a_right(rights: RightsWorld) -> None:
    right = rights.holding(rights.party("holder"))
    for target in (S.SUSPENDED, S.REVOKED, S.REGISTERED):
        with pytest.raises(RoleNotAllowed):
            services.change_right_status(right.id, target, "x", uow=rights.uow(rights.regulator))
    assert rights.status(right.id) == S.REGISTERED.value


def test_the_operator_suspends_reinstates_and_revokes_but_nothing_else(
    rights: RightsWorld,
) -> None:
    right = rights.holding(rights.party("holder"))
    op = rights.uow

    for target in (S.EXPIRED, S.REJECTED, S.SUBMITTED, S.UNDER_REVIEW):
        with pytest.raises(InvalidInput):
            services.change_right_status(right.id, target, "x", uow=op(rights.operator))
    with pytest.raises(InvalidTransition):
        services.change_right_status(right.id, S.REGISTERED, "x", uow=op(rights.operator))
    assert services.change_right_status(right.id, S.SUSPENDED, "x",
                                        uow=op(rights.operator)).status == "suspended"
    assert services.change_right_status(right.id, S.REGISTERED, "x",
                                        uow=op(rights.operator)).status == "registered"
    assert services.change_right_status(right.id, S.REVOKED, "x",
                                        uow=op(rights.operator)).status == "revoked"
    with pytest.raises(InvalidTransition):
        services.change_right_status(right.id, S.REGISTERED, "x", uow=op(rights.operator))


def test_history_keeps_every_change_with_its_snapshot_in_order(rights: RightsWorld) -> None:
    holder = rights.party("holder")
    right = rights.submit(holder, RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                          resource_id=rights.resource(holder).id)
    steps: list[Callable[[], object]] = [
        lambda: rights.claim(right.id, rights.assessor),
        lambda: rights.approve(right.id, rights.assessor),
        lambda: services.change_right_status(right.id, S.SUSPENDED, "核查中",
                                             uow=rights.uow(rights.operator)),
        lambda: services.change_right_status(right.id, S.REGISTERED, "核查完毕",
                                             uow=rights.uow(rights.operator)),
        lambda: services.change_right_status(right.id, S.REVOKED, "放弃",
                                             uow=rights.uow(holder)),
    ]
    for step in steps:
        rights.clock.advance(timedelta(hours=1))
        step()

    history = rights.history(right.id, holder)

    assert [(e.action, e.from_status, e.to_status) for e in history] == [
        ("submitted", None, "submitted"),
        ("review_claimed", "submitted", "under_review"),
        ("registered", "under_review", "registered"),
        ("suspended", "registered", "suspended"),
        ("reinstated", "suspended", "registered"),
        ("revoked", "registered", "revoked"),
    ]
    assert [e.at for e in history] == [START + timedelta(hours=h) for h in range(6)]
    assert [e.reason for e in history][3:] == ["核查中", "核查完毕", "放弃"]
    assert [e.actor_org_id for e in history] == [
        holder.org_id, rights.assessor.org_id, rights.assessor.org_id,
        rights.operator.org_id, rights.operator.org_id, holder.org_id]
    for event in history:
        assert event.snapshot["id"] == right.id
        assert event.snapshot["status"] == event.to_status
        assert event.snapshot["holder_org_id"] == holder.org_id
    # the certificate is issued with the move to registered, so its snapshot carries it
    assert [e.snapshot["certificate_number"] for e in history] == [
        None, None, "DR-2026-000001", "DR-2026-000001", "DR-2026-000001", "DR-2026-000001"]
    assert history[0].snapshot["valid_from"] == START.isoformat()


def test_history_pages_in_order(rights: RightsWorld) -> None:
    holder = rights.party("holder")
    right = rights.holding(holder)
    operator = rights.operator
    for n in range(3):
        services.change_right_status(right.id, S.SUSPENDED, f"s{n}", uow=rights.uow(operator))
        services.change_right_status(right.id, S.REGISTERED, f"r{n}", uow=rights.uow(operator))

    seen: list[str] = []
    after: str | None = None
    while True:
        page = services.right_history(right.id, uow=rights.uow(holder), after=after, limit=2)
        seen += [e.action for e in page.items]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == ["submitted", "review_claimed", "registered"] + [
        "suspended", "reinstated"] * 3


# -- visibility ------------------------------------------------------------------------------


def test_a_merchant_sees_only_its_own_and_duties_see_everything(rights: RightsWorld) -> None:
    chain = rights.chain()
    stranger = rights.party("stranger")
    resource_id, holding_id = chain.resource.id, chain.holding.id

    with pytest.raises(RightNotFound):
        services.get_right(holding_id, uow=rights.uow(stranger))
    with pytest.raises(RightNotFound):
        services.right_history(holding_id, uow=rights.uow(stranger))
    with pytest.raises(ResourceNotFound):
        services.get_resource(resource_id, uow=rights.uow(stranger))
    with pytest.raises(GrantNotFound):
        services.get_grant(chain.grant.id, uow=rights.uow(stranger))
    assert services.list_rights(uow=rights.uow(stranger)).items == []
    assert services.list_resources(uow=rights.uow(stranger)).items == []
    assert services.list_grants(uow=rights.uow(stranger)).items == []

    for duty in (rights.operator, rights.assessor, rights.regulator):
        assert services.get_right(holding_id, uow=rights.uow(duty))[0].id == holding_id
        assert services.get_resource(resource_id, uow=rights.uow(duty))[0].id == resource_id
        assert services.get_grant(chain.grant.id, uow=rights.uow(duty))[0].id == chain.grant.id
        listed = {r.id for r in services.list_rights(uow=rights.uow(duty)).items}
        assert set(chain.ids) <= listed

    # the grantor and the grantee both see the grant; each sees its own rights
    for party in (chain.holder, chain.grantee):
        assert services.get_grant(chain.grant.id, uow=rights.uow(party))[0].id == chain.grant.id
        assert [g.id for g in services.list_grants(uow=rights.uow(party)).items] == [
            chain.grant.id]
    assert {r.id for r in services.list_rights(uow=rights.uow(chain.grantee)).items} == {
        chain.use.id, chain.product.id}
    assert {r.id for r in services.list_rights(uow=rights.uow(chain.holder)).items} == {
        holding_id}


# -- the rights chain ------------------------------------------------------------------------


def check(rights: RightsWorld, product_id: str, at: datetime | None = None,
          ) -> services.ChainCheck:
    return services.check_chain(product_id, at or rights.clock.now(),
                                uow=rights.uow(rights.operator))


def test_a_sound_chain_returns_every_link(rights: RightsWorld) -> None:
    chain = rights.chain()

    result = check(rights, chain.product_id)

    assert (result.ok, result.broken, result.product_id) == (True, None, chain.product_id)
    assert [(link.right_id, link.kind, link.holder_org_id, link.status, link.parent_ids)
            for link in result.links] == [
        (chain.product.id, "product_operation", chain.grantee.org_id, "registered",
         [chain.use.id]),
        (chain.use.id, "processing_use", chain.grantee.org_id, "registered",
         [chain.holding.id]),
        (chain.holding.id, "resource_holding", chain.holder.org_id, "registered", []),
    ]
    product, use, _ = result.links
    assert (product.product_id, product.resource_id) == (chain.product_id, None)
    assert (use.grant_id, use.resource_id) == (chain.grant.id, chain.resource.id)
    assert [link.certificate_number for link in result.links] == [
        "DR-2026-000003", "DR-2026-000002", "DR-2026-000001"]
    assert (product.valid_from, product.valid_to) == (PRODUCT_TERM.valid_from,
                                                      PRODUCT_TERM.valid_to)


def test_a_chain_over_two_resources_reaches_both_holding_rights(rights: RightsWorld) -> None:
    chain = rights.chain()
    own = rights.holding(chain.grantee, rights.resource(chain.grantee, title="自有数据"))
    product = rights.product(chain.grantee, chain.use, own)

    result = check(rights, product.product_id or "")

    assert result.ok
    ids = [link.right_id for link in result.links]
    assert (ids[0], set(ids[1:3]), ids[3:]) == (product.id, {chain.use.id, own.id},
                                                [chain.holding.id])


def test_a_product_without_a_right_has_no_chain(rights: RightsWorld) -> None:
    result = check(rights, "prd_01JD0000000000000000000000")

    assert (result.ok, result.links) == (False, [])
    assert result.broken is not None
    assert (result.broken.code, result.broken.right_id) == ("chain_missing", None)


def test_a_pending_product_right_is_not_a_chain(rights: RightsWorld) -> None:
    holder = rights.party("holder")
    product = rights.submit(holder, RightKind.PRODUCT_OPERATION, scope=PRODUCT,
                            term=PRODUCT_TERM, parent_ids=(rights.holding(holder).id,))

    result = check(rights, product.product_id or "")

    assert result.broken is not None
    assert (result.ok, result.broken.code, result.broken.right_id) == (
        False, "right_not_registered", product.id)


# Through the services, losing any link suspends (cascade) the rights above it too. check_chain
# names the cause, not its echoes: the link that broke first, with the most specific reason.


def _revoke_holding(rights: RightsWorld, chain: Chain) -> None:
    services.change_right_status(chain.holding.id, S.REVOKED, "surrendered",
                                 uow=rights.uow(chain.holder))


def _revoke_grant(rights: RightsWorld, chain: Chain) -> None:
    services.revoke_grant(chain.grant.id, "ended", uow=rights.uow(chain.holder))


def _dispute(rights: RightsWorld, chain: Chain) -> None:
    services.open_dispute(chain.resource.id, "ours", uow=rights.uow(rights.operator),
        claimant_org_id=rights.party("rival").org_id)


def _suspend_use(rights: RightsWorld, chain: Chain) -> None:
    services.change_right_status(chain.use.id, S.SUSPENDED, "audit",
                                 uow=rights.uow(rights.operator))


@pytest.mark.parametrize(("lose", "statuses", "code", "culprit"), [
    (_revoke_holding, [S.REVOKED, S.SUSPENDED, S.SUSPENDED], "right_not_registered", "holding"),
    (_revoke_grant, [S.REGISTERED, S.REVOKED, S.SUSPENDED], "grant_invalid", "use"),
    (_dispute, [S.SUSPENDED, S.SUSPENDED, S.SUSPENDED], "subject_disputed", "use"),
    (_suspend_use, [S.REGISTERED, S.SUSPENDED, S.SUSPENDED], "right_not_registered", "use"),
], ids=["holding right revoked", "grant revoked", "resource disputed", "use suspended"])
def test_a_lost_link_is_named_as_the_cause_not_the_rights_it_suspended(
    rights: RightsWorld, lose: Callable[[RightsWorld, Chain], None], statuses: list[S],
    code: str, culprit: str,
) -> None:
    chain = rights.chain()

    lose(rights, chain)
    result = check(rights, chain.product_id)

    assert rights.statuses(*chain.ids) == statuses
    assert result.broken is not None
    assert (result.ok, result.broken.code, result.broken.right_id) == (
        False, code, getattr(chain, culprit).id)
    assert [link.right_id for link in result.links] == list(chain.ids)[::-1]


def test_a_chain_out_of_term_breaks_at_the_product_right_before_expiry_runs(
    rights: RightsWorld,
) -> None:
    chain = rights.chain()
    assert HOLDING_TERM.valid_to is not None
    rights.clock.advance(HOLDING_TERM.valid_to - START + DAY)  # past every valid_to

    result = check(rights, chain.product_id)

    assert rights.statuses(*chain.ids) == [S.REGISTERED] * 3  # nothing has expired them
    assert result.broken is not None
    assert (result.broken.code, result.broken.right_id) == ("right_not_in_term",
                                                            chain.product.id)


@pytest.mark.parametrize(("moment", "ok"), [
    (START - timedelta(microseconds=1), False),
    (START, True),
    (START + 200 * DAY, True),
    (PRODUCT_TERM.valid_to - timedelta(microseconds=1), True),  # type: ignore[operator]
    (PRODUCT_TERM.valid_to, False),
    (START + 2 * 365 * DAY, False),
], ids=["before", "first instant", "inside", "last instant", "end", "years later"])
def test_the_chain_is_checked_at_the_given_moment(
    rights: RightsWorld, moment: datetime, ok: bool
) -> None:
    chain = rights.chain()

    result = check(rights, chain.product_id, moment)

    assert (result.ok, result.at) == (ok, moment)
    if not ok:
        assert result.broken is not None
        assert (result.broken.code, result.broken.right_id) == ("right_not_in_term",
                                                                chain.product.id)


# Below the product right, check_chain names the first broken link, top down. The cascade
# keeps the product right from being usable in all of these, so the state is set directly
# (as if the cascade had not run) to check that check_chain itself finds the precise link.

def _raw_status(right: str, status: S) -> Callable[[RightsWorld, Chain], object]:
    def apply(rights: RightsWorld, chain: Chain) -> object:
        return update(Right).where(Right.id == getattr(chain, right).id).values(
            status=status.value)
    return apply


@pytest.mark.parametrize(("change", "code", "link"), [
    (_raw_status("use", S.SUSPENDED), "right_not_registered", "use"),
    (_raw_status("holding", S.REVOKED), "right_not_registered", "holding"),
    (_raw_status("holding", S.EXPIRED), "right_not_registered", "holding"),
    (lambda rights, chain: update(Grant).where(Grant.id == chain.grant.id).values(
        status="revoked"), "grant_invalid", "use"),
    (lambda rights, chain: update(DataResource).where(DataResource.id == chain.resource.id)
     .values(classification="core"), "core_data", "use"),
], ids=["use suspended", "holding revoked", "holding expired", "grant revoked", "core data"])
def test_check_chain_names_the_first_broken_link_below_the_product(
    rights: RightsWorld, change: Callable[[RightsWorld, Chain], object], code: str, link: str,
) -> None:
    chain = rights.chain()
    with rights.session_factory() as session:
        session.execute(change(rights, chain))  # type: ignore[call-overload]
        session.commit()

    result = check(rights, chain.product_id)

    assert result.broken is not None
    assert (result.ok, result.broken.code, result.broken.right_id) == (
        False, code, getattr(chain, link).id)
    assert [x.right_id for x in result.links] == chain.ids[::-1]  # the whole chain is shown


def test_check_chain_names_a_disputed_link(rights: RightsWorld) -> None:
    chain = rights.chain()
    with rights.session_factory() as session:  # an open dispute the cascade has not seen
        session.add(ResourceDispute(id="dsp_01JD0000000000000000000000",
                                    resource_id=chain.resource.id,
                                    claimant_org_id=rights.party("rival").org_id,
                                    reason="ours", status="open", opened_at=START))
        session.commit()

    result = check(rights, chain.product_id)

    assert result.broken is not None
    assert (result.broken.code, result.broken.right_id) == ("subject_disputed", chain.use.id)


def test_check_chain_prefers_the_registered_product_right(rights: RightsWorld) -> None:
    holder = rights.party("holder")
    holding = rights.holding(holder)
    first = rights.product(holder, holding)
    rights.clock.advance(DAY)
    second = rights.product(holder, holding, product_id=first.product_id)
    services.change_right_status(second.id, S.REVOKED, "mistake", uow=rights.uow(holder))

    result = check(rights, first.product_id or "")

    assert result.ok
    assert result.links[0].right_id == first.id


def test_check_chain_names_the_latest_registered_product_right_the_same_on_every_backend(
    rights: RightsWorld,
) -> None:
    # The last registered product right was revoked and a new registration of the same
    # product is still waiting for review. The chain is broken either way, but which right
    # it names must not depend on how the database sorts a NULL registered_at.
    holder = rights.party("holder")
    holding = rights.holding(holder)
    registered = rights.product(holder, holding)
    services.change_right_status(registered.id, S.REVOKED, "mistake", uow=rights.uow(holder))
    rights.clock.advance(DAY)
    pending = rights.submit(holder, RightKind.PRODUCT_OPERATION, scope=PRODUCT,
                            term=Term(START + DAY, START + 300 * DAY),
                            parent_ids=(holding.id,), product_id=registered.product_id)

    result = check(rights, registered.product_id or "")

    assert pending.status == S.SUBMITTED.value
    assert result.broken is not None
    assert (result.broken.code, result.broken.right_id) == ("right_not_registered",
                                                            registered.id)


def test_check_chain_reads_but_writes_nothing(rights: RightsWorld) -> None:
    chain = rights.chain()
    before = rights.counts()
    for moment in (START, START + 10_000 * DAY):
        check(rights, chain.product_id, moment)
    assert rights.counts() == before


def test_check_chain_accepts_any_timezone(rights: RightsWorld) -> None:
    chain = rights.chain()

    beijing = START.astimezone(ZoneInfo("Asia/Shanghai"))
    assert check(rights, chain.product_id, beijing).ok
    assert not check(rights, chain.product_id,
                     (START - timedelta(seconds=1)).astimezone(ZoneInfo("Asia/Shanghai"))).ok
