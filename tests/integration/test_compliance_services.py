"""Compliance against the database: declarations signed at listing submission (with and
without an organisation key), kept append-only by the database, breaches lowering the credit
record, rule decisions at submission for each outcome, and who sees what."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from market.compliance import services as compliance
from market.compliance.domain import BreachSeverity
from market.compliance.errors import (
    DecisionNotFound,
    DeclarationNotFound,
    InvalidDeclarationSignature,
)
from market.compliance.models import Decision, Declaration, DeclarationBreach
from market.kernel.errors import RoleNotAllowed
from market.listing import services as listing
from market.listing.errors import ListingRefused
from market.participants.errors import OrganisationNotFound
from market.rights.domain import Classification, EvidenceKind, PILevel
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    RightsWorld,
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_listing_services import (  # noqa: F401
    DECLARATION,
    Shop,
    _wired,
)

ORG_KEY = Account.from_key("0x" + "11" * 32)


@pytest.fixture
def shop(rights: RightsWorld) -> Shop:
    return Shop(rights)


def _submitted(shop: Shop, chain: Chain) -> tuple[Declaration, Decision]:
    with shop.rights.session_factory() as session:
        version_id = shop.versions(chain.product_id)[-1].id
        (declaration,) = session.scalars(select(Declaration)
                                         .where(Declaration.subject_id == version_id))
        (decision,) = session.scalars(select(Decision).where(Decision.subject_id == version_id))
        session.expunge_all()
    return declaration, decision


def _chain_over(shop: Shop, **resource: Any) -> Chain:
    """A full chain whose resource is registered as ``resource`` says."""
    rights = shop.rights
    holder, grantee = rights.party("holder"), rights.party("grantee")
    res = rights.resource(holder, **resource)
    holding = rights.holding(holder, res)
    grant = rights.grant(holder, holding, grantee, evidence_kinds=(EvidenceKind.CONSENT,))
    use = rights.use(grantee, holding, grant)
    product = rights.product(grantee, use)
    return Chain(holder, grantee, res, holding, rights.grant_row(use.grant_id or ""), use,
                 product)


# -- signing ---------------------------------------------------------------------------


def test_an_organisation_key_signature_is_verified_and_its_address_kept(shop: Shop) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    version_id = shop.versions(chain.product_id)[0].id
    document = {"kind": "listing", "template": "listing@1", "org_id": chain.grantee.org_id,
                "subject": {"type": "product_version", "id": version_id},
                "answers": DECLARATION}
    digest = compliance.declaration_digest(document)
    signature = ORG_KEY.sign_message(encode_defunct(text=digest)).signature.to_0x_hex()

    listing.submit_listing(chain.product_id, DECLARATION, signature=signature,
                           uow=shop.uow(chain.grantee))

    declaration, decision = _submitted(shop, chain)
    assert declaration.sha256 == digest
    assert (declaration.signer_address, declaration.signature) == (ORG_KEY.address, signature)
    assert decision.declaration_id == declaration.id


def test_a_signature_over_other_answers_recovers_another_address(shop: Shop) -> None:
    """A signature always recovers some address; the declaration keeps the one it recovers
    over *its* digest, so a signature made over other answers names a stranger."""
    chain = shop.rights.chain()
    shop.draft(chain)
    other = ORG_KEY.sign_message(encode_defunct(text="0" * 64)).signature.to_0x_hex()
    listing.submit_listing(chain.product_id, DECLARATION, signature=other,
                           uow=shop.uow(chain.grantee))
    declaration, _ = _submitted(shop, chain)
    assert declaration.signer_address != ORG_KEY.address


def test_a_signature_that_recovers_nothing_is_refused_and_nothing_is_written(
    shop: Shop
) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    before = shop.counts()
    with pytest.raises(InvalidDeclarationSignature):
        listing.submit_listing(chain.product_id, DECLARATION, signature="0x" + "00" * 65,
                               uow=shop.uow(chain.grantee))
    assert shop.counts() == before
    assert shop.statuses(chain.product_id) == ["draft"]


@pytest.mark.parametrize("statement", [
    "UPDATE declarations SET answers = '{}'",
    "DELETE FROM declarations",
    "UPDATE decisions SET outcome = 'pass'",
    "DELETE FROM decisions",
    "UPDATE declaration_breaches SET severity = 'minor'",
    "DELETE FROM declaration_breaches",
    "UPDATE filings SET amount = 0",
    "DELETE FROM filings",
])
def test_declarations_decisions_and_breaches_are_append_only_in_the_database(
    shop: Shop, connection: Connection, statement: str
) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    shop.submit(chain)
    declaration, _ = _submitted(shop, chain)
    compliance.record_breach(declaration.id, BreachSeverity.MINOR, "逾期未整改", [],
                             uow=shop.uow(shop.rights.operator))
    compliance.report_off_exchange(compliance.OffExchangeReport(
        role="seller", counterparty_org_id=chain.holder.org_id, product_title="场外数据",
        sector="能源", product_type="dataset", amount=10, currency="CNY",
        concluded_at=shop.rights.clock.now(), evidence_sha256=["ef" * 32]),
        uow=shop.uow(chain.grantee))
    savepoint = connection.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text(statement))
    savepoint.rollback()


# -- breaches and credit ---------------------------------------------------------------


def test_breaches_are_recorded_by_the_operator_and_lower_the_credit_record(
    shop: Shop
) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    shop.submit(chain)
    declaration, _ = _submitted(shop, chain)
    operator = shop.rights.operator
    merchant = chain.grantee
    assert compliance.credit_record(merchant.org_id, uow=shop.uow(merchant)).score == 100

    for severity in (BreachSeverity.MINOR, BreachSeverity.SERIOUS):
        compliance.record_breach(declaration.id, severity, "超出声明场景使用",
                                 ["ab" * 32], uow=shop.uow(operator))

    record = compliance.credit_record(merchant.org_id, uow=shop.uow(merchant))
    assert record.score == 75
    assert [b.severity for b in record.breaches] == ["minor", "serious"]
    _, breaches = compliance.get_declaration(declaration.id, uow=shop.uow(merchant))
    assert [b.evidence_sha256 for b in breaches] == [["ab" * 32]] * 2
    assert shop.outbox("compliance.breach_recorded")[0][1]["org_id"] == merchant.org_id


@pytest.mark.parametrize("who", ["merchant", "regulator", "assessor"])
def test_only_the_operator_records_breaches(shop: Shop, who: str) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    shop.submit(chain)
    declaration, _ = _submitted(shop, chain)
    caller = chain.grantee if who == "merchant" else shop.rights.party(who, who)
    with pytest.raises(RoleNotAllowed):
        compliance.record_breach(declaration.id, BreachSeverity.GRAVE, "x", [],
                                 uow=shop.uow(caller))
    with shop.rights.session_factory() as session:
        assert session.scalars(select(DeclarationBreach)).all() == []


def test_credit_records_are_private_to_their_organisation_and_staff(shop: Shop) -> None:
    merchant = shop.rights.party("merchant")
    other = shop.rights.party("other")
    regulator = shop.rights.party("regulator", "regulator")
    with pytest.raises(OrganisationNotFound):
        compliance.credit_record(merchant.org_id, uow=shop.uow(other))
    assert compliance.credit_record(merchant.org_id, uow=shop.uow(regulator)).score == 100
    with pytest.raises(OrganisationNotFound):
        compliance.credit_record("org_01J00000000000000000000000", uow=shop.uow(regulator))


# -- who sees declarations and decisions ---------------------------------------------------


def test_declarations_and_decisions_are_seen_by_their_organisation_and_staff(
    shop: Shop
) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    shop.submit(chain)
    declaration, decision = _submitted(shop, chain)
    stranger = shop.rights.party("stranger")
    for staff in ("operator", "assessor", "regulator"):
        party = shop.rights.operator if staff == "operator" else shop.rights.party(staff, staff)
        assert compliance.get_declaration(declaration.id, uow=shop.uow(party))[0].id == \
            declaration.id
        assert compliance.get_decision(decision.id, uow=shop.uow(party)).id == decision.id
    with pytest.raises(DeclarationNotFound):
        compliance.get_declaration(declaration.id, uow=shop.uow(stranger))
    with pytest.raises(DecisionNotFound):
        compliance.get_decision(decision.id, uow=shop.uow(stranger))
    assert compliance.list_declarations(uow=shop.uow(stranger)).items == []
    assert compliance.list_decisions(uow=shop.uow(stranger)).items == []
    mine = compliance.list_declarations(uow=shop.uow(chain.grantee), kind="listing")
    assert [d.id for d in mine.items] == [declaration.id]


# -- outcomes at submission ----------------------------------------------------------------


def test_personal_data_with_consent_passes_and_sensitive_data_awaits_review(
    shop: Shop
) -> None:
    personal = _chain_over(shop, pi_level=PILevel.PERSONAL, evidence_kinds=(
        EvidenceKind.SOURCE_LEGALITY, EvidenceKind.CONSENT))
    shop.draft(personal)
    answers = {**DECLARATION, "contains_personal_information": True,
               "personal_information_basis": "consent"}
    assert shop.submit(personal, answers).version.status == "submitted"
    assert _submitted(shop, personal)[1].outcome == "pass"


def test_important_data_declared_for_use_abroad_waits_for_an_assessment(shop: Shop) -> None:
    chain = _chain_over(shop, classification=Classification.IMPORTANT)
    shop.draft(chain)
    answers = {**DECLARATION, "contains_important_data": True, "cross_border": True}
    assert shop.submit(chain, answers).version.status == "submitted"
    _, decision = _submitted(shop, chain)
    assert decision.outcome == "needs_assessment"
    assert [v.rule for v in compliance.failing(decision)] == [
        "ImportantDataAbroadNeedsSecurityAssessment"]


def test_personal_data_declared_without_a_basis_is_refused_writing_only_the_decision(
    shop: Shop
) -> None:
    personal = _chain_over(shop, pi_level=PILevel.PERSONAL, evidence_kinds=(
        EvidenceKind.SOURCE_LEGALITY, EvidenceKind.CONSENT))
    shop.draft(personal)
    before = shop.counts()
    answers = {**DECLARATION, "contains_personal_information": True}
    with pytest.raises(ListingRefused) as raised:
        shop.submit(personal, answers)
    assert [v["rule"] for v in raised.value.violations] == [
        "PersonalInfoNeedsConsentOrAnonymisation"]
    assert shop.counts() == before.with_refusal()
    with shop.rights.session_factory() as session:
        (decision,) = session.scalars(select(Decision))
        assert decision.outcome == "block"
        assert decision.facts["declaration"] == answers
        assert decision.facts["product"]["pi_level"] == "personal"


def test_a_suspended_seller_is_refused_by_the_rules_too(shop: Shop, system_uow: Any) -> None:
    """The web layer refuses keys of organisations not admitted; the rules refuse them
    again for any other caller of the service."""
    from market.participants import services as participants
    from market.participants.domain import Status

    chain = shop.rights.chain()
    shop.draft(chain)
    participants.change_status(chain.grantee.org_id, Status.SUSPENDED, "整改",
                               uow=system_uow())
    with pytest.raises(ListingRefused) as raised:
        shop.submit(chain)
    assert [v["rule"] for v in raised.value.violations] == ["ParticipantsMustBeAdmitted"]
