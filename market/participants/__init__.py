"""Participants: organisations (统一社会信用代码), admission, users, API keys and roles.

Owns: organisations with their roles and admission history, users (each in one
organisation) and API keys (hashed, scoped, expiring, revocable).

Invariants: a credit code passes the GB 32100 check and is unique; an operator
organisation never holds merchant or buyer roles (venue/merchant separation); admission
moves only along applied → admitted → suspended ⇄ admitted → exited, any → blacklisted,
decided by the operator with a reason; key secrets are never stored, only their hash.

Calls: the kernel only (audit, outbox, clock, ids).
"""
