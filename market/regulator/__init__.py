"""Regulator: read-only views across every context for regulators (监管方).

Filings, orders, listings, rights, declarations, decisions, alerts and the audit log, with
filters, streamed exports and statistics. Every regulator read is itself audited;
regulators never write business records (only alert dispositions and suspension orders).

Calls: the other contexts' query services. No context depends on it.
"""
