"""Signing suites: the hash and the key that sign receipts and the log's checkpoints.

A deployment signs with one suite (``MARKET_RECEIPT_SUITE``):

* ``secp256k1-sha256``: H = SHA-256, the key ``MARKET_SIGNING_KEY``. Receipts are EIP-712
  typed data exactly as :mod:`market.receipts.signing` signs them; notes are ECDSA over
  SHA-256(text), 65 bytes r||s||v with v 27 or 28 and low s. The identity is the checksummed
  address.
* ``sm2-sm3``: H = SM3, the key ``MARKET_SM2_SIGNING_KEY``. Receipts (over the 32 raw digest
  bytes) and notes (over the text) are SM2 signatures with SM3 (GB/T 32918.2, Z over the
  default user id "1234567812345678"), r||s in 64 bytes, each with a fresh random k. The
  identity is the public key "04" || x || y in hex.

This is the signing side; checking lives in :mod:`market.receipts.verifier`, which anyone can
run without the platform.
"""

from __future__ import annotations

import secrets
from typing import Protocol

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.datatypes import PrivateKey
from eth_utils.crypto import keccak

from market.receipts.verifier import (
    EIP712_DOMAIN,
    EIP712_TYPES,
    SECP256K1_SHA256,
    SM2_GX,
    SM2_GY,
    SM2_N,
    SM2_SM3,
    SUITES,
    sha256,
    sm2_digest,
    sm2_engine,
    sm3,
    suite_hash,
)

__all__ = ["SUITES", "Secp256k1Suite", "Sm2Suite", "Suite", "make_suite", "sm2_public_key",
           "sm2_sign_digest", "suite_hash"]


class Suite(Protocol):
    """What signs for a deployment: the suite's hash and its key."""

    @property
    def name(self) -> str:
        """The suite: ``secp256k1-sha256`` or ``sm2-sm3``."""

    @property
    def identity(self) -> str:
        """The public identity of the key: an address or an SM2 public key in hex."""

    def hash(self, data: bytes) -> bytes:
        """H, the suite's 32-byte content hash."""

    def sign_receipt(self, kind: str, subject: str, digest_hex: str, issued_at: int) -> str:
        """The receipt signature value (``0x`` + 65 bytes hex, or r||s in 128 hex digits)."""

    def sign_note(self, text: bytes) -> bytes:
        """The signature of a signed note's text (65 or 64 bytes, without the key ID)."""


def _private_hex(private_key: str) -> str:
    """The 64 hex digits of a private key given with or without ``0x``.

    Raises:
        ValueError: not 64 hex digits.
    """
    digits = private_key.strip().removeprefix("0x").removeprefix("0X")
    if len(digits) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError("a private key is 64 hex digits, 0x optional")
    return digits.lower()


def _digest(digest_hex: str) -> bytes:
    digest = bytes.fromhex(digest_hex)
    if len(digest) != 32:
        raise ValueError("a receipt digest is 32 bytes")
    return digest


# keccak256 of the receipt's EIP-712 type (EIP712_TYPES["Receipt"] in encodeType's form).
_RECEIPT_TYPE_HASH = keccak(
    b"Receipt(string kind,string subject,bytes32 digest,uint64 issuedAt)")


