"""Connect the contexts' in-transaction event handlers (see :mod:`market.kernel.events`).

Called by ``create_app`` and by the command line before any use case runs, so the reactions
happen however a change is made. Connecting twice changes nothing.
"""

from __future__ import annotations

from market.compliance import services as compliance
from market.kernel import events
from market.listing import services as listing
from market.matching import services as matching
from market.participants import services as participants
from market.rights import services as rights
from market.trading import services as trading

_connected = False


def connect() -> None:
    global _connected
    if _connected:
        return
    events.subscribe(rights.UNAVAILABLE, listing.on_rights_unavailable)
    events.subscribe(rights.RESTORED, listing.on_rights_restored)
    events.subscribe(rights.UNAVAILABLE, trading.on_rights_unavailable)
    events.subscribe(rights.RESTORED, trading.on_rights_restored)
    events.subscribe(compliance.LISTING_SUSPENSION_ORDERED, listing.on_suspension_ordered)
    events.subscribe(participants.ADMITTING, compliance.on_admitting)
    events.subscribe(trading.ORDER_PLACED, matching.on_order_placed)
    events.subscribe(trading.EVIDENCE_GATHERING, matching.on_evidence_gathering)
    _connected = True
