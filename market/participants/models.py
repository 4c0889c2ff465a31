"""Participant tables. Models guard their own state machine; no web imports here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from market.kernel.actor import Role
from market.kernel.db import Base, JSONType, UTCDateTime
from market.kernel.errors import InvalidTransition
from market.participants.domain import Status, can_transition
from market.participants.errors import OperatorStatusFixed

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
