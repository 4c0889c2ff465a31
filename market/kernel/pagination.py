"""Keyset pagination shared by repositories: order by id (ids are time-ordered ULIDs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

T = TypeVar("T")
U = TypeVar("U")
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_after: str | None

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item converted (rows to frozen records, say)."""
        return Page([convert(item) for item in self.items], self.next_after)


def where_given(stmt: Select[Any], *pairs: tuple[Any, Any]) -> Select[Any]:
    """``stmt`` filtered on each (column, value) whose value is given (a list's filters)."""
    for column, value in pairs:
        if value:
            stmt = stmt.where(column == value)
    return stmt


def keyset_page(
    session: Session,
    stmt: Select[Any],
    id_column: Any,
    *,
    after: str | None,
    limit: int,
    key: Callable[[Any], str] = lambda row: str(row.id),
) -> Page[Any]:
    """Run ``stmt`` ordered by ``id_column`` starting after ``after``; one page of ``limit``."""
    limit = max(1, min(limit, MAX_LIMIT))
    if after is not None:
        stmt = stmt.where(id_column > after)
    rows = list(session.scalars(stmt.order_by(id_column).limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, key(rows[-1]) if has_more and rows else None)
