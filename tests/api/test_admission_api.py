"""The admission-documents, identity and credit-mark endpoints over HTTP: uploads checked
against their SHA-256, identity numbers never shown, bad input answered with a problem that
writes nothing, and the public credit mark."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import func, select

from market.participants.models import OrganisationDocument, OrganisationIdentity
from market.trading import services as trading
from tests.api.test_smoke import ADMISSION
from tests.conftest import problem
from tests.papers import application_papers, document, resident_id, verify_documents

API = "/api/v1"


def apply(client, **papers):  # type: ignore[no-untyped-def]
    body = {"name": "申请方", "credit_code": "91350100M000100Y43", "contact_name": "张三",
            "contact_email": "zhang@example.cn", "roles": ["merchant"],
            **application_papers(), **papers}
    created = client.post(f"{API}/participants", json=body)
    assert created.status_code == 201, created.json
    token = created.json["api_key"]["token"]
    return created.json["organisation"]["id"], {"Authorization": f"Bearer {token}"}


def count(session_factory, model) -> int:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_an_application_keeps_its_documents_and_never_shows_an_identity_number(
    client, operator, make_party,
) -> None:
    org_id, headers = apply(client)
    listed = client.get(f"{API}/organisations/{org_id}/documents", headers=headers).json
    assert sorted(d["kind"] for d in listed["items"]) == [
        "business_licence", "data_security_officer", "legal_representative"]
    assert {d["status"] for d in listed["items"]} == {"submitted"}

    identity = client.get(f"{API}/organisations/{org_id}/identity", headers=operator.headers)
    assert identity.status_code == 200
    number = resident_id(1)
    assert identity.json["legal_representative_hint"] == "*" * 14 + number[-4:]
    assert number not in identity.text
    assert identity.json["security_officer_name"] == "王安全"

    stranger = make_party("buyer")
    assert client.get(f"{API}/organisations/{org_id}/identity",
                      headers=stranger.headers).status_code == 404
    assert client.get(f"{API}/organisations/{org_id}/documents",
                      headers=stranger.headers).status_code == 404


def test_an_upload_is_stored_by_its_sha256_and_a_mismatch_is_refused(
    client, operator, session_factory, settings,
) -> None:
    org_id, headers = apply(client)
    renewal = document("business_licence", n=7, upload=True)
    stored = client.post(f"{API}/organisations/{org_id}/documents", json=renewal,
                         headers=headers)
    assert stored.status_code == 201, stored.json
    assert stored.json["stored"] is True
    sha = renewal["sha256"]
    assert (settings.instance_path / "evidence" / sha[:2] / sha).read_bytes() == \
        b"business_licence scan #7"

    before = count(session_factory, OrganisationDocument)
    wrong = {**renewal, "sha256": hashlib.sha256(b"other").hexdigest()}
    refused = client.post(f"{API}/organisations/{org_id}/documents", json=wrong,
                          headers=headers)
    assert (refused.status_code, problem(refused)["code"]) == (422, "document_mismatch")
    backwards = {**document("business_licence"), "issued_on": "2030-01-01",
                 "expires_on": "2029-01-01"}
    refused = client.post(f"{API}/organisations/{org_id}/documents", json=backwards,
                          headers=headers)
    assert refused.status_code == 422
    assert "expires_on" in problem(refused)["errors"]
    assert count(session_factory, OrganisationDocument) == before


def test_a_bad_identity_number_refuses_the_application_and_writes_nothing(
    client, session_factory,
) -> None:
    number = resident_id(3)
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    before = count(session_factory, OrganisationIdentity)
    refused = client.post(f"{API}/participants", json={
        "name": "申请方", "credit_code": "91350100M000100Y43", "contact_name": "张三",
        "contact_email": "zhang@example.cn", "roles": ["merchant"],
        **application_papers(), "legal_representative": {"name": "张", "id_number": wrong}})
    assert (refused.status_code, problem(refused)["code"]) == (422, "invalid_identity_number")
    assert count(session_factory, OrganisationIdentity) == before
    assert count(session_factory, OrganisationDocument) == 0  # the application was refused


def test_review_answers_a_problem_for_a_second_review_and_a_foreign_document(
    client, operator,
) -> None:
    org_id, _ = apply(client)
    (first, *_) = verify_documents(client, operator.headers, org_id)
    again = client.post(f"{API}/organisations/{org_id}/documents/{first['id']}/review",
                        json={"decision": "rejected", "note": "再审"}, headers=operator.headers)
    assert (again.status_code, problem(again)["code"]) == (409, "document_already_reviewed")
    missing = client.post(f"{API}/organisations/{org_id}/documents/doc_nope/review",
                          json={"decision": "verified", "note": "x"}, headers=operator.headers)
    assert (missing.status_code, problem(missing)["code"]) == (404, "document_not_found")
    bad = client.post(f"{API}/organisations/{org_id}/documents/{first['id']}/review",
                      json={"decision": "maybe"}, headers=operator.headers)
    assert bad.status_code == 422
    assert set(problem(bad)["errors"]) == {"decision", "note"}


def test_the_credit_mark_is_public_once_computed(client, make_party, system_uow, clock) -> None:
    merchant = make_party("merchant")
    assert problem(client.get(f"{API}/organisations/{merchant.org_id}/credit"))["code"] == \
        "credit_mark_not_found"
    trading.recompute_credit_marks(uow=system_uow())
    answer = client.get(f"{API}/organisations/{merchant.org_id}/credit")
    assert answer.status_code == 200
    assert (answer.json["score"], answer.json["grade"]) == (100, "A")
    assert set(answer.json["components"]) == {"fulfilment", "disputes", "breaches",
                                              "sanctions"}
    clock.advance(timedelta(days=1))
    assert client.get(f"{API}/organisations/org_nope/credit").status_code == 404


def test_once_admitted_only_the_operator_records_an_identity_change(
    client, operator, session_factory,
) -> None:
    org_id, headers = apply(client)
    change = {"legal_representative": {"name": "新代表", "id_number": resident_id(2)}}
    # The applicant corrects its own record before admission.
    assert client.put(f"{API}/organisations/{org_id}/identity", headers=headers,
                      json=change).status_code == 200
    assert client.post(f"{API}/declarations/admission", headers=headers,
                       json=ADMISSION).status_code == 201
    verify_documents(client, operator.headers, org_id)
    admitted = client.post(f"{API}/participants/{org_id}/status-changes",
                           headers=operator.headers,
                           json={"status": "admitted", "reason": "材料齐全"})
    assert admitted.status_code == 200, admitted.json
    with session_factory() as session:
        before = session.get(OrganisationIdentity, org_id).legal_representative_digest
    # Admitted, it cannot move its legal representative away from a related party itself.
    other = {"legal_representative": {"name": "他人", "id_number": resident_id(3)}}
    refused = client.put(f"{API}/organisations/{org_id}/identity", headers=headers, json=other)
    assert (refused.status_code, problem(refused)["code"]) == (
        409, "identity_change_needs_operator")
    with session_factory() as session:
        assert session.get(OrganisationIdentity, org_id).legal_representative_digest == before
    # The operator records the change upon the documents that show it.
    assert client.put(f"{API}/organisations/{org_id}/identity", headers=operator.headers,
                      json=other).status_code == 200
    with session_factory() as session:
        assert session.get(OrganisationIdentity, org_id).legal_representative_digest != before
