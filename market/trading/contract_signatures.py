"""The table of contract signatures: each party's signature of its order's contract by a
registered key, or the record that it declined to sign (电子合同). Append-only."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CheckConstraint, ForeignKey, UniqueConstraint
from sqlalchemy.types import String, Text

from market.kernel.db import Base, UTCDateTime, sql_values


class Side(StrEnum):
    BUYER = "buyer"  # signs at ordering, once the contract (which names the order) exists
    SELLER = "seller"  # signs when it takes the order on: before its first delivery


class Act(StrEnum):
    SIGNED = "signed"
    DECLINED = "declined"


class ContractSignature(Base):
    """One party's act on its order's contract: a signature of the contract's SHA-256 by a
    key its organisation had registered and verified (the key's id, suite and public key
    kept beside it, so the signature can be checked without the registry), or a decline
    with its reason. One per party and contract; never updated or deleted (database
    triggers)."""

    __tablename__ = "contract_signatures"
    __table_args__ = (
        CheckConstraint(f"party IN ({sql_values(Side)})", name="party"),
        CheckConstraint(f"act IN ({sql_values(Act)})", name="act"),
        CheckConstraint("act = 'declined' OR (key_id IS NOT NULL AND signature IS NOT NULL)",
                        name="signed_with_key"),
        UniqueConstraint("contract_id", "party", name="uq_contract_signatures_party"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id"), nullable=False)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), nullable=False, index=True)
    party: Mapped[str] = mapped_column(String(8), nullable=False)
    org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    act: Mapped[str] = mapped_column(String(8), nullable=False)
    contract_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    key_id: Mapped[str | None] = mapped_column(String(40))
    suite: Mapped[str | None] = mapped_column(String(16))
    public_key: Mapped[str | None] = mapped_column(String(130))
    signature: Mapped[str | None] = mapped_column(String(132))
    reason: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "contract_id": self.contract_id, "order_id": self.order_id,
                "party": self.party, "org_id": self.org_id, "act": self.act,
                "contract_sha256": self.contract_sha256, "key_id": self.key_id,
                "suite": self.suite, "public_key": self.public_key,
                "signature": self.signature, "reason": self.reason,
                "at": self.at.isoformat()}
