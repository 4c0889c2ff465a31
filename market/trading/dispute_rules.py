"""The published dispute rules (制定并公示争议解决规则): every version the exchange has
resolved disputes under, each a structured document (its windows, outcomes, evidence, the
arbitration institutions and the procedure) with the SHA-256 of its RFC 8785 canonical JSON.
A dispute records the version it opened under and that digest, so what governed it can be
shown later however the rules moved on.

The windows and institutions come from the trading policy (the settings), so the digest
pins the document as it was published when the dispute was opened. Pure values: no
database, no web.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from market.kernel import canonical
from market.trading.domain import DisputeOutcome, Policy

CURRENT_VERSION = "2"


def _hours(window: timedelta) -> int | float:
    hours = window.total_seconds() / 3600
    return int(hours) if hours.is_integer() else hours


OUTCOMES = [
    {"outcome": DisputeOutcome.RELEASE.value,
     "effect": "the order settles in full: the escrow is split by the contract's "
               "distribution rule and the trade is filed (登记备案)"},
    {"outcome": DisputeOutcome.PARTIAL_REFUND.value,
     "effect": "the refund amount (more than 0, less than the price) goes back to the buyer, "
               "taken from every share in proportion; the rest settles"},
    {"outcome": DisputeOutcome.FULL_REFUND.value,
     "effect": "the whole price goes back to the buyer and the order is refunded"},
]

EVIDENCE = {
    "statements": "the buyer's reason and the merchant's answer, each up to 5,000 characters",
    "evidence_sha256": "up to 20 SHA-256 fingerprints of files each side keeps and shows "
                       "on request; the exchange records the fingerprints, not the files",
    "platform_records": ["contract", "declarations", "delivery fingerprints", "download log",
                         "negotiation and dispute messages", "ledger journals",
                         "audit entries"],
}


def _version_1(policy: Policy) -> dict[str, Any]:
    """Before arbitration: the operator's decision was final and carried out at once."""
    return {
        "version": "1",
        "title": "Data trade dispute rules (数据交易争议解决规则)",
        "effective_from": "2026-11-21",
        "windows": {
            "dispute": "until the acceptance window ends (later while the order is flagged)",
            "answer_hours": _hours(policy.answer_window),
            "arbitration_escalation_hours": None,
        },
        "escrow": "the order's money stays in escrow from the dispute to the decision",
        "outcomes": OUTCOMES,
        "evidence": {k: v for k, v in EVIDENCE.items() if k != "platform_records"},
        "arbitration_institutions": [],
        "procedure": [
            {"step": 1, "by": "buyer", "action": "disputes a paid or delivered order with its "
                                                 "reason and evidence fingerprints"},
            {"step": 2, "by": "seller", "action": "answers within the answer window"},
            {"step": 3, "by": "operator", "action": "decides once answered or the answer "
                                                    "window ended; the decision is final and "
                                                    "carried out at once"},
        ],
    }


def _version_2(policy: Policy) -> dict[str, Any]:
    """Arbitration (数据交易仲裁机制): either party may take the operator's decision to a
    named arbitration institution within the escalation window; the escrow stays frozen."""
    window = _hours(policy.arbitration_window)
    return {
        "version": "2",
        "title": "Data trade dispute rules (数据交易争议解决规则)",
        "effective_from": "2026-12-03",
        "windows": {
            "dispute": "until the acceptance window ends (later while the order is flagged)",
            "answer_hours": _hours(policy.answer_window),
            "arbitration_escalation_hours": window,
        },
        "escrow": "the order's money stays in escrow from the dispute until the operator's "
                  "decision is carried out (the escalation window ended unescalated, or both "
                  "parties waived escalation) or, once escalated, until the award is recorded",
        "outcomes": OUTCOMES,
        "evidence": EVIDENCE,
        "arbitration_institutions": list(policy.arbitration_institutions),
        "procedure": [
            {"step": 1, "by": "buyer", "action": "disputes a paid or delivered order with its "
                                                 "reason and evidence fingerprints"},
            {"step": 2, "by": "seller", "action": "answers within the answer window"},
            {"step": 3, "by": "operator", "action": "decides once answered or the answer "
                                                    "window ended"},
            {"step": 4, "by": "buyer or seller",
             "action": "within the escalation window, takes the decision to one of the "
                       "arbitration institutions, or waives escalation (when both waive, the "
                       "decision is carried out at once)"},
            {"step": 5, "by": "exchange",
             "action": "carries out a decision nobody escalated when the window ends; for an "
                       "escalated one, produces the signed evidence bundle for the "
                       "institution and keeps the escrow frozen"},
            {"step": 6, "by": "operator",
             "action": "records the institution's award (reference, document fingerprint, "
                       "outcome, date), which is carried out at once"},
        ],
    }


VERSIONS: dict[str, Callable[[Policy], dict[str, Any]]] = {"1": _version_1, "2": _version_2}


@dataclass(frozen=True)
class PublishedRules:
    """One version of the dispute rules as published now."""

    version: str
    effective_from: str
    current: bool
    sha256: str
    document: dict[str, Any]


def digest(document: dict[str, Any]) -> str:
    """SHA-256 of the document's RFC 8785 canonical JSON."""
    return hashlib.sha256(canonical.dumps(document)).hexdigest()


def published(version: str, policy: Policy) -> PublishedRules:
    """A version of the rules under ``policy`` (KeyError for one never published)."""
    document = VERSIONS[version](policy)
    return PublishedRules(version, document["effective_from"], version == CURRENT_VERSION,
                          digest(document), document)


def all_versions(policy: Policy) -> list[PublishedRules]:
    """Every version, oldest first."""
    return [published(version, policy) for version in VERSIONS]
