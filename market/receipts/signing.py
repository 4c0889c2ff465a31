"""Platform signatures: EIP-712 typed data over the SHA-256 of an RFC 8785 document.

Every signed record (rights certificates now, receipts later) is a JSON document. Its
canonical form (RFC 8785) is hashed with SHA-256, and the platform key signs the EIP-712
message ``Receipt(string kind, string subject, bytes32 digest, uint64 issuedAt)`` under the
domain ``{name: "market", version: "1"}``. Anyone holding the document, the signature and the
platform's address can check it with any EIP-712 library, without asking the platform.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eth_account import Account

from market.kernel import canonical as jcs
from market.kernel.clock import as_utc
from market.receipts.verifier import (
    EIP712_DOMAIN,
    EIP712_TYPES,
    SECP256K1_SHA256,
    verify_receipt_signature,
)

DOMAIN: dict[str, Any] = EIP712_DOMAIN
TYPES: dict[str, Any] = EIP712_TYPES


def canonical(document: Mapping[str, Any]) -> bytes:
    """RFC 8785 canonical JSON bytes of ``document``."""
    return jcs.dumps(dict(document))


def document_digest(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(document)).hexdigest()


@dataclass(frozen=True)
class Signature:
    kind: str
    subject: str
    digest: str  # hex SHA-256 of the canonical document
    issued_at: int  # unix seconds
    signer: str  # checksummed address
    signature: str  # 0x-prefixed 65-byte signature

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": "eip712",
            "domain": DOMAIN,
            "primary_type": "Receipt",
            "kind": self.kind,
            "subject": self.subject,
            "digest": self.digest,
            "issued_at": self.issued_at,
            "signer": self.signer,
            "signature": self.signature,
        }


def _message(kind: str, subject: str, digest: str, issued_at: int) -> dict[str, Any]:
    return {"kind": kind, "subject": subject, "digest": bytes.fromhex(digest),
            "issuedAt": issued_at}


class Signer:
    """Signs documents with the platform key (``MARKET_SIGNING_KEY``)."""

    def __init__(self, private_key: str) -> None:
        self._account = Account.from_key(private_key)

    @property
    def address(self) -> str:
        return str(self._account.address)

    def sign(
        self, kind: str, subject: str, document: Mapping[str, Any], at: datetime
    ) -> Signature:
        digest = document_digest(document)
        issued_at = int(as_utc(at).timestamp())
        signed = self._account.sign_typed_data(
            DOMAIN, TYPES, _message(kind, subject, digest, issued_at)
        )
        return Signature(kind, subject, digest, issued_at, self.address,
                         "0x" + bytes(signed.signature).hex())


def verify(
    kind: str, subject: str, document: Mapping[str, Any], issued_at: int, signature: str,
    signer: str,
) -> bool:
    """True when ``signature`` by ``signer`` covers exactly this document. Only the canonical
    form is accepted (65 bytes, v of 27 or 28, low s), so a signature the platform issued
    cannot be rewritten into another one that also verifies; the check is the stand-alone
    verifier's (:func:`market.receipts.verifier.verify_receipt_signature`)."""
    return verify_receipt_signature(SECP256K1_SHA256, kind, subject, document_digest(document),
                                    issued_at, signer, signature)
