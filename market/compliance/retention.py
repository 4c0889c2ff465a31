"""Retention of records (存储期限 and 到期销毁), as plain values.

Each kind of record is kept at least a number of years, never less than its floor: archives
are kept at least five years (seeds/002_3ab9f59d116ac8f6.txt:34033). The years of every kind
are stored in the ``retention_policies`` table, which the database's own triggers read: a
row of a table of that kind younger than its kind's years cannot be deleted, whatever the
application does. Kinds whose tables are append-only (contracts, declarations, filings,
decisions, the audit log, ledger journals and postings) are kept for ever: the audit hash
chain, the receipts and their Merkle log commit to those rows, so deleting one would break
every later proof; their retention is a floor that is already exceeded. The other record
tables get a DELETE guard keyed on the column that dates the row.
"""

from __future__ import annotations

from dataclasses import dataclass

FLOOR_YEARS = 5  # 至少保存5年 (seeds/002_3ab9f59d116ac8f6.txt:34033)


@dataclass(frozen=True)
class RecordKind:
    """A kind of record: the tables that hold it, each with the column that dates a row
    (None for an append-only table, which is never deleted), and its default years."""

    kind: str
    description: str
    tables: tuple[tuple[str, str | None], ...]
    default_years: int = FLOOR_YEARS
    floor_years: int = FLOOR_YEARS

    @property
    def append_only(self) -> bool:
        return all(column is None for _, column in self.tables)

    @property
    def guarded(self) -> tuple[tuple[str, str], ...]:
        """The tables whose DELETE the retention trigger checks, with their dating column."""
        return tuple((table, column) for table, column in self.tables if column is not None)


RECORD_KINDS: tuple[RecordKind, ...] = (
    RecordKind("contract", "order contracts and the terms subscriptions renew under",
               (("contracts", None), ("subscription_terms", None))),
    RecordKind("declaration", "signed declarations and commitments, and their breaches",
               (("declarations", None), ("declaration_breaches", None))),
    RecordKind("filing", "filings (登记备案) of concluded trades and their refunds",
               (("filings", None), ("filing_refunds", None))),
    RecordKind("decision", "the rule engine's decisions",
               (("decisions", None),)),
    RecordKind("audit", "the audit log (a hash chain)",
               (("audit_log", None),)),
    RecordKind("ledger", "ledger journals and postings, refunds, top-ups, payouts and "
               "revenue allocations",
               (("ledger_journals", None), ("ledger_postings", None), ("refunds", None),
                ("refund_lines", None), ("top_ups", "recorded_at"),
                ("payouts", "requested_at"), ("ledger_allocations", "allocated_at"))),
    RecordKind("order", "orders, their history, deliveries, disputes, subscriptions and "
               "destruction requests",
               (("orders", "created_at"), ("order_events", "at"),
                ("deliveries", "delivered_at"), ("disputes", "opened_at"),
                ("subscriptions", "created_at"), ("subscription_events", "at"),
                ("destruction_requests", "requested_at"))),
    RecordKind("alert", "risk alerts (风险预警) and their disposition notes",
               (("alerts", "opened_at"), ("alert_notes", None))),
)
KINDS: dict[str, RecordKind] = {k.kind: k for k in RECORD_KINDS}


def policy_years(configured: dict[str, int]) -> dict[str, int]:
    """Every kind's years: the configured ones, the defaults for the rest.

    Raises:
        ValueError: an unknown kind, or years below the kind's floor.
    """
    unknown = sorted(set(configured) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown record kinds: {', '.join(unknown)}")
    years = {k.kind: configured.get(k.kind, k.default_years) for k in RECORD_KINDS}
    low = [f"{kind}={n} (floor {KINDS[kind].floor_years})" for kind, n in years.items()
           if n < KINDS[kind].floor_years]
    if low:
        raise ValueError("retention below its floor: " + ", ".join(low))
    return years
