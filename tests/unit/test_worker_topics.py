"""Every topic the application puts in the outbox has a consumer in the worker, so no
message is retried until it is dead for want of one."""

from __future__ import annotations

import ast
from pathlib import Path

import market
from market.cli import CONSUMERS, NEGOTIATION_ACTIONS
from market.listing.domain import ListingStatus
from market.participants.domain import Status
from market.trading.domain import OrderStatus


def _enqueued() -> set[str]:
    found: set[str] = set()
    for path in Path(market.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "enqueue" and node.args):
                topic = node.args[0]
                if isinstance(topic, ast.Constant):
                    found.add(str(topic.value))
                elif isinstance(topic, ast.JoinedStr):  # f"listing.{action}" and the like
                    prefix = "".join(str(v.value) for v in topic.values
                                     if isinstance(v, ast.Constant))
                    found.add(prefix + "*")
    return found


def test_every_enqueued_topic_has_a_consumer() -> None:
    enqueued = _enqueued()
    assert {t for t in enqueued if not t.endswith("*")} <= set(CONSUMERS)
    prefixes = {t[:-1] for t in enqueued if t.endswith("*")}
    assert prefixes == {"listing.", "right.", "participant.", "order.", "negotiation.",
                        "payout."}
    # what the formatted topics can be
    assert {f"listing.{a}" for a in ("suspended", "reinstated", "delisted")} <= set(CONSUMERS)
    assert {f"participant.{s.value}" for s in Status} <= set(CONSUMERS)
    assert {f"order.{s.value}" for s in OrderStatus} <= set(CONSUMERS)
    assert {f"negotiation.{a}" for a in NEGOTIATION_ACTIONS} <= set(CONSUMERS)
    assert {f"payout.{o}" for o in ("paid", "rejected")} <= set(CONSUMERS)
    assert ListingStatus.LISTED.value == "listed"
