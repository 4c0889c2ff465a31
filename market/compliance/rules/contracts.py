"""Signed contracts (电子合同) and vouched declarations.

"谁签章、谁核验": whoever signs, the platform checks. An order's contract is signed by each
party with a key its organisation registered and verified (or the platform records that the
party declined to sign). Signing refuses a bad signature outright and writes nothing; the
delivery gate, the first time the contract is performed, judges again what was signed, with
each signature checked anew against the key registry as it stood when it was made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from market.compliance.domain import BLOCK, PASS, Facts, Outcome, rule

SIDES = ("buyer", "seller")


def _problem(side: str, act: Mapping[str, Any], required: bool) -> str | None:
    """What is wrong with one party's act on the contract, if anything."""
    done = act.get("act", "unsigned")
    if done == "signed":
        status = act.get("key_status")
        if status != "verified":
            return (f"the {side} signed with key {act.get('key_id')}, which was {status} "
                    "when it signed, not a verified key of its organisation")
        if not act.get("verifies"):
            return f"the {side}'s signature does not verify over the contract's digest"
        return None
    if done == "unsigned" and required:
        return f"the {side} has neither signed the contract nor declined to sign it"
    return None


def _summary(side: str, act: Mapping[str, Any]) -> str:
    done = act.get("act", "unsigned")
    if done == "signed":
        return f"the {side} signed with key {act.get('key_id')} ({act.get('suite')})"
    if done == "declined":
        return f"the {side} declined to sign"
    return f"the {side} has not signed"


@rule
def contract_must_be_signed_by_registered_keys(
    facts: Facts,
) -> tuple[Outcome, str] | tuple[Outcome, str, Mapping[str, Any]]:
    """Every signature on an order's contract is by a key that was a verified, unrevoked key
    of the signer's own organisation when it signed, and verifies over the contract's
    digest; where the venue requires signed contracts, each party has signed or declined
    before the first delivery (电子合同, 谁签章、谁核验)."""
    contract = facts.contract
    if contract is None:
        return PASS, "no contract signatures are judged at this stage"
    required = bool(contract.get("required"))
    acts = {side: dict(contract.get(side) or {}) for side in SIDES}
    problems = [p for side in SIDES if (p := _problem(side, acts[side], required))]
    if problems:
        return BLOCK, "; ".join(problems), {"contract_sha256": contract.get("contract_sha256")}
    return PASS, "; ".join(_summary(side, acts[side]) for side in SIDES)
