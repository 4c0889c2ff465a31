"""Participant tables. Models guard their own state machine; no web imports here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from market.kernel.actor import Role
from market.kernel.clock import as_utc
from market.kernel.db import Base, JSONType, UTCDateTime, sql_values
from market.kernel.errors import InvalidTransition
from market.participants.documents import DocumentKind, DocumentState, DocumentStatus
from market.participants.domain import Status, can_transition
from market.participants.errors import OperatorStatusFixed
from market.participants.signatures import KeyStatus, SigningSuite

_STATUS_VALUES = ", ".join(f"'{s.value}'" for s in Status)
_ROLE_VALUES = ", ".join(f"'{r.value}'" for r in Role)


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    credit_code: Mapped[str] = mapped_column(String(18), nullable=False, unique=True)
    contact_name: Mapped[str] = mapped_column(String(100), nullable=False)
    contact_email: Mapped[str] = mapped_column(String(254), nullable=False)
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    role_rows: Mapped[list[OrganisationRole]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", lazy="selectin",
        order_by="OrganisationRole.role",
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def roles(self) -> list[str]:
        return sorted(r.role for r in self.role_rows)

    def change_status(self, target: Status, *, reason: str, at: datetime) -> str:
        """Move along the admission state machine; returns the previous status.

        Raises:
            OperatorStatusFixed: this is an operator organisation, whose status never moves.
            InvalidTransition: the admission workflow does not allow ``target`` from here.
        """
        if Role.OPERATOR in self.roles:
            raise OperatorStatusFixed()
        current = Status(self.status)
        if not can_transition(current, target):
            raise InvalidTransition(current=current.value, target=target.value)
        self.status = target.value
        self.status_reason = reason
        self.updated_at = at
        return current.value

    def state(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "credit_code": self.credit_code,
            "contact_name": self.contact_name, "contact_email": self.contact_email,
            "contact_phone": self.contact_phone, "roles": self.roles, "status": self.status,
            "status_reason": self.status_reason,
        }


class OrganisationRole(Base):
    __tablename__ = "organisation_roles"
    __table_args__ = (CheckConstraint(f"role IN ({_ROLE_VALUES})", name="role"),)

    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)

    organisation: Mapped[Organisation] = relationship(back_populates="role_rows")


class StatusChange(Base):
    """One admission decision: who moved the organisation from what to what, and why."""

    __tablename__ = "organisation_status_changes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id"), nullable=False, index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    decided_by_user_id: Mapped[str | None] = mapped_column(String(40))
    decided_by_label: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    email: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    active: Mapped[bool] = mapped_column(nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "organisation_id": self.organisation_id, "name": self.name,
                "email": self.email, "active": self.active}


class ApiKey(Base):
    """An API key; only the SHA-256 of its secret part is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_user_id: Mapped[str | None] = mapped_column(String(40))

    def is_usable(self, at: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or at < self.expires_at

    def revoke(self, *, by_user_id: str | None, at: datetime) -> bool:
        """Revoke the key; False when it was revoked already (nothing changes then)."""
        if self.revoked_at is not None:
            return False
        self.revoked_at = at
        self.revoked_by_user_id = by_user_id
        return True

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "user_id": self.user_id, "organisation_id": self.organisation_id,
                "name": self.name, "scopes": sorted(self.scopes),
                "expires_at": self.expires_at, "revoked_at": self.revoked_at}


