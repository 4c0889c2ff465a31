"""Participants: organisations (统一社会信用代码), admission, users, API keys and roles.

Owns: organisations with their roles and admission history, users (each in one
organisation) and API keys (hashed, scoped, expiring, revocable); their qualification
documents (主体资格) and the people behind them (实名制, identity numbers kept only as keyed
digests), and each trading participant's public credit mark (信用标识), computed from records
the contexts above pass down by value.

Invariants: a credit code passes the GB 32100 check and is unique; an operator
organisation never holds merchant or buyer roles (venue/merchant separation); admission
moves only along applied → admitted → suspended ⇄ admitted → exited, any → blacklisted,
decided by the operator with a reason; an applicant is admitted only with its required
documents verified and in force, and an admitted one whose document expired is suspended
until its renewal is verified; key secrets are never stored, only their hash.

Calls: the kernel only (audit, outbox, clock, ids).
"""