class Secp256k1Suite:
    """secp256k1-sha256 with the platform key (``MARKET_SIGNING_KEY``)."""

    def __init__(self, private_key: str) -> None:
        digits = _private_hex(private_key)
        self._account = Account.from_key("0x" + digits)
        self._key = PrivateKey(bytes.fromhex(digits))
        # EIP-712 for the one receipt type, hashed here rather than by eth-account's
        # general encoder (the domain separator is computed once, by eth-account).
        sample = {"kind": "k", "subject": "s", "digest": bytes(range(32)), "issuedAt": 1}
        signable = encode_typed_data(EIP712_DOMAIN, EIP712_TYPES, sample)
        self._domain_separator = bytes(signable.header)
        if self._typed_hash("k", "s", bytes(range(32)), 1) != keccak(
                b"\x19" + bytes(signable.version) + bytes(signable.header)
                + bytes(signable.body)):
            raise RuntimeError("the receipt's EIP-712 encoding differs from eth-account's")

    def _typed_hash(self, kind: str, subject: str, digest: bytes, issued_at: int) -> bytes:
        struct = keccak(_RECEIPT_TYPE_HASH + keccak(kind.encode()) + keccak(subject.encode())
                        + digest + issued_at.to_bytes(32, "big"))
        return keccak(b"\x19\x01" + self._domain_separator + struct)

    @property
    def name(self) -> str:
        return SECP256K1_SHA256

    @property
    def identity(self) -> str:
        return str(self._account.address)

    def hash(self, data: bytes) -> bytes:
        return sha256(data)

    def sign_receipt(self, kind: str, subject: str, digest_hex: str, issued_at: int) -> str:
        signed = self._key.sign_msg_hash(
            self._typed_hash(kind, subject, _digest(digest_hex), issued_at)).to_bytes()
        return "0x" + (signed[:64] + bytes([27 + signed[64]])).hex()

    def sign_note(self, text: bytes) -> bytes:
        # eth-keys signs with an RFC 6979 k and low s; its v is the recovery id 0 or 1.
        raw = bytes(self._key.sign_msg_hash(sha256(text)).to_bytes())
        return raw[:64] + bytes([27 + raw[64]])


def _sm2_scalar(private_key: str) -> int:
    d = int(_private_hex(private_key), 16)
    if not 0 < d < SM2_N - 1:
        raise ValueError("an SM2 private key lies in [1, n - 2]")
    return d


def sm2_public_key(private_hex: str) -> str:
    """The public key "04" || x || y (130 hex digits) of an SM2 private key (64 hex digits).

    Raises:
        ValueError: not an SM2 private key.
    """
    d = _sm2_scalar(private_hex)
    # gmssl's scalar multiplication (it has no public key derivation): x || y of dG in hex.
    return "04" + str(sm2_engine()._kg(d, f"{SM2_GX:064x}{SM2_GY:064x}"))


def sm2_sign_digest(private_hex: str, e: bytes, k: int | None = None) -> bytes:
    """The SM2 signature r||s (64 bytes) of the hash value ``e`` (GB/T 32918.2 step A3 on).

    ``k`` is drawn fresh from :mod:`secrets` for every signature; passing one is for test
    vectors only.

    Raises:
        ValueError: not an SM2 private key, or a given ``k`` that yields no signature.
    """
    d = _sm2_scalar(private_hex)
    engine = sm2_engine(private_key=f"{d:064x}")
    while True:
        nonce = k if k is not None else secrets.randbelow(SM2_N - 1) + 1
        if not 0 < nonce < SM2_N:
            raise ValueError("k lies in [1, n - 1]")
        signature = engine.sign(e, f"{nonce:064x}")
        if signature is not None:
            return bytes.fromhex(signature)
        if k is not None:
            raise ValueError("this k yields no signature (r = 0, r + k = n or s = 0)")


class Sm2Suite:
    """sm2-sm3 with an SM2 key (``MARKET_SM2_SIGNING_KEY``)."""

    def __init__(self, private_key: str) -> None:
        self._private = _private_hex(private_key)
        self._identity = sm2_public_key(self._private)

    @property
    def name(self) -> str:
        return SM2_SM3

    @property
    def identity(self) -> str:
        return self._identity

    def hash(self, data: bytes) -> bytes:
        return sm3(data)

    def _sign(self, message: bytes) -> bytes:
        return sm2_sign_digest(self._private, sm2_digest(self._identity, message))

    def sign_receipt(self, kind: str, subject: str, digest_hex: str, issued_at: int) -> str:
        # The SM2 receipt signature covers the digest alone: the digest already fixes the
        # body, which holds the kind, subject and time.
        return self._sign(_digest(digest_hex)).hex()

    def sign_note(self, text: bytes) -> bytes:
        return self._sign(text)


def make_suite(name: str, private_key: str) -> Suite:
    """The suite ``name`` signing with ``private_key`` (64 hex digits, ``0x`` optional).

    Raises:
        ValueError: an unknown suite or a key that is not one of the suite.
    """
    if name == SECP256K1_SHA256:
        return Secp256k1Suite(private_key)
    if name == SM2_SM3:
        return Sm2Suite(private_key)
    raise ValueError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
