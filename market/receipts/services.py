"""The receipts context's surface: the platform signer and verification of what it signed."""

from __future__ import annotations

from market.receipts.signing import Signer, verify

__all__ = ["Signer", "verify"]
