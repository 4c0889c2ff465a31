"""Organisations' signing keys and signed contracts (电子合同) over HTTP.

A key is registered pending with a challenge; only its holder's signature of the challenge
verifies it (a wrong one leaves it pending and writes nothing); revoked, it stays on record
and signs nothing more. Both parties sign an order's contract with registered keys
(secp256k1 and SM2), and the signatures verify without the platform; a signature by an
unregistered, pending, revoked or foreign key, or one that does not verify, is refused with
a problem and writes nothing; a party may decline, and the platform records it. The
delivery decision names the rule that judged the signatures. A declaration signed by a
registered key is vouched for.

Authorization of every endpoint is in ``test_authorization_matrix``.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.compliance import services as compliance
from market.compliance.models import Decision
from market.kernel.audit import AuditEntry
from market.kernel.outbox import OutboxMessage
from market.receipts.suites import sm2_public_key, sm2_sign_digest
from market.receipts.verifier import sm2_digest, sm2_verify
from market.trading.contract_signatures import ContractSignature
from tests.api.test_trading_api import Desk
from tests.conftest import Party, problem
from tests.integration.rights_fixtures import Chain, rights_fixture, signer_fixture  # noqa: F401
from tests.integration.trading_fixtures import Market, market_fixture  # noqa: F401

BUYER_KEY = Account.from_key("0x" + "21" * 32)
STRANGER_KEY = Account.from_key("0x" + "22" * 32)
SM2_PRIVATE = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
SM2_PUBLIC = sm2_public_key(SM2_PRIVATE)


@pytest.fixture
def desk(client: FlaskClient, market: Market) -> Desk:
    return Desk(client, market)


def eip191(account: LocalAccount, text: str) -> str:
    return str(account.sign_message(encode_defunct(text=text)).signature.to_0x_hex())


def sm2(message: bytes) -> str:
    return sm2_sign_digest(SM2_PRIVATE, sm2_digest(SM2_PUBLIC, message)).hex()


def keys_url(party: Party) -> str:
    return f"/organisations/{party.org_id}/signing-keys"


def register(desk: Desk, party: Party, suite: str, public_key: str) -> dict[str, Any]:
    return dict(desk.call("POST", keys_url(party), party, 201,
                          {"suite": suite, "public_key": public_key, "name": "合同章"}).json)


def verified_secp256k1(desk: Desk, party: Party, account: LocalAccount) -> dict[str, Any]:
    key = register(desk, party, "secp256k1", account.address)
    return dict(desk.call("POST", f"{keys_url(party)}/{key['id']}/verification", party, 200,
                          {"signature": eip191(account, key["challenge"])}).json)


def verified_sm2(desk: Desk, party: Party) -> dict[str, Any]:
    key = register(desk, party, "sm2", SM2_PUBLIC)
    return dict(desk.call("POST", f"{keys_url(party)}/{key['id']}/verification", party, 200,
                          {"signature": sm2(key["challenge"].encode())}).json)


def _count(session_factory: sessionmaker[Session], model: Any, **where: Any) -> int:
    with session_factory() as session:
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return int(session.scalar(stmt) or 0)


def _placed(desk: Desk) -> tuple[Chain, Party, dict[str, Any]]:
    chain = desk.market.listed()
    buyer = desk.buyer()
    order = dict(desk.place(chain, buyer).json)
    return chain, buyer, order


def _contract(desk: Desk, order_id: str, party: Party) -> dict[str, Any]:
    return dict(desk.call("GET", f"/orders/{order_id}/contract", party, 200).json)


def sign(desk: Desk, order_id: str, party: Party, key_id: str, signature: str,
         expect: int = 201) -> Any:
    return desk.call("POST", f"/orders/{order_id}/contract/signatures", party, expect,
                     {"key_id": key_id, "signature": signature})


# -- the key registry ------------------------------------------------------------------


def test_a_key_is_verified_only_by_its_holders_signature_of_its_challenge(
    desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    buyer = desk.buyer()
    key = register(desk, buyer, "secp256k1", BUYER_KEY.address.lower())
    assert key["status"] == "pending"
    assert key["public_key"] == BUYER_KEY.address  # kept checksummed
    assert f"key: {key['id']}" in key["challenge"]
    url = f"{keys_url(buyer)}/{key['id']}/verification"
    audited = _count(session_factory, AuditEntry)

    wrong = problem(desk.call("POST", url, buyer, 422,
                              {"signature": eip191(STRANGER_KEY, key["challenge"])}))
    assert wrong["code"] == "challenge_signature_invalid"
    other_text = problem(desk.call("POST", url, buyer, 422,
                                   {"signature": eip191(BUYER_KEY, "something else")}))
    assert other_text["code"] == "challenge_signature_invalid"
    (listed,) = desk.call("GET", keys_url(buyer), buyer, 200).json["items"]
    assert (listed["status"], listed["verified_at"]) == ("pending", None)
    assert _count(session_factory, AuditEntry) == audited

    verified = desk.call("POST", url, buyer, 200,
                         {"signature": eip191(BUYER_KEY, key["challenge"])}).json
    assert verified["status"] == "verified"
    assert verified["verified_at"] is not None
    again = problem(desk.call("POST", url, buyer, 409,
                              {"signature": eip191(BUYER_KEY, key["challenge"])}))
    assert again["code"] == "signing_key_not_pending"
    assert _count(session_factory, AuditEntry, action="signing_key.verified") == 1


def test_an_sm2_key_is_verified_by_its_sm2_signature_of_the_challenge(desk: Desk) -> None:
    merchant = desk.market.rights.party("sm2 merchant", "merchant")
    key = register(desk, merchant, "sm2", SM2_PUBLIC[2:].upper())  # 04 and case optional
    assert key["public_key"] == SM2_PUBLIC
    url = f"{keys_url(merchant)}/{key['id']}/verification"
    forged = sm2_sign_digest("11" * 32, sm2_digest(SM2_PUBLIC, key["challenge"].encode()))
    assert problem(desk.call("POST", url, merchant, 422, {"signature": forged.hex()}))[
        "code"] == "challenge_signature_invalid"
    verified = desk.call("POST", url, merchant, 200,
                         {"signature": sm2(key["challenge"].encode())}).json
    assert verified["status"] == "verified"


@pytest.mark.parametrize(("suite", "public_key"), [
    ("secp256k1", "0x1234"), ("secp256k1", "04" + "ab" * 64), ("sm2", "04" + "ab" * 64),
    ("sm2", BUYER_KEY.address)])
def test_a_key_that_is_not_of_its_suite_is_refused(desk: Desk, suite: str,
                                                   public_key: str) -> None:
    buyer = desk.buyer()
    found = problem(desk.call("POST", keys_url(buyer), buyer, 422,
                              {"suite": suite, "public_key": public_key}))
    assert found["code"] == "invalid_signing_key"
    assert desk.call("GET", keys_url(buyer), buyer, 200).json["items"] == []


def test_a_key_verified_by_one_organisation_cannot_be_registered_by_another(
    desk: Desk
) -> None:
    verified_secp256k1(desk, desk.buyer(), BUYER_KEY)
    other = desk.buyer("other buyer")
    assert problem(desk.call("POST", keys_url(other), other, 409, {
        "suite": "secp256k1", "public_key": BUYER_KEY.address}))["code"] == "signing_key_taken"


def test_a_revoked_key_stays_on_record_and_the_operator_and_regulators_read_it(
    desk: Desk
) -> None:
    buyer = desk.buyer()
    key = verified_secp256k1(desk, buyer, BUYER_KEY)
    revoked = desk.call("POST", f"{keys_url(buyer)}/{key['id']}/revocation", buyer, 200,
                        {"reason": "私钥保管设备遗失"}).json
    assert revoked["status"] == "revoked"
    assert revoked["revoked_at"] is not None
    assert revoked["revocation_reason"] == "私钥保管设备遗失"
    for reader in (buyer, desk.operator, desk.regulator):
        (listed,) = desk.call("GET", keys_url(buyer), reader, 200).json["items"]
        assert (listed["id"], listed["status"]) == (key["id"], "revoked")
    stranger = desk.buyer("stranger")
    assert problem(desk.call("GET", keys_url(buyer), stranger, 404))[
        "code"] == "organisation_not_found"
    assert problem(desk.call("POST", f"{keys_url(buyer)}/{key['id']}/revocation",
                             desk.operator, 403, {"reason": "x"}))["code"] == "not_own_organisation"


# -- signed contracts -------------------------------------------------------------------


def test_a_contract_signed_by_both_parties_registered_keys_verifies_and_delivers(
    desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    chain, buyer, order = _placed(desk)
    merchant = chain.grantee
    buyer_key = verified_secp256k1(desk, buyer, BUYER_KEY)
    seller_key = verified_sm2(desk, merchant)
    digest = order["contract_sha256"]

    sign(desk, order["id"], buyer, buyer_key["id"], eip191(BUYER_KEY, digest))
    desk.pay(order["id"], buyer)
    signed = sign(desk, order["id"], merchant, seller_key["id"],
                  sm2(bytes.fromhex(digest))).json

    by_party = {s["party"]: s for s in signed["signatures"]}
    assert {p: (s["act"], s["key_id"], s["suite"], s["org_id"]) for p, s in by_party.items()} == {
        "buyer": ("signed", buyer_key["id"], "secp256k1", buyer.org_id),
        "seller": ("signed", seller_key["id"], "sm2", merchant.org_id)}
    assert all(s["at"] for s in signed["signatures"])
    # Anyone holding the contract checks both signatures without the platform.
    contract = _contract(desk, order["id"], desk.regulator)
    assert contract["sha256"] == digest
    assert Account.recover_message(encode_defunct(text=contract["sha256"]),
                                   signature=by_party["buyer"]["signature"]) == BUYER_KEY.address
    assert sm2_verify(by_party["seller"]["public_key"], bytes.fromhex(contract["sha256"]),
                      bytes.fromhex(by_party["seller"]["signature"]))

    desk.upload(order["id"], merchant)
    with session_factory() as session:
        decision = session.scalars(select(Decision).where(
            Decision.subject_id == order["id"], Decision.stage == "delivery")).one()
    (verdict,) = [v for v in decision.verdicts
                  if v["rule"] == "ContractMustBeSignedByRegisteredKeys"]
    assert verdict["outcome"] == "pass"
    assert buyer_key["id"] in verdict["reason"]
    assert seller_key["id"] in verdict["reason"]
    assert decision.facts["contract"]["buyer"]["key_status"] == "verified"
    assert _count(session_factory, OutboxMessage, topic="contract.signed") == 2
    # Each signature has its receipt: the signed act, provable to anyone holding it.
    receipts_ = [r for r in desk.call("GET", f"/orders/{order['id']}", buyer, 200
                                      ).json["receipts"]
                 if r["kind"] == "order.contract_signature"]
    assert len(receipts_) == 2
    bodies = [desk.call("GET", f"/receipts/{r['id']}", merchant, 200).json["body"]
              for r in receipts_]
    assert {(b["record"]["party"], b["record"]["key_id"], b["record"]["contract_sha256"])
            for b in bodies} == {("buyer", buyer_key["id"], digest),
                                 ("seller", seller_key["id"], digest)}
    closed = problem(sign(desk, order["id"], buyer, buyer_key["id"],
                          eip191(BUYER_KEY, digest), expect=409))
    assert closed["code"] in ("contract_signing_closed", "contract_already_signed")


def _refused(desk: Desk, order_id: str, party: Party, key_id: str, signature: str,
             code: str, session_factory: sessionmaker[Session]) -> dict[str, Any]:
    audited = _count(session_factory, AuditEntry)
    found = problem(sign(desk, order_id, party, key_id, signature, expect=422))
    assert found["code"] == code, found
    assert _count(session_factory, AuditEntry) == audited
    assert _count(session_factory, ContractSignature, order_id=order_id) == 0
    assert _contract(desk, order_id, party)["signatures"] == []
    return found


def test_a_contract_signed_by_an_unregistered_or_revoked_key_is_refused(
    desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    _, buyer, order = _placed(desk)
    digest = order["contract_sha256"]
    signature = eip191(BUYER_KEY, digest)
    unknown = _refused(desk, order["id"], buyer, "skey_unknown", signature,
                       "signing_key_not_usable", session_factory)
    assert unknown["detail"] == "key skey_unknown is unregistered"

    pending = register(desk, buyer, "secp256k1", BUYER_KEY.address)
    _refused(desk, order["id"], buyer, pending["id"], signature, "signing_key_not_usable",
             session_factory)

    # Another organisation's verified key is not the buyer's to sign with.
    foreign = verified_secp256k1(desk, desk.buyer("other buyer"), STRANGER_KEY)
    _refused(desk, order["id"], buyer, foreign["id"], eip191(STRANGER_KEY, digest),
             "signing_key_not_usable", session_factory)

    key = dict(desk.call("POST", f"{keys_url(buyer)}/{pending['id']}/verification", buyer,
                         200, {"signature": eip191(BUYER_KEY, pending["challenge"])}).json)
    _refused(desk, order["id"], buyer, key["id"], eip191(BUYER_KEY, "0" * 64),
             "contract_signature_invalid", session_factory)
    _refused(desk, order["id"], buyer, key["id"], eip191(STRANGER_KEY, digest),
             "contract_signature_invalid", session_factory)

    desk.call("POST", f"{keys_url(buyer)}/{key['id']}/revocation", buyer, 200,
              {"reason": "轮换"})
    revoked = _refused(desk, order["id"], buyer, key["id"], signature,
                       "signing_key_not_usable", session_factory)
    assert revoked["detail"] == f"key {key['id']} is revoked"


def test_a_bad_signature_body_is_a_problem_and_writes_nothing(
    desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    _, buyer, order = _placed(desk)
    found = problem(sign(desk, order["id"], buyer, "skey_x", "not hex", expect=422))
    assert "signature" in found["errors"]
    assert _count(session_factory, ContractSignature) == 0


def test_declining_to_sign_is_recorded_once_and_the_other_side_still_signs(
    desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    chain, buyer, order = _placed(desk)
    merchant = chain.grantee
    declined = desk.call("POST", f"/orders/{order['id']}/contract/decline", merchant, 201,
                         {"reason": "以纸质合同另行签署"}).json
    (record,) = declined["signatures"]
    assert (record["party"], record["act"], record["reason"], record["key_id"]) == (
        "seller", "declined", "以纸质合同另行签署", None)
    twice = problem(desk.call("POST", f"/orders/{order['id']}/contract/decline", merchant,
                              409, {"reason": "again"}))
    assert twice["code"] == "contract_already_signed"
    key = verified_secp256k1(desk, buyer, BUYER_KEY)
    sign(desk, order["id"], buyer, key["id"], eip191(BUYER_KEY, order["contract_sha256"]))
    shown = _contract(desk, order["id"], desk.operator)
    assert {s["party"]: s["act"] for s in shown["signatures"]} == {
        "seller": "declined", "buyer": "signed"}
    assert _count(session_factory, OutboxMessage, topic="contract.declined") == 1
    assert _count(session_factory, AuditEntry, action="contract.declined") == 1

    desk.pay(order["id"], buyer)
    desk.upload(order["id"], merchant)  # declining does not stop the trade
    with session_factory() as session:
        decision = session.scalars(select(Decision).where(
            Decision.subject_id == order["id"], Decision.stage == "delivery")).one()
    (verdict,) = [v for v in decision.verdicts
                  if v["rule"] == "ContractMustBeSignedByRegisteredKeys"]
    assert verdict["outcome"] == "pass"
    assert "the seller declined to sign" in verdict["reason"]


def test_only_the_parties_act_on_a_contract(desk: Desk) -> None:
    _, _, order = _placed(desk)
    stranger = desk.buyer("stranger")
    assert problem(desk.call("POST", f"/orders/{order['id']}/contract/decline", stranger,
                             404, {"reason": "x"}))["code"] == "order_not_found"


# -- vouched declarations --------------------------------------------------------------

ADMISSION = {"statement": "入场承诺", "qualifications_true": True, "complies_with_rules": True,
             "not_blacklisted": True, "cooperates_with_supervision": True,
             "security_officer": "张三"}


def _admission_signature(party: Party, account: LocalAccount) -> str:
    digest = compliance.declaration_digest({
        "kind": "admission", "template": "admission@1", "org_id": party.org_id,
        "subject": {"type": "organisation", "id": party.org_id}, "answers": ADMISSION})
    return eip191(account, digest)


def _declare(desk: Desk, party: Party, signature: str | None) -> dict[str, Any]:
    made = desk.call("POST", "/declarations/admission", party, 201,
                     {**ADMISSION, "signature": signature}).json
    return dict(desk.call("GET", f"/declarations/{made['id']}", party, 200).json)


def test_a_declaration_signed_by_a_registered_key_is_vouched_for(desk: Desk) -> None:
    buyer = desk.buyer()
    unregistered = _declare(desk, buyer, _admission_signature(buyer, BUYER_KEY))
    assert unregistered["signer_address"] == BUYER_KEY.address
    assert (unregistered["vouched"], unregistered["signing_key_id"]) == (False, None)

    key = verified_secp256k1(desk, buyer, BUYER_KEY)
    vouched = _declare(desk, buyer, _admission_signature(buyer, BUYER_KEY))
    assert (vouched["vouched"], vouched["signing_key_id"]) == (True, key["id"])
    stranger = _declare(desk, buyer, _admission_signature(buyer, STRANGER_KEY))
    assert (stranger["vouched"], stranger["signing_key_id"]) == (False, None)
    assert _declare(desk, buyer, None)["vouched"] is False

    desk.call("POST", f"{keys_url(buyer)}/{key['id']}/revocation", buyer, 200,
              {"reason": "轮换"})
    after = _declare(desk, buyer, _admission_signature(buyer, BUYER_KEY))
    assert (after["vouched"], after["signing_key_id"]) == (False, None)
    # What was vouched for stays so.
    assert desk.call("GET", f"/declarations/{vouched['id']}", buyer, 200).json["vouched"]
