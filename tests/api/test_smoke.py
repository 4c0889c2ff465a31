from tests.conftest import problem
from tests.papers import application_papers, verify_documents

ADMISSION = {"statement": "本机构承诺如实提交材料并遵守交易规则", "qualifications_true": True,
             "complies_with_rules": True, "not_blacklisted": True,
             "cooperates_with_supervision": True, "security_officer": "王五（数据安全负责人）"}


def test_application_then_admission_lets_the_key_work(client, operator, make_party):
    body = {"name": "申请方科技", "credit_code": "91350100M000100Y43", "contact_name": "张三",
            "contact_email": "zhang@example.cn", "roles": ["buyer", "merchant"],
            **application_papers()}
    created = client.post("/api/v1/participants", json=body)
    assert created.status_code == 201
    org_id = created.json["organisation"]["id"]
    headers = {"Authorization": f"Bearer {created.json['api_key']['token']}"}
    assert created.json["organisation"]["status"] == "applied"
    assert client.get("/api/v1/keys", headers=headers).status_code == 403
    assert client.get(f"/api/v1/participants/{org_id}", headers=headers).status_code == 200

    # No admission before the applicant makes its admission commitment (入场承诺).
    early = client.post(f"/api/v1/participants/{org_id}/status-changes",
                        json={"status": "admitted", "reason": "材料齐全"},
                        headers=operator.headers)
    assert problem(early)["code"] == "admission_commitment_missing"
    committed = client.post("/api/v1/declarations/admission", headers=headers,
                            json={**ADMISSION, "not_blacklisted": False})
    assert committed.status_code == 201, committed.json
    half = client.post(f"/api/v1/participants/{org_id}/status-changes",
                       json={"status": "admitted", "reason": "材料齐全"},
                       headers=operator.headers)
    assert problem(half)["code"] == "admission_commitment_missing"
    assert "not_blacklisted" in problem(half)["detail"]
    committed = client.post("/api/v1/declarations/admission", headers=headers, json=ADMISSION)
    assert (committed.json["kind"], committed.json["subject_id"]) == ("admission", org_id)
    assert client.get(f"/api/v1/participants/{org_id}",
                      headers=operator.headers).json["status"] == "applied"

    # Nor before the operator has verified its documents (主体资格).
    unverified = client.post(f"/api/v1/participants/{org_id}/status-changes",
                             json={"status": "admitted", "reason": "材料齐全"},
                             headers=operator.headers)
    assert problem(unverified)["code"] == "admission_documents_missing"
    assert "business_licence (营业执照) is unverified" in problem(unverified)["detail"]
    verify_documents(client, operator.headers, org_id)

    decided = client.post(f"/api/v1/participants/{org_id}/status-changes",
                          json={"status": "admitted", "reason": "材料齐全"},
                          headers=operator.headers)
    assert decided.status_code == 200, decided.json
    assert decided.json["status"] == "admitted"
    assert client.get("/api/v1/keys", headers=headers).status_code == 200


def test_invalid_credit_code_is_refused(client):
    body = {"name": "x", "credit_code": "91350100M000100Y44", "contact_name": "a",
            "contact_email": "a@example.cn", "roles": ["buyer"]}
    response = client.post("/api/v1/participants", json=body)
    assert response.status_code == 422
    assert problem(response)["code"] == "invalid_credit_code"
