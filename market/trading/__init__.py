"""Trading: orders, contracts, delivery, acceptance and disputes.

Owns orders (created → awaiting_payment → paid → delivered → accepted → settled;
cancelled; disputed → resolved; refunded), the contract that freezes a listing version,
price, usage terms and declarations, deliveries (file, API, sandbox) and disputes.

Invariants: terminal states are never left; limited offers never oversell; each delivery
is checked against the rights chain and the usage terms at the time of delivery.

Calls: listing, rights, compliance, settlement, participants, kernel.
"""
