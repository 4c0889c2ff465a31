"""Pay-per-use (按量计费): an order on a pay-per-use offer covers one metering period. The
buyer pays the offer's cap into escrow; the merchant delivers an API credential good for the
period; its API reports usage records; when the period ends (or the buyer accepts earlier)
the units used are billed at the unit price, never above the cap, the bill is split like any
price and the rest of the deposit goes back to the buyer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from market.kernel.errors import Conflict, InvalidInput, InvalidTransition
from market.kernel.ids import new_id
from market.trading.domain import METERED, OrderStatus
from market.trading.models import Contract, Order, UsageRecord


class UsageKeyReused(Conflict):
    """A usage report's key names one report; it was used for another number of units."""

    code = "usage_key_reused"
    title = "The usage key was reported with other units"


class NotMetered(InvalidInput):
    code = "order_not_metered"
    title = "The order is not on a pay-per-use offer"


class MeteringPeriodOver(Conflict):
    code = "metering_period_over"
    title = "The order's metering period is over"


@dataclass(frozen=True)
class Usage:
    units: int
    unit: str
    unit_price: int
    cap: int
    billed: int  # what the units cost so far, capped
    records: int


def is_metered(contract: Contract) -> bool:
    return bool(contract.document["offer"]["kind"] == METERED)


def usage(session: Session, order: Order, contract: Contract) -> Usage:
    """The units reported for a metered order and what they cost, capped."""
    if not is_metered(contract):
        raise NotMetered()
    offer = contract.document["offer"]
    units, records = session.execute(
        select(func.coalesce(func.sum(UsageRecord.units), 0), func.count())
        .where(UsageRecord.order_id == order.id)).one()
    unit_price, cap = int(offer["amount"]), int(offer["cap_amount"])
    return Usage(units=int(units), unit=str(offer["unit"]), unit_price=unit_price, cap=cap,
                 billed=min(int(units) * unit_price, cap), records=int(records))


def record(session: Session, order: Order, contract: Contract, key: str, units: int, *,
           at: datetime) -> tuple[UsageRecord, bool]:
    """Keep one usage report of a delivered metered order within its period; returns the
    record and whether it is new (the same key with the same units returns the first).

    Raises:
        NotMetered, InvalidTransition (not delivered), MeteringPeriodOver, UsageKeyReused.
    """
    if not is_metered(contract):
        raise NotMetered()
    existing = session.scalars(select(UsageRecord).where(
        UsageRecord.order_id == order.id, UsageRecord.key == key)).one_or_none()
    if existing is not None:
        if existing.units != units:
            raise UsageKeyReused()
        return existing, False
    if order.status != OrderStatus.DELIVERED.value:
        raise InvalidTransition(current=order.status, target="metered")
    if order.accept_by is not None and at >= order.accept_by:
        raise MeteringPeriodOver()
    found = UsageRecord(id=new_id("use"), order_id=order.id, key=key, units=units,
                        recorded_at=at)
    session.add(found)
    session.flush()
    return found, True
