"""Money entering the market: the operator records participants' bank transfers on the
offline rail, crediting their available balances."""

from __future__ import annotations

from market.kernel.actor import Role, require
from market.kernel.db import serialise_on
from market.kernel.errors import InvalidInput
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.errors import OrganisationNotFound
from market.settlement import ledger, repository
from market.settlement.domain import PLATFORM, AccountKind, JournalKind, Leg
from market.settlement.errors import TopUpReferenceReused
from market.settlement.models import TopUp
from market.settlement.services._common import OFFLINE, account


def record_top_up(org_id: str, amount: int, currency: str, reference: str, *,
                  uow: UnitOfWork) -> TopUp:
    """The operator records a participant's bank transfer: the money reaches the rail's
    clearing account and the participant's available balance. A bank reference is recorded
    once; recording it again returns the first record.

    Raises:
        RoleNotAllowed, OrganisationNotFound, TopUpReferenceReused, InvalidInput.
    """
    require(uow.actor, Role.OPERATOR)
    if amount <= 0:
        raise InvalidInput(errors={"amount": ["must be positive"]})
    with uow:
        if org_id not in participants.organisation_facts([org_id], uow=uow.joined()):
            raise OrganisationNotFound()
        # The same bank reference recorded twice at once: the second waits here for the
        # first to end, then sees its record.
        serialise_on(uow.session, f"top_up:{OFFLINE}:{reference}")
        existing = repository.top_up_by_reference(uow.session, OFFLINE, reference)
        if existing is not None:
            if (existing.org_id, existing.amount, existing.currency) != (org_id, amount,
                                                                          currency):
                raise TopUpReferenceReused()
            return existing
        clearing = account(uow, AccountKind.RAIL_CLEARING, PLATFORM, currency, OFFLINE)
        available = account(uow, AccountKind.AVAILABLE, org_id, currency)
        journal = ledger.transfer(uow, key=f"top_up:{OFFLINE}:{reference}",
                                  kind=JournalKind.TOP_UP, memo=reference, legs=[
                                      Leg(clearing.id, -amount, currency),
                                      Leg(available.id, amount, currency)])
        top_up = TopUp(id=new_id("top"), rail=OFFLINE, reference=reference, org_id=org_id,
                       amount=amount, currency=currency, journal_id=journal.id,
                       recorded_at=uow.clock.now())
        uow.session.add(top_up)
        uow.session.flush()
        uow.audit.record(uow.actor, "top_up.recorded", "top_up", top_up.id, top_up.state())
        uow.commit()
        return top_up
