"""Rights tables: resources, evidence, rights and their parents and history, grants,
disputes and certificates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from market.kernel.db import Base, JSONType, UTCDateTime, sql_values
from market.kernel.errors import InvalidInput, InvalidTransition
from market.kernel.statemachine import HistoryRow, Lifecycle, Stateful
from market.rights import domain
from market.rights.domain import TRANSITIONS, RightStatus, Scope, Term, Territory, Violation
from market.rights.errors import (
    DisputeClosed,
    NotTheHolder,
    ReviewClaimedByOther,
    ReviewerIsHolder,
    RightRefused,
)

# The statuses the operator sets by hand, and the history action each records.
MANUAL_ACTIONS = {RightStatus.SUSPENDED: "suspended", RightStatus.REGISTERED: "reinstated",
                  RightStatus.REVOKED: "revoked"}


class DataResource(Base):
    """A data resource (数据资源) registered by the organisation that holds it."""

    __tablename__ = "data_resources"
    __table_args__ = (
        CheckConstraint(f"origin IN ({sql_values(domain.Origin)})", name="origin"),
        CheckConstraint(f"classification IN ({sql_values(domain.Classification)})",
                        name="classification"),
        CheckConstraint(f"pi_level IN ({sql_values(domain.PILevel)})", name="pi_level"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False,
                                               index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    origin: Mapped[str] = mapped_column(String(24), nullable=False)
    classification: Mapped[str] = mapped_column(String(16), nullable=False)
    pi_level: Mapped[str] = mapped_column(String(24), nullable=False)
    collection_method: Mapped[str] = mapped_column(String(200), nullable=False)
    collection_source: Mapped[str] = mapped_column(String(500), nullable=False)
    scenarios: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    update_frequency: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Public data (origin public_authorised): its category (交通, 气象 …), which a public-data
    # authorisation's scope names.
    public_category: Mapped[str | None] = mapped_column(String(60))
    # Sensitive personal information it holds (minors, biometrics, health, …) and where it
    # is stored: an ISO country code (数据境内存储: CN unless declared) and a region.
    sensitive_categories: Mapped[list[str]] = mapped_column(JSONType, nullable=False,
                                                            default=list)
    storage_location: Mapped[str] = mapped_column(String(2), nullable=False, default="CN",
                                                  server_default="CN")
    storage_region: Mapped[str | None] = mapped_column(String(100))

    def state(self) -> dict[str, Any]:
        return {
            "id": self.id, "holder_org_id": self.holder_org_id, "title": self.title,
            "description": self.description, "origin": self.origin,
            "classification": self.classification, "pi_level": self.pi_level,
            "collection_method": self.collection_method,
            "collection_source": self.collection_source, "scenarios": self.scenarios,
            "update_frequency": self.update_frequency, "public_category": self.public_category,
            "sensitive_categories": list(self.sensitive_categories or []),
            "storage_location": self.storage_location, "storage_region": self.storage_region,
        }


class Evidence(Base):
    """A document backing a resource, right or grant, identified by its SHA-256."""

    __tablename__ = "rights_evidence"
    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_values(domain.EvidenceKind)})", name="kind"),
        CheckConstraint("owner_type IN ('resource', 'right', 'grant')", name="owner_type"),
        Index("ix_rights_evidence_owner", "owner_type", "owner_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(16), nullable=False)
    owner_id: Mapped[str] = mapped_column(String(40), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    media_type: Mapped[str] = mapped_column(String(100), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int | None] = mapped_column(Integer)
    stored: Mapped[bool] = mapped_column(nullable=False, default=False)
    added_by_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "owner_type": self.owner_type, "owner_id": self.owner_id,
                "kind": self.kind, "name": self.name, "media_type": self.media_type,
                "sha256": self.sha256, "size": self.size}


class Right(Stateful, Base):
    """A right registration: one of the three separated rights over a resource or product."""

    __tablename__ = "rights"
    LIFECYCLE = Lifecycle(RightStatus, TRANSITIONS)
    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_values(domain.RightKind)})", name="kind"),
        CheckConstraint(f"status IN ({sql_values(RightStatus)})", name="status"),
        CheckConstraint(f"territory IN ({sql_values(Territory)})", name="territory"),
        CheckConstraint(
            "(kind = 'product_operation' AND product_id IS NOT NULL AND resource_id IS NULL) OR "
            "(kind <> 'product_operation' AND resource_id IS NOT NULL AND product_id IS NULL)",
            name="subject",
        ),
        Index("ix_rights_status_valid_to", "status", "valid_to"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    holder_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False,
                                               index=True)
    resource_id: Mapped[str | None] = mapped_column(ForeignKey("data_resources.id"), index=True)
    product_id: Mapped[str | None] = mapped_column(String(40), index=True)
    subject_title: Mapped[str] = mapped_column(String(200), nullable=False)
    grant_id: Mapped[str | None] = mapped_column(ForeignKey("grants.id", use_alter=True),
                                                 index=True)
    purposes: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    scenarios: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    territory: Mapped[str] = mapped_column(String(16), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Set when the suspension comes from elsewhere (a parent right, a dispute) so that
    # lifting that cause restores exactly what it suspended.
    suspended_by: Mapped[str | None] = mapped_column(String(40), index=True)
    reviewer_org_id: Mapped[str | None] = mapped_column(String(40))
    certificate_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def scope(self) -> Scope:
        return Scope(frozenset(self.purposes), frozenset(self.scenarios),
                     Territory(self.territory))

    @property
    def term(self) -> Term:
        return Term(self.valid_from, self.valid_to)

    def entered(self, target: Any, *, at: datetime, reason: str | None) -> None:
        self.status_reason = reason
        if target is RightStatus.REGISTERED:
            self.suspended_by = None
            if self.registered_at is None:
                self.registered_at = at

    def claim_review(self, reviewer_org_id: str | None) -> None:
        """Take the review for ``reviewer_org_id``; the status moves separately.

        Raises:
            ReviewerIsHolder: an organisation may not review its own registration.
        """
        if self.holder_org_id == reviewer_org_id:
            raise ReviewerIsHolder()
        self.reviewer_org_id = reviewer_org_id

    def check_decision(self, reviewer_org_id: str | None, *, system: bool,
                       approve: bool) -> None:
        """Whether ``reviewer_org_id`` may decide this review now.

        Raises:
            ReviewerIsHolder: an organisation may not review its own registration.
            ReviewClaimedByOther: another organisation claimed the review.
            InvalidTransition: approving a right that is not under review.
        """
        if self.holder_org_id == reviewer_org_id:
            raise ReviewerIsHolder()
        if (self.status == RightStatus.UNDER_REVIEW.value and not system
                and self.reviewer_org_id != reviewer_org_id):
            raise ReviewClaimedByOther()
        if approve and self.status != RightStatus.UNDER_REVIEW.value:
            raise InvalidTransition(current=self.status, target=RightStatus.REGISTERED.value)

    def manual_action(self, target: RightStatus, org_id: str | None, *,
                      operator: bool) -> str:
        """The history action of setting ``target`` by hand: the operator may suspend,
        reinstate or revoke; the holder may only revoke (surrender) its own right.

        Raises:
            NotTheHolder: a non-operator acts on another's right or asks for more than revoking.
            InvalidInput: ``target`` is not a status set by hand.
        """
        if not operator and (self.holder_org_id != org_id or target is not RightStatus.REVOKED):
            raise NotTheHolder()
        if target not in MANUAL_ACTIONS:
            raise InvalidInput(errors={"status": ["must be suspended, registered or revoked"]})
        return MANUAL_ACTIONS[target]

    def check_reinstatable(self, parents: Iterable[Right]) -> None:
        """A right is reinstated only while every right it rests on is registered; it then no
        longer waits on any cause.

        Raises:
            RightRefused: naming each parent that is not registered.
        """
        broken = [Violation("parent_not_registered", f"parent right {p.id} is {p.status}", p.id)
                  for p in parents if p.status != RightStatus.REGISTERED.value]
        if broken:
            raise RightRefused(broken)
        self.suspended_by = None

    def grant_to(self, grantee_org_id: str, scope: Scope, term: Term, *, at: datetime,
                 grant_id: str) -> Grant:
        """A grant of processing use out of this resource holding right.

        Raises:
            RightRefused: this right is not registered and in term at ``at``, or the grant
                exceeds its scope or term.
        """
        problems: list[Violation] = []
        if self.status != RightStatus.REGISTERED.value or not self.term.contains(at):
            problems.append(Violation("parent_not_registered",
                                      f"right {self.id} is not registered and in term", self.id))
        gaps = self.scope.uncovered(scope)
        if gaps:
            problems.append(Violation("scope_exceeded",
                                      f"right {self.id} does not cover " + ", ".join(gaps),
                                      self.id))
        if not self.term.covers(term):
            problems.append(Violation("term_exceeded",
                                      f"the term goes beyond right {self.id}'s term", self.id))
        if problems:
            raise RightRefused(problems)
        assert self.resource_id is not None
        return Grant(
            id=grant_id, holding_right_id=self.id, resource_id=self.resource_id,
            grantor_org_id=self.holder_org_id, grantee_org_id=grantee_org_id,
            purposes=sorted(scope.purposes), scenarios=sorted(scope.scenarios),
            territory=scope.territory.value, valid_from=term.valid_from,
            valid_to=term.valid_to, status="active", created_at=at,
        )

    def state(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "holder_org_id": self.holder_org_id,
            "resource_id": self.resource_id, "product_id": self.product_id,
            "grant_id": self.grant_id, "purposes": sorted(self.purposes),
            "scenarios": sorted(self.scenarios), "territory": self.territory,
            "valid_from": self.valid_from, "valid_to": self.valid_to, "status": self.status,
            "status_reason": self.status_reason, "certificate_number": self.certificate_number,
        }


class RightParent(Base):
    """The derivation chain: a right rests on its parents."""

    __tablename__ = "right_parents"

    right_id: Mapped[str] = mapped_column(ForeignKey("rights.id"), primary_key=True)
    parent_id: Mapped[str] = mapped_column(ForeignKey("rights.id"), primary_key=True, index=True)


class RightEvent(HistoryRow, Base):
    """The full history of a right: every status change and why."""

    __tablename__ = "right_events"

    right_id: Mapped[str] = mapped_column(ForeignKey("rights.id"), nullable=False, index=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)


class Grant(Base):
    """A grant (授权) of processing use by a resource holder to another organisation."""

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
        CheckConstraint(f"territory IN ({sql_values(Territory)})", name="territory"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    holding_right_id: Mapped[str] = mapped_column(ForeignKey("rights.id"), nullable=False,
                                                  index=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("data_resources.id"), nullable=False)
    grantor_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False,
                                                index=True)
    grantee_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False,
                                                index=True)
    purposes: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    scenarios: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    territory: Mapped[str] = mapped_column(String(16), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    @property
    def scope(self) -> Scope:
        return Scope(frozenset(self.purposes), frozenset(self.scenarios),
                     Territory(self.territory))

    @property
    def term(self) -> Term:
        return Term(self.valid_from, self.valid_to)

    @property
    def active(self) -> bool:
        return self.status == "active"

    def usable_at(self, at: datetime) -> bool:
        return self.active and self.term.contains(at)

    def revoke(self, reason: str, *, at: datetime, org_id: str | None, operator: bool) -> bool:
        """Revoke the grant; False when it already was (revoking twice changes nothing).

        Raises:
            NotTheHolder: ``org_id`` is not the grantor and the caller is not the operator.
        """
        if not (operator or self.grantor_org_id == org_id):
            raise NotTheHolder()
        if self.status == "revoked":
            return False
        self.status = "revoked"
        self.revoked_reason = reason
        self.revoked_at = at
        return True

    def state(self) -> dict[str, Any]:
        return {
            "id": self.id, "holding_right_id": self.holding_right_id,
            "resource_id": self.resource_id, "grantor_org_id": self.grantor_org_id,
            "grantee_org_id": self.grantee_org_id, "purposes": sorted(self.purposes),
            "scenarios": sorted(self.scenarios), "territory": self.territory,
            "valid_from": self.valid_from, "valid_to": self.valid_to, "status": self.status,
            "revoked_reason": self.revoked_reason,
        }


class ResourceDispute(Base):
    """A dispute over who holds a resource; rights on it are suspended while it is open."""

    __tablename__ = "resource_disputes"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'upheld', 'dismissed')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("data_resources.id"), nullable=False,
                                             index=True)
    claimant_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    resolution: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def resolve(self, upheld: bool, resolution: str, *, at: datetime) -> None:
        """Close the dispute, upheld or dismissed.

        Raises:
            DisputeClosed: it is already resolved.
        """
        if self.status != "open":
            raise DisputeClosed()
        self.status = "upheld" if upheld else "dismissed"
        self.resolution = resolution
        self.resolved_at = at

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "resource_id": self.resource_id,
                "claimant_org_id": self.claimant_org_id, "reason": self.reason,
                "status": self.status, "resolution": self.resolution}


class CertificateCounter(Base):
    """Per-year sequence of certificate numbers (DR-2026-000123)."""

    __tablename__ = "certificate_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, nullable=False)


class Certificate(Base):
    """A registration certificate (登记证书): the signed public document of a right."""

    __tablename__ = "certificates"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    right_id: Mapped[str] = mapped_column(ForeignKey("rights.id"), nullable=False, unique=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    signer: Mapped[str] = mapped_column(String(42), nullable=False)
    signature: Mapped[str] = mapped_column(String(132), nullable=False)
    issued_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class PublicDataAuthorisation(Base):
    """The exchange's authorisation of an organisation to operate public data (公共数据授权
    运营), granted after checking its qualification and reputation (documents by SHA-256),
    for a term and a scope: public-data categories or resources, and scenarios."""

    __tablename__ = "public_data_authorisations"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
        CheckConstraint("valid_to > valid_from", name="term"),
        Index("ix_public_data_authorisations_org", "org_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False)
    categories: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    resource_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    scenarios: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_to: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    qualification: Mapped[str] = mapped_column(Text, nullable=False)
    reputation: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    granted_by_org_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def term(self) -> Term:
        return Term(self.valid_from, self.valid_to)

    def in_term(self, at: datetime) -> bool:
        """Active and within its term at ``at``."""
        return self.status == "active" and self.term.contains(at)

    def scope(self) -> dict[str, Any]:
        return {"id": self.id, "categories": sorted(self.categories),
                "resource_ids": sorted(self.resource_ids), "scenarios": sorted(self.scenarios)}

    def revoke(self, reason: str, *, at: datetime) -> bool:
        """Revoke it; False when it already was (revoking twice changes nothing)."""
        if self.status == "revoked":
            return False
        self.status, self.revoked_reason, self.revoked_at = "revoked", reason, at
        return True

    def state(self) -> dict[str, Any]:
        return {**self.scope(), "org_id": self.org_id, "valid_from": self.valid_from,
                "valid_to": self.valid_to, "status": self.status,
                "evidence": [e["sha256"] for e in self.evidence],
                "revoked_reason": self.revoked_reason}
