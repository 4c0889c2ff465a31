"""What the crash run checks once everything has stopped: every call against the effects the
audit log attributes to it (its ``X-Request-Id`` is its Idempotency-Key), its
Idempotency-Key record, each order's rows across the tables one transaction writes, each
buyer's balance against its orders, the receipts log and the outbox's consumers. Returns
what was checked (counts) and a list of violations, each one sentence naming the rows."""

# ruff: noqa: S608  (the SQL below is composed of constants only)

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from crash_load import Call
from crash_seed import FUNDS, World
from sqlalchemy import text
from sqlalchemy.engine import Engine

from market.trading.domain import OrderStatus

# The audit action that is a call's effect.
PRIMARY = {"place": "order.placed", "pay": "order.paid", "deliver": "order.delivered",
           "accept": "order.accepted", "refund": "order.refunded_after_settlement",
           "dispute": "dispute.opened", "answer": "dispute.answered",
           "decide": "dispute.decided"}
IDEMPOTENT = {"place", "pay", "accept", "refund", "dispute", "decide"}
# The outbox topics an order's moves publish (other topics about an order, such as the
# data destruction a refund schedules, are not moves).
MOVES = {f"order.{s.value}" for s in OrderStatus} | {"refund.issued"}


def _rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def wait_drained(engine: Engine, timeout: float) -> dict[str, Any]:
    """Wait until the outbox has nothing pending, the receipts queue is empty and no webhook
    delivery is due; what is left (and whether it drained) when that happens or time runs
    out. A webhook delivery still leased by a killed worker waits out its lease."""
    deadline = time.monotonic() + timeout
    while True:
        left = {
            "outbox_pending": _rows(engine, "SELECT count(*) FROM outbox "
                                    "WHERE status = 'pending'")[0][0],
            "receipts_queued": _rows(engine, "SELECT count(*) FROM receipt_queue")[0][0],
            "webhooks_due": _rows(engine, "SELECT count(*) FROM webhook_deliveries "
                                  "WHERE status = 'pending' AND (lease_until IS NULL "
                                  "OR lease_until < now())")[0][0],
        }
        if not any(left.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    statuses = dict(_rows(engine, "SELECT status, count(*) FROM outbox GROUP BY status"))
    dead = _rows(engine, "SELECT topic, left(last_error, 200) FROM outbox "
                 "WHERE status = 'dead' LIMIT 5")
    return {"drained": not any(left.values()), "left": left, "outbox_by_status": statuses,
            "dead": [list(r) for r in dead],
            "webhook_deliveries_by_status": dict(_rows(
                engine, "SELECT status, count(*) FROM webhook_deliveries GROUP BY status"))}


def check(engine: Engine, calls: Iterable[Call], world: World,
          received: Mapping[str, int]) -> tuple[dict[str, Any], list[str]]:
    calls = list(calls)
    bad: list[str] = []
    checked: dict[str, Any] = {}
    checked.update(_calls(engine, calls, bad))
    checked.update(_orders(engine, world, bad))
    checked["receipts"] = _receipts(engine, bad)
    checked["webhooks"] = _webhooks(engine, received, bad)
    return checked, bad


def _calls(engine: Engine, calls: list[Call], bad: list[str]) -> dict[str, Any]:
    """Each call's effect is present once if it was answered 2xx, absent if it was refused
    outright, and at most once otherwise; its Idempotency-Key record agrees."""
    effects: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, action, object_id in _rows(
            engine, "SELECT request_id, action, object_id FROM audit_log "
                    "WHERE request_id LIKE 'crash-%'"):
        effects[key].append((action, object_id))
    records = dict(_rows(engine, "SELECT key, status FROM idempotency_keys "
                                 "WHERE key LIKE 'crash-%'"))
    for call in calls:
        primary = [obj for action, obj in effects.get(call.key, ()) if action == PRIMARY[call.kind]]
        doubled = Counter(effects.get(call.key, ()))
        if len(primary) > 1 or any(n > 1 for n in doubled.values()):
            bad.append(f"{call.kind} {call.key}: effect doubled: {sorted(doubled.items())}")
        if call.outcome == "acked":
            if len(primary) != 1:
                bad.append(f"{call.kind} {call.key}: answered {call.status} but its effect "
                           f"({PRIMARY[call.kind]}) is {'missing' if not primary else 'doubled'}")
            elif call.kind in ("place", "pay", "accept", "deliver") and \
                    primary[0] != (call.object_id or call.order_id):
                bad.append(f"{call.kind} {call.key}: answered with {call.object_id} but the "
                           f"effect is on {primary[0]}")
            elif call.kind == "dispute" and primary[0] != call.object_id:
                bad.append(f"dispute {call.key}: answered {call.object_id}, opened {primary[0]}")
        elif call.outcome == "refused" and not call.interrupted and effects.get(call.key):
            bad.append(f"{call.kind} {call.key}: refused {call.status} {call.code} but wrote "
                       f"{effects[call.key]}")
        if call.kind in IDEMPOTENT:
            status = records.get(call.key)
            if primary and status not in ("committed", "completed"):
                bad.append(f"{call.kind} {call.key}: effect present, key record {status}")
            if not primary and status in ("committed", "completed"):
                bad.append(f"{call.kind} {call.key}: key record {status} without its effect")
            if call.outcome == "acked" and status != "completed":
                bad.append(f"{call.kind} {call.key}: answered, key record {status}")
    keys = Counter(records.values())
    # A key left 'committed' took effect but its answer was never stored (the process died
    # between the commit and storing it): retries of it answer 409 in flight until it expires.
    return {"calls": len(calls), "keys_by_status": dict(keys),
            "answers_lost": keys["committed"]}


def _count(engine: Engine, sql: str, **params: Any) -> Counter[tuple[Any, ...]]:
    found: Counter[tuple[Any, ...]] = Counter()
    for row in _rows(engine, sql, **params):
        found[tuple(row[:-1])] += int(row[-1])
    return found


def _orders(engine: Engine, world: World, bad: list[str]) -> dict[str, Any]:
    """An order's rows agree across the tables its transactions write."""
    p = {"product": world.product_id}
    mine = "order_id IN (SELECT id FROM orders WHERE product_id = :product)"
    orders = _rows(engine, "SELECT id, buyer_org_id, status, amount, refunded_amount "
                           "FROM orders WHERE product_id = :product", **p)
    events = _count(engine, "SELECT order_id, action, to_status, count(*) FROM order_events "
                            f"WHERE {mine} GROUP BY 1, 2, 3", **p)
    last = dict(_rows(engine, "SELECT DISTINCT ON (order_id) order_id, to_status "
                              f"FROM order_events WHERE {mine} ORDER BY order_id, "
                              "at DESC, id DESC", **p))
    audit = _count(engine, "SELECT object_id, action, count(*) FROM audit_log "
                           "WHERE object_type = 'order' AND object_id IN "
                           "(SELECT id FROM orders WHERE product_id = :product) "
                           "GROUP BY 1, 2", **p)
    topics = _count(engine, "SELECT payload->>'order_id', topic, count(*) FROM outbox "
                            "WHERE payload->>'order_id' IN (SELECT id FROM orders "
                            "WHERE product_id = :product) GROUP BY 1, 2", **p)
    per = {name: _count(engine, f"SELECT order_id, count(*) FROM {table} "
                                f"WHERE {mine} GROUP BY 1", **p)
           for name, table in (("contracts", "contracts"), ("deliveries", "deliveries"),
                               ("disputes", "disputes"), ("filings", "filings"),
                               ("refunds", "refunds"), ("filing_refunds", "filing_refunds"))}
    journals = _count(engine, "SELECT order_id, kind, count(*) FROM ledger_journals "
                              f"WHERE {mine} GROUP BY 1, 2", **p)
    refunded = _count(engine, "SELECT order_id, sum(amount) FROM refunds "
                              f"WHERE {mine} GROUP BY 1", **p)
    dispute_refund = _count(engine, "SELECT order_id, sum(refund_amount) FROM disputes "
                                    f"WHERE carried_out_at IS NOT NULL AND {mine} "
                                    "GROUP BY 1", **p)
    receipts = _count(engine, "SELECT subject_id, kind, count(*) FROM receipts "
                              "WHERE subject_type = 'order' GROUP BY 1, 2")
    balances = dict(_rows(engine, "SELECT owner, balance FROM ledger_accounts "
                                  "WHERE kind = 'available' AND ref = ''"))
    spent: Counter[str] = Counter()
    for order_id, buyer, status, amount, refunded_amount in orders:
        o = (order_id,)
        moves = {(a, s): n for (oid, a, s), n in events.items() if oid == order_id}
        to = Counter()
        for (_, s), n in moves.items():
            to[s] += n
        acts = Counter({a: n for (a, _), n in moves.items()})
        refunds = per["refunds"][o]

        def expect(what: str, found: int, wanted: int, oid: str = order_id) -> None:
            if found != wanted:
                bad.append(f"order {oid}: {what} {found}, expected {wanted}")

        expect("contracts", per["contracts"][o], 1)
        expect("placed events", acts["placed"], 1)
        if any(n > 1 for n in to.values()):
            bad.append(f"order {order_id}: a status entered twice: {dict(to)}")
        if last.get(order_id) != status:
            bad.append(f"order {order_id}: status {status}, last event {last.get(order_id)}")
        wanted_audit = Counter({f"order.{a}": n for a, n in acts.items()})
        wanted_audit["order.refunded_after_settlement"] += refunds
        found_audit = Counter({a: n for (oid, a), n in audit.items() if oid == order_id
                               and a.startswith("order.")})
        if +wanted_audit != +found_audit:
            bad.append(f"order {order_id}: audit {dict(found_audit)} vs history "
                       f"{dict(wanted_audit)}")
        wanted_topics = Counter({f"order.{s}": n for (a, s), n in moves.items()
                                 if a != "placed"})
        wanted_topics["order.created"] += acts["placed"]
        wanted_topics["refund.issued"] += refunds
        found_topics = Counter({t: n for (oid, t), n in topics.items() if oid == order_id
                                and t in MOVES})
        if +wanted_topics != +found_topics:
            bad.append(f"order {order_id}: outbox {dict(found_topics)} vs history "
                       f"{dict(wanted_topics)}")
        expect("payment journals", journals[(order_id, "payment")], to["paid"])
        expect("settlement journals", journals[(order_id, "settlement")], to["settled"])
        expect("deliveries", per["deliveries"][o], to["delivered"])
        expect("disputes", per["disputes"][o], to["disputed"])
        expect("filings", per["filings"][o], to["settled"])
        expect("filing refunds", per["filing_refunds"][o], refunds)
        expect("refunded amount", refunded_amount,
               refunded[o] + dispute_refund[o])
        expect("contract receipts", receipts[(order_id, "order.contract")], 1)
        expect("escrow receipts", receipts[(order_id, "settlement.escrow_payment")],
               to["paid"])
        expect("settlement receipts", receipts[(order_id, "settlement.settlement")],
               to["settled"])
        expect("refund receipts", receipts[(order_id, "settlement.refund")],
               refunds + to["refunded"])
        if to["paid"]:
            spent[buyer] += amount - refunded_amount
    for buyer in world.buyers:
        if balances.get(buyer.org_id) != FUNDS - spent[buyer.org_id]:
            bad.append(f"buyer {buyer.org_id}: available {balances.get(buyer.org_id)}, its "
                       f"orders say {FUNDS - spent[buyer.org_id]}")
    return {"orders": len(orders), "orders_by_status": dict(Counter(r[2] for r in orders)),
            "refunds": sum(per["refunds"].values()),
            "disputes": sum(per["disputes"].values()),
            "journals": sum(journals.values()), "buyers_balanced": len(world.buyers)}


def _receipts(engine: Engine, bad: list[str]) -> dict[str, Any]:
    """Every receipt is in the log once, and each log is contiguous."""
    receipts = _rows(engine, "SELECT count(*) FROM receipts")[0][0]
    logged = _rows(engine, "SELECT count(*), count(DISTINCT receipt_id) "
                           "FROM receipt_log_entries")[0]
    heads = _rows(engine, "SELECT h.suite, h.size, count(e.leaf_index), "
                          "coalesce(max(e.leaf_index) + 1, 0) FROM receipt_logs h "
                          "LEFT JOIN receipt_log_entries e ON e.suite = h.suite "
                          "GROUP BY h.suite, h.size")
    if logged[0] != receipts or logged[1] != receipts:
        bad.append(f"receipts: {receipts} issued, {logged[0]} log entries "
                   f"({logged[1]} distinct)")
    for suite, size, count, top in heads:
        if not size == count == top:
            bad.append(f"receipt log {suite}: size {size}, {count} entries, top {top}")
    return {"receipts": receipts, "logged": logged[0]}


def _webhooks(engine: Engine, received: Mapping[str, int], bad: list[str]) -> dict[str, Any]:
    """Consumers did not double anything: one event per message, recipient and type, one
    delivery per event and endpoint, and every delivered event reached the sink."""
    doubled_events = _rows(engine, "SELECT message_id, org_id, type, count(*) "
                                   "FROM webhook_events GROUP BY 1, 2, 3 HAVING count(*) > 1")
    deliveries = _rows(engine, "SELECT e.id, p.id, count(d.id), "
                               "count(d.id) FILTER (WHERE d.status = 'succeeded') "
                               "FROM webhook_events e JOIN webhook_endpoints p "
                               "ON p.org_id = e.org_id AND p.created_at <= e.created_at "
                               "LEFT JOIN webhook_deliveries d "
                               "ON d.event_id = e.id AND d.endpoint_id = p.id AND NOT d.replay "
                               "GROUP BY 1, 2")
    for row in doubled_events:
        bad.append(f"webhook event made twice: {list(row)}")
    missing = 0
    for event_id, endpoint_id, made, succeeded in deliveries:
        if made != 1:
            bad.append(f"webhook event {event_id}: {made} deliveries to {endpoint_id}")
        if succeeded and not received.get(event_id):
            missing += 1
            bad.append(f"webhook event {event_id}: delivered, never received")
    failed = _rows(engine, "SELECT count(*) FROM webhook_deliveries WHERE status = 'failed'")
    if failed[0][0]:
        bad.append(f"webhook deliveries failed: {failed[0][0]}")
    return {"events": len(deliveries), "received": sum(received.values()),
            "received_more_than_once": sum(1 for n in received.values() if n > 1)}
