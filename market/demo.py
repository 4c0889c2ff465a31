"""The demo scenario behind ``market demo``: a small cast and one rights chain, end to end.

It goes through the same services the API calls, with each party acting as itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from market.actor import Actor, system_actor
from market.clock import Clock
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.receipts.signing import Signer
from market.rights import services as rights
from market.rights.domain import (
    Classification,
    EvidenceKind,
    Origin,
    PILevel,
    RightKind,
    Scope,
    Term,
    Territory,
)
from market.uow import UnitOfWork

CAST = (
    ("operator", "operator", "示例数据交易所运营方"),
    ("merchant", "merchant", "示例数据商有限公司"),
    ("processor", "merchant", "示例数据加工服务有限公司"),
    ("buyer", "buyer", "示例需求方科技有限公司"),
)


def run_demo(
    session_factory: sessionmaker[Session], clock: Clock, signer: Signer, *, key_ttl: timedelta,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Create the cast and the chain resource_holding ← processing_use ← product_operation."""

    def uow(actor: Actor) -> UnitOfWork:
        return UnitOfWork(session_factory, clock, actor)

    made: dict[str, Any] = {}
    actors: dict[str, Actor] = {}
    for label, role, name in CAST:
        code = random_credit_code()
        reg = participants.register_organisation(
            participants.OrganisationInput(
                name=name, credit_code=code, contact_name=f"{label} admin",
                contact_email=f"{label}+{code.lower()}@market.local", roles=frozenset([role]),
            ),
            uow=uow(system_actor("demo")), key_ttl=key_ttl, reason="demo",
        )
        made[label] = {"organisation_id": reg.organisation.id, "api_key": reg.api_key.token}
        actors[label] = Actor(
            kind="user", label=f"demo {label}", user_id=reg.user.id,
            org_id=reg.organisation.id, roles=frozenset([role]), org_status="admitted",
            scopes=frozenset({"read", "write"}), key_id=reg.api_key.key.id,
        )
        say(f"{label:9} {name} {reg.organisation.id}")

    now = clock.now()
    term = Term(now, now + timedelta(days=3 * 365))
    scope = Scope(frozenset({"交通规划", "traffic analytics"}),
                  frozenset({"城市交通治理", "urban mobility"}), Territory.DOMESTIC)
    licence = "数据来源：路侧感知设备自采，见采集备案文件。".encode()
    resource = rights.register_resource(
        rights.ResourceInput(
            title="城市道路交通流量数据 (urban traffic flow)",
            description="路段级 5 分钟粒度车流量与平均车速，已脱敏，不含个人信息。",
            origin=Origin.ENTERPRISE, classification=Classification.GENERAL,
            pi_level=PILevel.NONE, collection_method="roadside sensors",
            collection_source="自有路侧感知设备", scenarios=sorted(scope.scenarios),
            update_frequency="5 minutes",
            evidence=[rights.EvidenceInput(
                EvidenceKind.SOURCE_LEGALITY, "采集备案.txt", "text/plain",
                hashlib.sha256(licence).hexdigest(), licence,
            )],
        ),
        uow=uow(actors["merchant"]),
    )
    say(f"resource  {resource.id} registered by the merchant")

    def register(actor: str, data: rights.RightInput) -> Any:
        right = rights.submit_right(data, uow=uow(actors[actor]))
        rights.claim_review(right.id, uow=uow(actors["operator"]))
        right = rights.decide_review(right.id, approve=True, reason="材料齐全，权属清晰",
                                     uow=uow(actors["operator"]), signer=signer)
        say(f"{right.kind:17} {right.id} registered, certificate {right.certificate_number}")
        return right

    holding = register("merchant", rights.RightInput(
        kind=RightKind.RESOURCE_HOLDING, scope=scope, term=term, resource_id=resource.id))
    grant = rights.create_grant(
        rights.GrantInput(holding_right_id=holding.id,
                          grantee_org_id=made["processor"]["organisation_id"],
                          scope=scope, term=term),
        uow=uow(actors["merchant"]),
    )
    say(f"grant     {grant.id} processing use granted to the processor")
    processing = register("processor", rights.RightInput(
        kind=RightKind.PROCESSING_USE, scope=scope, term=term, resource_id=resource.id,
        parent_ids=[holding.id], grant_id=grant.id))
    operation = register("processor", rights.RightInput(
        kind=RightKind.PRODUCT_OPERATION, scope=scope, term=term,
        product_title="城市拥堵指数 API (congestion index)", parent_ids=[processing.id]))
    chain = rights.check_chain(operation.product_id or "", clock.now(),
                               uow=uow(system_actor("demo")))
    say(f"chain     product {operation.product_id}: "
        f"{'unbroken' if chain.ok else chain.broken}")
    made["rights"] = {
        "resource_id": resource.id, "grant_id": grant.id,
        "product_id": operation.product_id, "chain_ok": chain.ok,
        "certificates": [holding.certificate_number, processing.certificate_number,
                         operation.certificate_number],
    }
    return made
