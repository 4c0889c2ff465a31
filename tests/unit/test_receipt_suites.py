"""The signing suites: SM3 and SM2 against the standards and independent implementations,
the secp256k1 suite against the EIP-712 signer the platform already uses."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from market.receipts import verifier as v
from market.receipts.signing import Signer
from market.receipts.suites import (
    Secp256k1Suite,
    Sm2Suite,
    make_suite,
    sm2_public_key,
    sm2_sign_digest,
    suite_hash,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "sm2" / "independent-vectors.json").read_text())

SECP_KEY = "0x" + "4c" * 32
# The key pair of the SM2 signature example of GB/T 32918 / GM/T 0003 on the recommended curve.
SM2_KEY = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
SM2_PUBLIC = ("0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
              "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13")
OTHER_SM2_KEY = "01" * 32
DIGEST = "5d" * 32


# --- SM3 (GB/T 32905 appendix A) ---

def test_sm3_of_abc() -> None:
    assert v.sm3(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")


@pytest.mark.parametrize("message", [b"", b"abc", b"abcd" * 16, bytes(range(256)) * 5])
def test_sm3_from_openssl_and_from_gmssl_agree(message: bytes) -> None:
    assert v.sm3_gmssl(message) == hashlib.new("sm3", message).digest() == v.sm3(message)


def test_sm3_of_the_512_bit_message() -> None:
    assert v.sm3(b"abcd" * 16).hex() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732")


def test_suite_hashes() -> None:
    assert suite_hash("secp256k1-sha256")(b"abc").hex().startswith("ba7816bf")
    assert suite_hash("sm2-sm3")(b"abc").hex().startswith("66c7f0f4")
    assert make_suite("sm2-sm3", SM2_KEY).hash(b"abc") == v.sm3(b"abc")
    with pytest.raises(ValueError, match="unknown suite"):
        suite_hash("ed25519")


# --- SM2 ---

def test_sm2_public_key_of_the_standard_example() -> None:
    assert sm2_public_key(SM2_KEY) == SM2_PUBLIC
    assert sm2_public_key("0x" + SM2_KEY.upper()) == SM2_PUBLIC


@pytest.mark.parametrize("bad", ["00" * 32, f"{v.SM2_N - 1:064x}", f"{v.SM2_N:064x}", "12",
                                 "zz" * 32])
def test_sm2_private_keys_out_of_range_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="private key"):
        sm2_public_key(bad)


def test_sm2_round_trip_and_refusals() -> None:
    suite = Sm2Suite(SM2_KEY)
    value = suite.sign_receipt("order.contract", "order:1", DIGEST, 1_700_000_000)
    assert len(value) == 128
    assert v.verify_receipt_signature("sm2-sm3", "order.contract", "order:1", DIGEST,
                                      1_700_000_000, SM2_PUBLIC, value)
    raw = bytes.fromhex(value)
    message = bytes.fromhex(DIGEST)
    assert v.sm2_verify(SM2_PUBLIC, message, raw)
    other = sm2_public_key(OTHER_SM2_KEY)
    assert not v.sm2_verify(other, message, raw)  # wrong key
    assert not v.sm2_verify(SM2_PUBLIC, b"\x5e" + message[1:], raw)  # wrong message
    for bit in (0, 7, 255, 256, 511):  # every flipped bit of r or s
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert not v.sm2_verify(SM2_PUBLIC, message, bytes(flipped))


def test_sm2_signatures_take_a_fresh_k() -> None:
    suite = Sm2Suite(SM2_KEY)
    assert suite.sign_note(b"text\n") != suite.sign_note(b"text\n")


def test_sm2_refuses_out_of_range_and_malformed_signatures() -> None:
    message = b"m"
    raw = Sm2Suite(SM2_KEY).sign_note(message)
    assert v.sm2_verify(SM2_PUBLIC, message, raw)
    n = v.SM2_N.to_bytes(32, "big")
    for r, s in ((bytes(32), raw[32:]), (raw[:32], bytes(32)), (n, raw[32:]), (raw[:32], n)):
        assert not v.sm2_verify(SM2_PUBLIC, message, r + s)  # r and s lie in [1, n - 1]
    assert not v.sm2_verify(SM2_PUBLIC, message, raw[:63])
    assert not v.sm2_verify(SM2_PUBLIC[:-2] + "00", message, raw)  # off the curve
    assert not v.sm2_verify("02" + SM2_PUBLIC[2:], message, raw)  # only the 04 form


def test_sm2_z_uses_the_default_user_id() -> None:
    # Signed with another id, a signature does not verify under the default one.
    e = v.sm2_digest(SM2_PUBLIC, b"m", user_id=b"ALICE123@YAHOO.COM")
    raw = sm2_sign_digest(SM2_KEY, e)
    assert not v.sm2_verify(SM2_PUBLIC, b"m", raw)
    assert v.sm2_verify(SM2_PUBLIC, b"m", sm2_sign_digest(SM2_KEY, v.sm2_digest(SM2_PUBLIC, b"m")))


@pytest.mark.parametrize("case", VECTORS["public_keys"], ids=lambda c: c["public_key"][:8])
def test_sm2_public_keys_match_sm_crypto(case: dict[str, str]) -> None:
    # Two of these have an x starting with 0 and with 04: gmssl's constructor would mangle them.
    assert sm2_public_key(case["private_key"]) == case["public_key"]


@pytest.mark.parametrize("case", VECTORS["fixed_k_signatures"], ids=lambda c: c["k"][:8])
def test_sm2_signatures_match_sm_crypto_for_the_same_k(case: dict[str, str]) -> None:
    e = v.sm2_digest(case["public_key"], bytes.fromhex(case["message"]))
    signature = sm2_sign_digest(case["private_key"], e, k=int(case["k"], 16))
    assert signature.hex() == case["signature"]


@pytest.mark.parametrize(
    "case", VECTORS["random_k_signatures"] + VECTORS["openssl_signatures"],
    ids=lambda c: c["signature"][:8])
def test_sm2_verifies_signatures_of_independent_implementations(case: dict[str, str]) -> None:
    message, signature = bytes.fromhex(case["message"]), bytes.fromhex(case["signature"])
    assert v.sm2_verify(case["public_key"], message, signature)
    assert not v.sm2_verify(case["public_key"], message + b"\0", signature)


def test_sm2_note_signatures() -> None:
    suite = make_suite("sm2-sm3", SM2_KEY)
    signature = suite.sign_note(b"note\n")
    assert len(signature) == 64
    assert v.verify_note_signature("sm2-sm3", suite.identity, b"note\n", signature)
    assert not v.verify_note_signature("sm2-sm3", suite.identity, b"note!\n", signature)
    assert not v.verify_note_signature("secp256k1-sha256", suite.identity, b"note\n", signature)


# --- secp256k1-sha256 ---

def test_secp256k1_receipt_signature_is_the_eip712_signer_s() -> None:
    document = {"record": {"id": "x", "amount": "10.00"}}
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    legacy = Signer(SECP_KEY).sign("order.contract", "order:1", document, at)
    suite = Secp256k1Suite(SECP_KEY)
    assert suite.identity == legacy.signer
    assert suite.hash(v.dumps(document)).hex() == legacy.digest
    value = suite.sign_receipt("order.contract", "order:1", legacy.digest, legacy.issued_at)
    assert value == legacy.signature
    assert v.verify_receipt_signature("secp256k1-sha256", "order.contract", "order:1",
                                      legacy.digest, legacy.issued_at, legacy.signer, value)


ALTERED: dict[str, Any] = {
    "kind": "order.contracts", "subject": "order:2", "digest_hex": "5e" + DIGEST[2:],
    "issued_at": 1_700_000_001, "suite": "sm2-sm3",
    "signer": Secp256k1Suite("0x" + "4d" * 32).identity,
}


@pytest.mark.parametrize("change", sorted(ALTERED))
def test_secp256k1_receipt_signature_covers_every_field(change: str) -> None:
    suite = Secp256k1Suite(SECP_KEY)
    fields: dict[str, Any] = {"suite": "secp256k1-sha256", "kind": "order.contract",
                              "subject": "order:1", "digest_hex": DIGEST,
                              "issued_at": 1_700_000_000, "signer": suite.identity}
    value = suite.sign_receipt("order.contract", "order:1", DIGEST, 1_700_000_000)
    assert v.verify_receipt_signature(value=value, **fields)
    assert not v.verify_receipt_signature(value=value, **{**fields, change: ALTERED[change]})


def test_secp256k1_refuses_high_s_and_malformed_values() -> None:
    suite = Secp256k1Suite(SECP_KEY)
    value = suite.sign_receipt("k", "s", DIGEST, 1)
    raw = bytes.fromhex(value[2:])
    s = int.from_bytes(raw[32:64], "big")
    high = raw[:32] + (v.SECP256K1_N - s).to_bytes(32, "big") + bytes([raw[64] ^ 1])
    args = ("secp256k1-sha256", "k", "s", DIGEST, 1, suite.identity)
    assert v.verify_receipt_signature(*args, value)
    assert not v.verify_receipt_signature(*args, "0x" + high.hex())  # same point, high s
    assert not v.verify_receipt_signature(*args, value[2:])  # no 0x
    assert not v.verify_receipt_signature(*args, value[:-2])
    assert not v.verify_receipt_signature(*args, value[:-2] + "00")  # v = 0
    assert not v.verify_receipt_signature("secp256k1-sha256", "k", "s", DIGEST, -1,
                                          suite.identity, value)
    assert not v.verify_receipt_signature("secp256k1-sha256", "k", "s", DIGEST[:-2], 1,
                                          suite.identity, value)


def test_secp256k1_note_signatures() -> None:
    suite = make_suite("secp256k1-sha256", SECP_KEY)
    signature = suite.sign_note(b"note\n")
    assert len(signature) == 65
    assert signature[64] in (27, 28)
    assert int.from_bytes(signature[32:64], "big") <= v.SECP256K1_N // 2
    assert v.verify_note_signature("secp256k1-sha256", suite.identity, b"note\n", signature)
    assert v.verify_note_signature("secp256k1-sha256", suite.identity.lower(), b"note\n",
                                   signature)
    assert not v.verify_note_signature("secp256k1-sha256", suite.identity, b"note.\n",
                                       signature)
    other = Secp256k1Suite("0x" + "4d" * 32).identity
    assert not v.verify_note_signature("secp256k1-sha256", other, b"note\n", signature)
    assert not v.verify_note_signature("unknown", suite.identity, b"note\n", signature)


def test_make_suite_refuses_unknown_suites_and_bad_keys() -> None:
    with pytest.raises(ValueError, match="unknown suite"):
        make_suite("ed25519", SECP_KEY)
    with pytest.raises(ValueError, match="64 hex digits"):
        make_suite("secp256k1-sha256", "0x1234")
    assert make_suite("sm2-sm3", "0x" + SM2_KEY).identity == SM2_PUBLIC


@settings(max_examples=25, deadline=None)
@given(kind=st.text(max_size=40), subject=st.text(max_size=80),
       digest=st.binary(min_size=32, max_size=32), issued_at=st.integers(0, 2**64 - 1))
def test_receipt_signatures_are_eth_accounts_eip712_signatures(
    kind: str, subject: str, digest: bytes, issued_at: int,
) -> None:
    """The suite hashes the receipt type itself; the signature is exactly the one
    eth-account's general EIP-712 signer makes, so any EIP-712 verifier accepts it."""
    key = "0x" + hashlib.sha256(b"eip712 equivalence").hexdigest()
    ours = Secp256k1Suite(key).sign_receipt(kind, subject, digest.hex(), issued_at)
    theirs = Account.from_key(key).sign_typed_data(
        v.EIP712_DOMAIN, v.EIP712_TYPES,
        {"kind": kind, "subject": subject, "digest": digest, "issuedAt": issued_at})
    assert ours == "0x" + bytes(theirs.signature).hex()
