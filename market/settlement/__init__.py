"""Settlement: double-entry ledger, escrow, revenue split, payment rails, payouts.

Owns accounts, journals and postings in integer minor units, two-phase holds, the revenue
split derived from a product's rights chain, payment rails (offline bank transfer by
default, Stripe as an option) and payouts with period statements (对账单).

Invariants: every journal balances to zero per currency; postings are append-only; cached
balances equal the sum of postings; non-negative accounts never go below zero; an order's
escrow is zero once the order is terminal; splits never lose or invent a cent.

Calls: the kernel only; it knows other contexts' objects by id.
"""
