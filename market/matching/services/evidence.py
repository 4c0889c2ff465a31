"""Matching's part of a dispute's evidence bundle: the negotiation an order came from, with
every message (move) the parties exchanged and the terms each put on the table. Trading asks
for it through an in-transaction event while it gathers the bundle (wired in
:mod:`market.wiring`), so trading never imports matching."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from market.kernel.uow import UnitOfWork
from market.matching import repository
from market.matching.models import Negotiation


def on_evidence_gathering(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Add the order's negotiation (when it came from one) to the bundle's sections. Trading
    has already checked the reader may see the dispute, so the negotiation is read as the
    record of the trade, whoever asks."""
    negotiation_id = payload.get("negotiation_id")
    if not negotiation_id:
        return
    negotiation = uow.session.scalars(
        select(Negotiation).where(Negotiation.id == negotiation_id)).one_or_none()
    if negotiation is None:
        return
    payload["sections"]["negotiation"] = {
        "id": negotiation.id, "channel": negotiation.channel,
        "demand_id": negotiation.demand_id, "buyer_org_id": negotiation.buyer_org_id,
        "merchant_org_id": negotiation.merchant_org_id,
        "broker_org_id": negotiation.broker_org_id, "status": negotiation.status,
        "agreed_terms": negotiation.terms, "created_at": negotiation.created_at,
        "messages": [{"id": e.id, "at": e.at, "action": e.action,
                      "actor_org_id": e.actor_org_id, "actor_label": e.actor_label,
                      "from_status": e.from_status, "to_status": e.to_status,
                      "reason": e.reason, "terms": e.terms}
                     for e in repository.negotiation_history(uow.session, negotiation.id)]}
