"""The supervision trace (事后可追溯): one row per successful read a regulator made, in
readable columns, so "who looked at what" is answered by a query. Rows are append-only (the
database refuses to change or delete them), and each read also has its audit-chain entry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from market.kernel.db import Base, UTCDateTime


class SupervisionRead(Base):
    __tablename__ = "supervision_reads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(40))
    key_id: Mapped[str | None] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(8), nullable=False)
    path: Mapped[str] = mapped_column(String(500), nullable=False)
    query: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    result_count: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_supervision_reads_org_at", "org_id", "at"),
        Index("ix_supervision_reads_user_at", "user_id", "at"),
    )