class SigningKey(Base):
    """An organisation's signing key (电子签名): registered pending, verified once its holder
    signs the platform's challenge, revocable. Revoked keys stay on record: what they signed
    while verified still verifies, and nothing from their revocation on."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        CheckConstraint(f"suite IN ({sql_values(SigningSuite)})", name="suite"),
        CheckConstraint(f"status IN ({sql_values(KeyStatus)})", name="status"),
        Index("ix_signing_keys_org", "organisation_id", "id"),
        Index("ix_signing_keys_public_key", "public_key"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"),
                                                 nullable=False)
    suite: Mapped[str] = mapped_column(String(16), nullable=False)
    public_key: Mapped[str] = mapped_column(String(130), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    challenge: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by_user_id: Mapped[str | None] = mapped_column(String(40))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_user_id: Mapped[str | None] = mapped_column(String(40))
    revocation_reason: Mapped[str | None] = mapped_column(Text)

    def verify(self, at: datetime) -> None:
        """Its challenge is signed: the key may sign from now on.

        Raises:
            InvalidTransition: the key is not pending.
        """
        if self.status != KeyStatus.PENDING.value:
            raise InvalidTransition(current=self.status, target=KeyStatus.VERIFIED.value)
        self.status = KeyStatus.VERIFIED.value
        self.verified_at = at

    def revoke(self, *, by_user_id: str | None, reason: str, at: datetime) -> bool:
        """Revoke the key; False when it was revoked already (nothing changes then)."""
        if self.status == KeyStatus.REVOKED.value:
            return False
        self.status = KeyStatus.REVOKED.value
        self.revoked_at, self.revoked_by_user_id, self.revocation_reason = at, by_user_id, reason
        return True

    def usable_at(self, at: datetime) -> bool:
        """Whether the key could sign at ``at``: verified by then, and not yet revoked."""
        if self.verified_at is None or as_utc(self.verified_at) > at:
            return False
        return self.revoked_at is None or at < as_utc(self.revoked_at)

    def status_at(self, at: datetime) -> str:
        """What the key was at ``at``: verified, pending or revoked."""
        if self.usable_at(at):
            return KeyStatus.VERIFIED.value
        if self.revoked_at is not None and as_utc(self.revoked_at) <= at:
            return KeyStatus.REVOKED.value
        return KeyStatus.PENDING.value

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "organisation_id": self.organisation_id, "suite": self.suite,
                "public_key": self.public_key, "name": self.name, "status": self.status,
                "verified_at": self.verified_at, "revoked_at": self.revoked_at,
                "revocation_reason": self.revocation_reason}


_DOCUMENT_KINDS = ", ".join(f"'{k.value}'" for k in DocumentKind)
_DOCUMENT_STATUSES = ", ".join(f"'{s.value}'" for s in DocumentStatus)


class OrganisationDocument(Base):
    """A qualification document (主体资格材料) identified by its SHA-256: the business
    licence, the legal representative's identity, the data-security officer's appointment.
    A renewal is a new row of the same kind; verifying it supersedes the one before."""

    __tablename__ = "organisation_documents"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_DOCUMENT_KINDS})", name="kind"),
        CheckConstraint(f"status IN ({_DOCUMENT_STATUSES})", name="status"),
        CheckConstraint("expires_on IS NULL OR issued_on IS NULL OR expires_on >= issued_on",
                        name="dates"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    media_type: Mapped[str] = mapped_column(String(100), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int | None] = mapped_column(Integer)
    stored: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    issued_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    replaces_id: Mapped[str | None] = mapped_column(String(40))
    submitted_by_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    reviewed_by_user_id: Mapped[str | None] = mapped_column(String(40))
    reviewed_by_label: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)

    def snapshot(self) -> DocumentState:
        return DocumentState(self.id, self.kind, self.status, self.expires_on, self.issued_on)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "organisation_id": self.organisation_id, "kind": self.kind,
                "name": self.name, "sha256": self.sha256, "stored": self.stored,
                "issued_on": self.issued_on.isoformat() if self.issued_on else None,
                "expires_on": self.expires_on.isoformat() if self.expires_on else None,
                "status": self.status, "replaces_id": self.replaces_id,
                "review_note": self.review_note}


class DocumentReminder(Base):
    """A reminder sent that a document expires within ``threshold_days``: once each."""

    __tablename__ = "organisation_document_reminders"

    document_id: Mapped[str] = mapped_column(
        ForeignKey("organisation_documents.id"), primary_key=True)
    threshold_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class OrganisationIdentity(Base):
    """The people behind an organisation (实名制), from its admission documents: its legal
    representative and controlling shareholder, kept as keyed digests of their identity
    numbers (equal numbers, equal digests) with the last four characters for display."""

    __tablename__ = "organisation_identities"
    __table_args__ = (
        CheckConstraint("controller_kind IS NULL OR controller_kind IN "
                        "('person', 'organisation')", name="controller_kind"),
    )

    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id"), primary_key=True)
    legal_representative_name: Mapped[str | None] = mapped_column(String(100))
    legal_representative_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    legal_representative_hint: Mapped[str | None] = mapped_column(String(40))
    controller_name: Mapped[str | None] = mapped_column(String(200))
    controller_kind: Mapped[str | None] = mapped_column(String(16))
    controller_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    controller_hint: Mapped[str | None] = mapped_column(String(40))
    controller_credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    security_officer_name: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"organisation_id": self.organisation_id,
                "legal_representative_name": self.legal_representative_name,
                "legal_representative_hint": self.legal_representative_hint,
                "controller_name": self.controller_name,
                "controller_kind": self.controller_kind,
                "controller_hint": self.controller_hint,
                "controller_credit_code": self.controller_credit_code,
                "security_officer_name": self.security_officer_name}


class CreditMarkRow(Base):
    """A participant's current public credit mark (信用标识) with its components."""

    __tablename__ = "credit_marks"
    __table_args__ = (
        CheckConstraint("score >= 0 AND score <= 100", name="score"),
        CheckConstraint("grade IN ('A', 'B', 'C', 'D')", name="grade"),
    )

    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id"), primary_key=True)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    grade: Mapped[str] = mapped_column(String(1), nullable=False)
    components: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"organisation_id": self.organisation_id, "score": self.score,
                "grade": self.grade, "components": self.components}


class ConsoleSession(Base):
    """A person's session in the web console, opened with an API key: the browser holds
    only a random token, of which the SHA-256 is kept here. The session acts as its key, so
    revoking the key, expiring it or suspending the organisation ends the session too."""

    __tablename__ = "console_sessions"
    __table_args__ = (
        CheckConstraint("expires_at > created_at", name="console_session_expiry"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), nullable=False, index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(20))

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "key_id": self.key_id, "user_id": self.user_id,
                "organisation_id": self.organisation_id, "created_at": self.created_at,
                "expires_at": self.expires_at, "ended_at": self.ended_at,
                "end_reason": self.end_reason}
