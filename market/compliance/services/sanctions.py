"""Suspension orders: a regulator orders a participant or a listing suspended, and the order
is carried out at once by the system, on the regulator's order. A participant is suspended
through the participants context; a listing's suspension is announced as an in-transaction
event (``LISTING_SUSPENSION_ORDERED``) that the listing context handles."""

from __future__ import annotations

from market.compliance.errors import AlertNotFound
from market.compliance.models import Alert, SuspensionOrder
from market.kernel import events
from market.kernel.actor import Role, system_actor
from market.kernel.errors import RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.services import Status

LISTING_SUSPENSION_ORDERED = "compliance.listing_suspension_ordered"


def order_suspension(subject_type: str, subject_id: str, reason: str,
                     alert_id: str | None = None, *, uow: UnitOfWork) -> SuspensionOrder:
    """A regulator orders a participant or a listing suspended; the order is recorded and
    carried out at once, in one transaction (by the system, on the regulator's order).

    Raises:
        RoleNotAllowed: not a regulator.
        AlertNotFound: ``alert_id`` names no alert.
        OrganisationNotFound / ProductNotFound: no such subject.
        InvalidTransition: the subject is not in a state that can be suspended.
    """
    if not (uow.actor.is_system or uow.actor.has_role(Role.REGULATOR)):
        raise RoleNotAllowed()
    with uow:
        if alert_id is not None and uow.session.get(Alert, alert_id) is None:
            raise AlertNotFound()
        order = SuspensionOrder(
            id=new_id("sso"), subject_type=subject_type, subject_id=subject_id, reason=reason,
            alert_id=alert_id, ordered_by_org_id=uow.actor.org_id or "system",
            ordered_by_user_id=uow.actor.user_id, ordered_at=uow.clock.now())
        uow.session.add(order)
        uow.session.flush()
        uow.audit.record(uow.actor, "suspension.ordered", "suspension_order", order.id,
                         order.state())
        reason_text = f"regulator order {order.id}: {reason}"
        with uow.joined(system_actor(f"suspension order {order.id}")) as executor:
            if subject_type == "participant":
                participants.change_status(subject_id, Status.SUSPENDED, reason_text,
                                           uow=executor)
            else:
                events.publish(executor, LISTING_SUSPENSION_ORDERED,
                               {"product_id": subject_id, "reason": reason_text,
                                "order_id": order.id})
        uow.commit()
        return order
