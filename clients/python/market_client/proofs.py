"""Proof-bundle verification through the exchange's own stand-alone verifier
(``market.receipts.verifier``): it imports neither Flask nor a database, only its crypto
libraries (eth-account, gmssl, rfc8785), and is imported here only when asked for, so the
client itself depends on httpx alone."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from market_client.errors import VerifierUnavailable

VERIFIER = "market.receipts.verifier"
INSTALL_HINT = (
    "verifying a proof bundle locally uses the exchange's stand-alone verifier, "
    "market.receipts.verifier: install the `market` package (pip install -e <path to the "
    "market repository>; it brings eth-account, gmssl and rfc8785), or ask the exchange "
    "with Client.receipts.verify(bundle)")


@dataclass(frozen=True)
class ProofPart:
    """One checked part of a bundle (format, body, signature, signer, log, checkpoint,
    inclusion, anchor)."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class ProofReport:
    """The verifier's verdict: ``status`` is ``verified``, ``pending`` (sound but not in the
    log yet) or ``failed``; ``failed`` names the first part that does not hold."""

    ok: bool
    status: str
    failed: str | None
    parts: tuple[ProofPart, ...]

    def part(self, name: str) -> ProofPart:
        return next(part for part in self.parts if part.name == name)


def verify_proof_bundle(bundle: Mapping[str, Any], *, trusted_signer: str | None = None,
                        rpc_url: str | None = None, min_confirmations: int = 1) -> ProofReport:
    """Check a proof bundle (``Client.receipts.proof(...)``) without trusting the exchange
    that served it. ``trusted_signer`` pins the platform's key (an address or an SM2 public
    key); ``rpc_url`` also checks the anchor on an EVM chain.

    Raises:
        VerifierUnavailable: ``market.receipts.verifier`` (or a library it needs) is not
            installed.
    """
    try:
        verifier = importlib.import_module(VERIFIER)
    except ImportError as exc:
        raise VerifierUnavailable(f"{INSTALL_HINT} ({exc})") from exc
    report = verifier.verify_bundle(bundle, trusted_signer=trusted_signer, rpc_url=rpc_url,
                                    min_confirmations=min_confirmations)
    found: dict[str, Any] = report.as_dict()
    return ProofReport(ok=bool(found["ok"]), status=str(found["status"]),
                       failed=found["failed"],
                       parts=tuple(ProofPart(str(p["name"]), bool(p["ok"]), str(p["detail"]))
                                   for p in found["parts"]))
