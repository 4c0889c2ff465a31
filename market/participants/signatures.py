"""Organisations' signing keys as plain values: the suites, the key's states, the challenge
a key is verified by, and the checks of a signature against a key (电子签名).

Two suites:

* ``secp256k1``: the key is named by its Ethereum address (a public key given at
  registration is turned into its address). Signatures are EIP-191 ``personal_sign``
  signatures, 65 bytes ``r || s || v`` as ``0x`` and 130 hex digits, over a text.
* ``sm2``: the key is its public key ``04 || x || y`` (130 hex digits). Signatures are SM2
  with SM3 (GB/T 32918.2), Z over the default user id ``1234567812345678``, ``r || s`` as
  128 hex digits; the checking is the receipts verifier's.

What is signed:

* a challenge (proof of possession): its text, UTF-8 (EIP-191 text for secp256k1, the
  message M for SM2). A challenge is never 64 hex digits, so it is never a contract message;
* a contract: its SHA-256 digest, the ``sha256`` of the contract. For secp256k1 the EIP-191
  text of the 64 lowercase hex digits (what a wallet shows); for SM2 the 32 raw digest bytes
  as M, as the receipts' SM2 signatures sign theirs.
"""

from __future__ import annotations

import re
from enum import StrEnum

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.datatypes import PublicKey
from eth_utils.address import to_checksum_address

from market.receipts.verifier import is_address, sm2_point, sm2_verify


class SigningSuite(StrEnum):
    SECP256K1 = "secp256k1"
    SM2 = "sm2"


class KeyStatus(StrEnum):
    PENDING = "pending"  # registered; its challenge is not signed yet
    VERIFIED = "verified"  # its holder signed the challenge: it may sign
    REVOKED = "revoked"  # stays on record; it signs nothing from its revocation on


_HEX = re.compile(r"[0-9a-fA-F]*")
_SECP256K1_P = 2**256 - 2**32 - 977
_DIGEST = re.compile(r"[0-9a-f]{64}")


def _digits(value: str) -> str:
    return value.strip().removeprefix("0x").removeprefix("0X")


def normalise_public_key(suite: SigningSuite, value: str) -> str | None:
    """The key as the registry names it (a checksummed address; ``04 || x || y`` in
    lowercase hex), or None when ``value`` is not a key of ``suite``.

    secp256k1 takes an address or an uncompressed public key (``04`` optional); SM2 a
    public key ``04 || x || y`` (``04`` optional) that is a point of the curve.
    """
    if suite is SigningSuite.SECP256K1:
        if is_address(value.strip()):
            return str(to_checksum_address(value.strip()))
        digits = _digits(value)
        if len(digits) == 130 and digits[:2] == "04":
            digits = digits[2:]
        if len(digits) != 128 or not _HEX.fullmatch(digits):
            return None
        x, y = int(digits[:64], 16), int(digits[64:], 16)
        if x >= _SECP256K1_P or y >= _SECP256K1_P or (y * y - x * x * x - 7) % _SECP256K1_P:
            return None  # not a point of the curve
        return str(PublicKey(bytes.fromhex(digits)).to_checksum_address())
    digits = _digits(value).lower()
    if len(digits) == 128:
        digits = "04" + digits
    return digits if sm2_point(digits) is not None else None


def challenge_text(*, org_id: str, key_id: str, nonce: str) -> str:
    """What a key's holder signs to show it holds the key: names the organisation and the
    key, so the signature proves nothing else."""
    return (f"market signing-key challenge\norganisation: {org_id}\nkey: {key_id}\n"
            f"nonce: {nonce}\n")


def _secp256k1_signer(text: str, signature: str) -> str | None:
    digits = signature.strip()
    if not digits.startswith("0x") or len(digits) != 132 or not _HEX.fullmatch(digits[2:]):
        return None
    try:
        return str(Account.recover_message(encode_defunct(text=text), signature=digits))
    except Exception:  # eth-account raises several types for signatures that do not recover
        return None


def _sm2_signature(signature: str) -> bytes | None:
    digits = _digits(signature)
    if len(digits) != 128 or not _HEX.fullmatch(digits):
        return None
    return bytes.fromhex(digits)


def verify_text(suite: SigningSuite, public_key: str, text: str, signature: str) -> bool:
    """Whether ``signature`` is the key's signature of ``text`` (a challenge)."""
    if suite is SigningSuite.SECP256K1:
        signer = _secp256k1_signer(text, signature)
        return signer is not None and signer.lower() == public_key.lower()
    raw = _sm2_signature(signature)
    return raw is not None and sm2_verify(public_key, text.encode(), raw)


def verify_digest(suite: SigningSuite, public_key: str, digest_hex: str, signature: str) -> bool:
    """Whether ``signature`` is the key's signature of the SHA-256 digest ``digest_hex`` (a
    contract's): EIP-191 over its 64 lowercase hex digits, or SM2 over its 32 bytes."""
    digest = digest_hex.lower()
    if not _DIGEST.fullmatch(digest):
        return False
    if suite is SigningSuite.SECP256K1:
        signer = _secp256k1_signer(digest, signature)
        return signer is not None and signer.lower() == public_key.lower()
    raw = _sm2_signature(signature)
    return raw is not None and sm2_verify(public_key, bytes.fromhex(digest), raw)
