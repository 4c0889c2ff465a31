"""Fixtures and builders shared by the rights integration tests.

Import the fixtures you use into the test module (pytest finds fixtures in module globals;
each is defined under a ``*_fixture`` name so that test arguments do not shadow the import):

    from tests.integration.rights_fixtures import rights_fixture, signer_fixture

``rights`` is a :class:`RightsWorld`: parties with actors, one-call builders for the usual
flows (resource → holding right → grant → processing use → product operation), fresh reads
and row counts for "wrote nothing" assertions. Everything goes through the services; the
builders only spare each test the repetition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.kernel import events
from market.kernel.actor import Actor
from market.kernel.audit import AuditHead
from market.kernel.clock import FixedClock
from market.kernel.outbox import OutboxMessage
from market.kernel.uow import UnitOfWork
from market.receipts.signing import Signer
from market.rights import services
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
from market.rights.models import (
    Certificate,
    DataResource,
    Evidence,
    Grant,
    ResourceDispute,
    Right,
    RightEvent,
    RightParent,
)
from tests.conftest import START, TEST_SIGNING_KEY, Party

DAY = timedelta(days=1)

# Scopes and terms that nest: holding ⊇ grant ⊇ processing use ⊇ product operation.
WIDE = Scope(frozenset({"analytics", "marketing", "risk"}),
             frozenset({"finance", "retail", "health"}), Territory.CROSS_BORDER)
GRANTED = Scope(frozenset({"analytics", "risk"}), frozenset({"finance", "retail"}),
                Territory.DOMESTIC)
USE = Scope(frozenset({"analytics", "risk"}), frozenset({"finance"}), Territory.DOMESTIC)
PRODUCT = Scope(frozenset({"analytics"}), frozenset({"finance"}), Territory.DOMESTIC)

HOLDING_TERM = Term(START, START + 3 * 365 * DAY)
GRANT_TERM = Term(START, START + 2 * 365 * DAY)
USE_TERM = Term(START, START + 2 * 365 * DAY)
PRODUCT_TERM = Term(START, START + 365 * DAY)


def evidence(kind: EvidenceKind, name: str | None = None) -> services.EvidenceInput:
    label = name or f"{kind.value}.pdf"
    return services.EvidenceInput(kind=kind, name=label, media_type="application/pdf",
                                  sha256=hashlib.sha256(label.encode()).hexdigest())


def actor_for(party: Party) -> Actor:
    return Actor(kind="user", label=f"user {party.user_id}", user_id=party.user_id,
                 org_id=party.org_id, roles=frozenset(party.roles), org_status="admitted",
                 scopes=frozenset({"read", "write"}))


@dataclass
class Chain:
    """product_operation ← processing_use (on a grant) ← resource_holding, all registered."""

    holder: Party
    grantee: Party
    resource: DataResource
    holding: Right
    grant: Grant
    use: Right
    product: Right

    @property
    def product_id(self) -> str:
        assert self.product.product_id is not None
        return self.product.product_id

    @property
    def ids(self) -> list[str]:
        return [self.holding.id, self.use.id, self.product.id]


@dataclass
class Counts:
    rights: int
    right_events: int
    right_parents: int
    grants: int
    certificates: int
    evidence: int
    disputes: int
    outbox: int
    audit_head: int


@dataclass
class RightsWorld:
    make_party: Callable[..., Party]
    session_factory: sessionmaker[Session]
    clock: FixedClock
    signer: Signer
    _parties: dict[str, Party] = field(default_factory=dict)

    # -- parties and units of work ------------------------------------------------------

    def party(self, name: str, *roles: str) -> Party:
        """The party called ``name`` in this test, made on first use with ``roles``."""
        if name not in self._parties:
            self._parties[name] = self.make_party(*(roles or ("merchant",)), name=f"{name} 公司")
        return self._parties[name]

    @property
    def operator(self) -> Party:
        return self.party("operator", "operator")

    @property
    def assessor(self) -> Party:
        return self.party("assessor", "assessor")

    @property
    def regulator(self) -> Party:
        return self.party("regulator", "regulator")

    def uow(self, party: Party) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.clock, actor_for(party))

    # -- builders -----------------------------------------------------------------------

    def resource(
        self, holder: Party, *, title: str = "企业用电数据", pi_level: PILevel = PILevel.NONE,
        classification: Classification = Classification.GENERAL,
        evidence_kinds: tuple[EvidenceKind, ...] = (EvidenceKind.SOURCE_LEGALITY,),
    ) -> DataResource:
        data = services.ResourceInput(
            title=title, description="月度用电量", origin=Origin.ENTERPRISE,
            classification=classification, pi_level=pi_level, collection_method="meter",
            collection_source="grid company", scenarios=["finance", "retail"],
            update_frequency="monthly", evidence=[evidence(k) for k in evidence_kinds],
        )
        return services.register_resource(data, uow=self.uow(holder))

    def submit(self, holder: Party, kind: RightKind, *, scope: Scope, term: Term,
               resource_id: str | None = None, parent_ids: tuple[str, ...] = (),
               grant_id: str | None = None, product_id: str | None = None,
               product_title: str | None = "用电风险指数",
               evidence_kinds: tuple[EvidenceKind, ...] = ()) -> Right:
        data = services.RightInput(
            kind=kind, scope=scope, term=term, resource_id=resource_id, product_id=product_id,
            product_title=product_title if kind is RightKind.PRODUCT_OPERATION else None,
            parent_ids=parent_ids, grant_id=grant_id,
            evidence=[evidence(k) for k in evidence_kinds],
        )
        return services.submit_right(data, uow=self.uow(holder))

    def claim(self, right_id: str, reviewer: Party | None = None) -> Right:
        return services.claim_review(right_id, uow=self.uow(reviewer or self.operator))

    def approve(self, right_id: str, reviewer: Party | None = None) -> Right:
        return services.decide_review(right_id, approve=True, reason="材料齐全",
                                      uow=self.uow(reviewer or self.operator),
                                      signer=self.signer)

    def register(self, holder: Party, kind: RightKind, **kwargs: Any) -> Right:
        """Submit, claim and approve: a registered right with its certificate."""
        right = self.submit(holder, kind, **kwargs)
        self.claim(right.id)
        return self.approve(right.id)

    def holding(self, holder: Party, resource: DataResource | None = None, *,
                scope: Scope = WIDE, term: Term = HOLDING_TERM) -> Right:
        resource = resource or self.resource(holder)
        return self.register(holder, RightKind.RESOURCE_HOLDING, scope=scope, term=term,
                             resource_id=resource.id)

    def grant(self, grantor: Party, holding: Right, grantee: Party, *,
              scope: Scope = GRANTED, term: Term = GRANT_TERM,
              evidence_kinds: tuple[EvidenceKind, ...] = ()) -> Grant:
        data = services.GrantInput(holding_right_id=holding.id, grantee_org_id=grantee.org_id,
                                   scope=scope, term=term,
                                   evidence=[evidence(k) for k in evidence_kinds])
        return services.create_grant(data, uow=self.uow(grantor))

    def use(self, grantee: Party, holding: Right, grant: Grant | None, *,
            scope: Scope = USE, term: Term = USE_TERM) -> Right:
        return self.register(grantee, RightKind.PROCESSING_USE, scope=scope, term=term,
                             resource_id=holding.resource_id, parent_ids=(holding.id,),
                             grant_id=grant.id if grant else None)

    def product(self, holder: Party, *parents: Right, scope: Scope = PRODUCT,
                term: Term = PRODUCT_TERM, product_id: str | None = None) -> Right:
        return self.register(holder, RightKind.PRODUCT_OPERATION, scope=scope, term=term,
                             parent_ids=tuple(p.id for p in parents), product_id=product_id)

    def chain(self, holder_name: str = "holder", grantee_name: str = "grantee") -> Chain:
        holder = self.party(holder_name)
        grantee = self.party(grantee_name)
        resource = self.resource(holder)
        holding = self.holding(holder, resource)
        grant = self.grant(holder, holding, grantee)
        use = self.use(grantee, holding, grant)
        product = self.product(grantee, use)
        return Chain(holder, grantee, resource, holding, grant, use, product)

    # -- reads --------------------------------------------------------------------------

    def right(self, right_id: str) -> Right:
        with self.session_factory() as session:
            right = session.get(Right, right_id)
            assert right is not None
            return right

    def status(self, right_id: str) -> str:
        return self.right(right_id).status

    def statuses(self, *right_ids: str) -> list[str]:
        return [self.status(r) for r in right_ids]

    def grant_row(self, grant_id: str) -> Grant:
        with self.session_factory() as session:
            grant = session.get(Grant, grant_id)
            assert grant is not None
            return grant

    def audit_seq(self) -> int:
        with self.session_factory() as session:
            return int(session.scalar(select(AuditHead.seq)) or 0)

    def counts(self) -> Counts:
        def count(session: Session, model: Any) -> int:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

        with self.session_factory() as session:
            return Counts(
                rights=count(session, Right), right_events=count(session, RightEvent),
                right_parents=count(session, RightParent), grants=count(session, Grant),
                certificates=count(session, Certificate), evidence=count(session, Evidence),
                disputes=count(session, ResourceDispute), outbox=count(session, OutboxMessage),
                audit_head=int(session.scalar(select(AuditHead.seq)) or 0),
            )

    def history(self, right_id: str, party: Party | None = None) -> list[RightEvent]:
        page = services.right_history(right_id, uow=self.uow(party or self.operator))
        return list(page.items)

    def actions(self, right_id: str) -> list[str]:
        return [e.action for e in self.history(right_id)]


@pytest.fixture(name="signer")
def signer_fixture() -> Signer:
    return Signer(TEST_SIGNING_KEY)


@pytest.fixture(name="rights")
def rights_fixture(make_party: Callable[..., Party], session_factory: sessionmaker[Session],
           clock: FixedClock, signer: Signer) -> RightsWorld:
    return RightsWorld(make_party, session_factory, clock, signer)


@dataclass
class Recorder:
    """What an events subscriber saw, topic by topic."""

    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of(self, topic: str) -> list[dict[str, Any]]:
        return [payload for t, payload in self.seen if t == topic]


@pytest.fixture(name="recorder")
def recorder_fixture() -> Iterator[Recorder]:
    """Records every ``rights.unavailable`` and ``rights.restored`` event; unsubscribes after."""
    found = Recorder()

    def handler_for(topic: str) -> Callable[[UnitOfWork, Mapping[str, Any]], None]:
        def handle(_uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
            found.seen.append((topic, dict(payload)))
        return handle

    unsubscribers = [events.subscribe(topic, handler_for(topic))
                     for topic in (services.UNAVAILABLE, services.RESTORED)]
    try:
        yield found
    finally:
        for unsubscribe in unsubscribers:
            unsubscribe()


def at(days: float) -> datetime:
    return START + timedelta(days=days)


__all__ = [
    "DAY", "GRANTED", "GRANT_TERM", "HOLDING_TERM", "PRODUCT", "PRODUCT_TERM", "USE",
    "USE_TERM", "WIDE", "Chain", "Counts", "Recorder", "RightsWorld", "actor_for", "at",
    "evidence", "recorder_fixture", "rights_fixture", "signer_fixture",
]
