"""Admission with documents (主体资格, 实名制) over the real services and database: the
operator admits an applicant only with every required document verified and in force; the
worker's duty reminds of a document about to expire once per threshold, suspends an admitted
organisation once a document has expired, and a verified renewal restores it. The
documents rule refuses a listing of a participant whose document expired before the duty
ran."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from market import wiring
from market.compliance import services as compliance
from market.kernel.clock import FixedClock
from market.kernel.outbox import OutboxMessage
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.documents import DocumentKind
from market.participants.errors import AdmissionDocumentsMissing
from market.participants.models import Organisation, OrganisationDocument, StatusChange
from market.participants.services import Status
from tests.conftest import START, Party
from tests.integration.rights_fixtures import actor_for
from tests.papers import document_input, papers

COMMITMENT = {"statement": "如实提交材料", "qualifications_true": True,
              "complies_with_rules": True, "not_blacklisted": True,
              "cooperates_with_supervision": True}
REMIND = (30, 7)
EXPIRES = (START + timedelta(days=60)).date()


@pytest.fixture(autouse=True)
def _wired() -> None:
    wiring.connect()


def applicant(system_uow: Callable[[], UnitOfWork], session_factory: sessionmaker[Session],
              clock: FixedClock, **kwargs: object) -> Party:
    """An applicant that signed its admission commitment, with the papers given."""
    code = participants.random_credit_code()
    reg = participants.apply_for_admission(
        participants.OrganisationInput(
            name="申请方", credit_code=code, contact_name="张三",
            contact_email=f"apply-{code.lower()}@example.cn", roles=frozenset({"merchant"})),
        uow=system_uow(), key_ttl=timedelta(days=30), papers=papers(**kwargs))  # type: ignore[arg-type]
    party = Party(reg.organisation.id, reg.user.id, reg.api_key.key.id, reg.api_key.token,
                  ("merchant",))
    compliance.commit_to_admission(COMMITMENT, uow=UnitOfWork(
        session_factory, clock, replace(actor_for(party), org_status="applied")))
    return party


def documents(session_factory: sessionmaker[Session], org_id: str) -> list[OrganisationDocument]:
    with session_factory() as session:
        return list(session.scalars(select(OrganisationDocument).where(
            OrganisationDocument.organisation_id == org_id).order_by(OrganisationDocument.id)))


def status(session_factory: sessionmaker[Session], org_id: str) -> tuple[str, str | None]:
    with session_factory() as session:
        org = session.get(Organisation, org_id)
        assert org is not None
        return org.status, org.status_reason


def verify_all(operator_uow: Callable[[], UnitOfWork], session_factory: sessionmaker[Session],
               org_id: str) -> None:
    for doc in documents(session_factory, org_id):
        if doc.status == "submitted":
            participants.review_document(org_id, doc.id, True, "与原件一致",
                                         uow=operator_uow())


def outbox(session_factory: sessionmaker[Session], topic: str) -> list[dict[str, object]]:
    with session_factory() as session:
        return [dict(m.payload) for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == topic).order_by(OutboxMessage.id))]


def test_admission_is_refused_without_documents_and_allowed_with_them(
    system_uow, session_factory, clock, operator,
) -> None:
    bare = applicant(system_uow, session_factory, clock, kinds=())
    with pytest.raises(AdmissionDocumentsMissing) as refused:
        participants.change_status(bare.org_id, Status.ADMITTED, "材料齐全", uow=system_uow())
    assert "business_licence (营业执照) is missing" in str(refused.value)
    assert status(session_factory, bare.org_id)[0] == "applied"

    partial = applicant(system_uow, session_factory, clock,
                        kinds=(DocumentKind.BUSINESS_LICENCE, DocumentKind.LEGAL_REPRESENTATIVE))
    verify_all(system_uow, session_factory, partial.org_id)
    with pytest.raises(AdmissionDocumentsMissing) as refused:
        participants.change_status(partial.org_id, Status.ADMITTED, "材料齐全", uow=system_uow())
    assert str(refused.value) == "data_security_officer (数据安全负责人任命书) is missing"

    unverified = applicant(system_uow, session_factory, clock)
    with pytest.raises(AdmissionDocumentsMissing, match="is unverified"):
        participants.change_status(unverified.org_id, Status.ADMITTED, "材料齐全",
                                   uow=system_uow())

    expired = applicant(system_uow, session_factory, clock,
                        expires_on=(START - timedelta(days=1)).date())
    verify_all(system_uow, session_factory, expired.org_id)
    with pytest.raises(AdmissionDocumentsMissing, match="is expired since 2026-11-20"):
        participants.change_status(expired.org_id, Status.ADMITTED, "材料齐全", uow=system_uow())

    verify_all(system_uow, session_factory, unverified.org_id)
    participants.change_status(unverified.org_id, Status.ADMITTED, "材料齐全", uow=system_uow())
    assert status(session_factory, unverified.org_id) == ("admitted", "材料齐全")


def _admitted(system_uow, session_factory, clock) -> Party:
    party = applicant(system_uow, session_factory, clock, expires_on=EXPIRES)
    verify_all(system_uow, session_factory, party.org_id)
    participants.change_status(party.org_id, Status.ADMITTED, "材料齐全", uow=system_uow())
    return party


def test_an_expiring_document_raises_the_reminder_once_per_threshold(
    system_uow, session_factory, clock, operator,
) -> None:
    party = _admitted(system_uow, session_factory, clock)
    duty = lambda: participants.run_document_duties(uow=system_uow(), reminder_days=REMIND)  # noqa: E731

    assert duty().reminded == []  # 60 days left
    clock.advance(timedelta(days=31))  # 29 days left: the 30-day reminder, one per document
    first = duty()
    assert len(first.reminded) == 3
    assert duty().reminded == []  # not twice
    clock.advance(timedelta(days=1))
    assert duty().reminded == []
    clock.advance(timedelta(days=22))  # 6 days left: the 7-day reminder
    assert len(duty().reminded) == 3
    assert duty().reminded == []

    sent = [m for m in outbox(session_factory, participants.EXPIRING_TOPIC)
            if m["organisation_id"] == party.org_id]
    assert sorted((m["kind"], m["threshold_days"]) for m in sent) == sorted(
        (k.value, t) for k in DocumentKind for t in (30, 7))
    assert {m["expires_on"] for m in sent} == {EXPIRES.isoformat()}
    assert status(session_factory, party.org_id)[0] == "admitted"


def test_an_expired_document_suspends_trading_and_its_renewal_restores_it(
    system_uow, session_factory, clock, operator,
) -> None:
    party = _admitted(system_uow, session_factory, clock)
    licence = next(d for d in documents(session_factory, party.org_id)
                   if d.kind == "business_licence")
    clock.advance(timedelta(days=60))  # the last valid day: still in force
    assert participants.run_document_duties(uow=system_uow(), reminder_days=()).suspended == []

    clock.advance(timedelta(days=1))
    run = participants.run_document_duties(uow=system_uow(), reminder_days=())
    assert run.suspended == [party.org_id]
    state, reason = status(session_factory, party.org_id)
    assert state == "suspended"
    assert reason is not None
    assert f"business_licence {licence.id}" in reason
    # The operator cannot reinstate it while the documents have expired.
    with pytest.raises(AdmissionDocumentsMissing, match="business_licence"):
        participants.change_status(party.org_id, Status.ADMITTED, "复核", uow=system_uow())

    # Renewing one document is not enough; renewing all three restores it.
    uow = lambda: UnitOfWork(session_factory, clock, actor_for(party))  # noqa: E731
    later = date(2031, 12, 31)
    renewals = {k: participants.submit_document(
        party.org_id, document_input(k, n=1, expires_on=later), uow=uow())
        for k in DocumentKind}
    participants.review_document(party.org_id, renewals[DocumentKind.BUSINESS_LICENCE].id,
                                 True, "新执照", uow=system_uow())
    assert status(session_factory, party.org_id)[0] == "suspended"
    for kind in (DocumentKind.LEGAL_REPRESENTATIVE, DocumentKind.DATA_SECURITY_OFFICER):
        participants.review_document(party.org_id, renewals[kind].id, True, "已更新",
                                     uow=system_uow())
    assert status(session_factory, party.org_id) == ("admitted", "admission documents renewed")
    by_id = {d.id: d for d in documents(session_factory, party.org_id)}
    assert by_id[licence.id].status == "superseded"
    assert by_id[renewals[DocumentKind.BUSINESS_LICENCE].id].replaces_id == licence.id
    assert participants.run_document_duties(uow=system_uow(), reminder_days=()).suspended == []
    with session_factory() as session:
        moves = [(c.from_status, c.to_status) for c in session.scalars(
            select(StatusChange).where(StatusChange.organisation_id == party.org_id)
            .order_by(StatusChange.at, StatusChange.id))]
    assert moves[-2:] == [("admitted", "suspended"), ("suspended", "admitted")]


def test_a_suspension_for_another_reason_is_not_lifted_by_a_renewal(
    system_uow, session_factory, clock, operator,
) -> None:
    party = _admitted(system_uow, session_factory, clock)
    participants.change_status(party.org_id, Status.SUSPENDED, "监管责令暂停", uow=system_uow())
    renewal = participants.submit_document(
        party.org_id, document_input(DocumentKind.BUSINESS_LICENCE, n=2),
        uow=UnitOfWork(session_factory, clock, actor_for(party)))
    participants.review_document(party.org_id, renewal.id, True, "新执照", uow=system_uow())
    assert status(session_factory, party.org_id) == ("suspended", "监管责令暂停")


def test_a_reviewed_document_cannot_be_reviewed_again_and_a_foreign_one_is_not_found(
    system_uow, session_factory, clock, operator, make_party,
) -> None:
    from market.participants.errors import DocumentAlreadyReviewed, DocumentNotFound

    party = applicant(system_uow, session_factory, clock)
    other = make_party("buyer")
    doc = documents(session_factory, party.org_id)[0]
    participants.review_document(party.org_id, doc.id, False, "模糊不清", uow=system_uow())
    with pytest.raises(DocumentAlreadyReviewed):
        participants.review_document(party.org_id, doc.id, True, "再看", uow=system_uow())
    with pytest.raises(DocumentNotFound):
        participants.review_document(other.org_id, doc.id, True, "张冠李戴", uow=system_uow())
    assert documents(session_factory, party.org_id)[0].status == "rejected"
