"""Compliance: declarations and commitments, rule engine, reviews, filings, risk alerts.

Owns declaration templates and signed declarations (数据流通交易声明和承诺制), rule
decisions, the review queue, filings (登记备案) of every concluded trade and risk alerts.

Invariants: rules are pure functions over facts the caller passes in by value
(classification, personal-information level, purposes, territory, admission state), so
compliance never imports the contexts that call it; every concluded trade has one filing.

Calls: participants, kernel.
"""
