"""The rule ContractMustBeSignedByRegisteredKeys, judged on facts passed by value: each
party's act on the contract as the delivery gate gathers it (a signature checked again
against the key registry as it stood when it was made, a decline, or nothing)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from market.compliance.domain import Facts, Outcome, PartyFacts, ProductFacts, Stage, evaluate
from market.compliance.rules.contracts import contract_must_be_signed_by_registered_keys
from market.participants.signatures import (
    SigningSuite,
    challenge_text,
    normalise_public_key,
    verify_digest,
    verify_text,
)

RULE = "ContractMustBeSignedByRegisteredKeys"
SELLER = PartyFacts("org_seller", "admitted", frozenset({"merchant"}))
BUYER = PartyFacts("org_buyer", "admitted", frozenset({"buyer"}))
PRODUCT = ProductFacts(classification="general", pi_level="none", consent_evidence=True,
                       anonymisation_evidence=True, security_assessment=False,
                       scenarios=("信用评估",), cross_border_allowed=False)
SIGNED = {"org_id": "org_buyer", "act": "signed", "key_id": "skey_b", "suite": "secp256k1",
          "key_status": "verified", "verifies": True}
DECLINED = {"org_id": "org_seller", "act": "declined", "reason": "纸质合同"}
UNSIGNED = {"org_id": "org_seller", "act": "unsigned"}


def delivery(contract: dict[str, Any] | None) -> Facts:
    return Facts(stage=Stage.DELIVERY, seller=SELLER, buyer=BUYER, product=PRODUCT,
                 chain_ok=True, commitment={}, contract=contract)


def judged(buyer: dict[str, Any], seller: dict[str, Any], required: bool = False,
           ) -> tuple[Outcome, str]:
    verdict = contract_must_be_signed_by_registered_keys(delivery(
        {"contract_sha256": "ab" * 32, "required": required, "buyer": buyer,
         "seller": seller}))
    assert verdict.rule == RULE
    return verdict.outcome, verdict.reason


def test_it_passes_where_no_contract_is_judged() -> None:
    verdict = contract_must_be_signed_by_registered_keys(delivery(None))
    assert verdict.outcome is Outcome.PASS
    assert RULE in [v.rule for v in evaluate(delivery(None))[1]]


def test_signatures_by_registered_keys_pass_and_say_whose() -> None:
    outcome, reason = judged(SIGNED, {**SIGNED, "org_id": "org_seller", "key_id": "skey_s",
                                      "suite": "sm2"})
    assert outcome is Outcome.PASS
    assert reason == ("the buyer signed with key skey_b (secp256k1); "
                      "the seller signed with key skey_s (sm2)")


@pytest.mark.parametrize("status", ["revoked", "pending", "unregistered"])
def test_a_signature_by_a_key_not_verified_when_it_signed_blocks(status: str) -> None:
    outcome, reason = judged({**SIGNED, "key_status": status}, DECLINED)
    assert outcome is Outcome.BLOCK
    assert f"which was {status} when it signed" in reason


def test_a_signature_that_does_not_verify_blocks() -> None:
    outcome, reason = judged(SIGNED, {**SIGNED, "org_id": "org_seller", "verifies": False})
    assert outcome is Outcome.BLOCK
    assert reason == "the seller's signature does not verify over the contract's digest"


def test_a_party_that_neither_signed_nor_declined_blocks_only_where_required() -> None:
    assert judged(SIGNED, UNSIGNED)[0] is Outcome.PASS
    outcome, reason = judged(SIGNED, UNSIGNED, required=True)
    assert outcome is Outcome.BLOCK
    assert reason == "the seller has neither signed the contract nor declined to sign it"
    assert judged(SIGNED, DECLINED, required=True)[0] is Outcome.PASS


def test_the_facts_keep_what_was_judged() -> None:
    facts = delivery({"required": False, "buyer": SIGNED})
    assert facts.as_dict()["contract"]["buyer"] == SIGNED
    assert "contract" not in dataclasses.replace(facts, contract=None).as_dict()


# -- the signing messages -------------------------------------------------------------


def test_a_challenge_is_never_a_contract_message() -> None:
    text = challenge_text(org_id="org_1", key_id="skey_1", nonce="00" * 32)
    assert "organisation: org_1" in text
    assert "key: skey_1" in text
    assert len(text) != 64


def test_a_secp256k1_public_key_is_named_by_its_address() -> None:
    from eth_account import Account
    from eth_account.messages import encode_defunct

    account = Account.from_key("0x" + "21" * 32)
    public = account._key_obj.public_key.to_hex()  # 0x and x || y
    assert normalise_public_key(SigningSuite.SECP256K1, public) == account.address
    assert normalise_public_key(SigningSuite.SECP256K1, "04" + public[2:]) == account.address
    digest = "cd" * 32
    signature = account.sign_message(encode_defunct(text=digest)).signature.to_0x_hex()
    assert verify_digest(SigningSuite.SECP256K1, account.address, digest, signature)
    assert verify_digest(SigningSuite.SECP256K1, account.address, digest.upper(), signature)
    assert not verify_digest(SigningSuite.SECP256K1, account.address, "ce" * 32, signature)
    assert not verify_text(SigningSuite.SECP256K1, account.address, "other", signature)
    assert not verify_digest(SigningSuite.SECP256K1, account.address, digest, "0x00")
