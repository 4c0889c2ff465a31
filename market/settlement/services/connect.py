"""Stripe Connect accounts of payees (merchants, rights holders and processors, brokers):
asked for through the API, created and linked by the worker, their status synced from
Stripe's ``account.updated`` events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from market.kernel.actor import Role, require
from market.kernel.errors import RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.settlement.errors import ConnectAccountNotFound
from market.settlement.rails.models import ConnectAccount
from market.settlement.services.cards import queue_call

PAYEES = (Role.MERCHANT, Role.BROKER)


def _link(uow: UnitOfWork, account: ConnectAccount) -> None:
    account.links += 1
    queue_call(uow, key=f"org:{account.org_id}:account_link:{account.links}:v1",
               operation="account_link.create", subject=("organisation", account.org_id),
               params={"account": account.stripe_account_id, "type": "account_onboarding",
                       "refresh_url": account.refresh_url, "return_url": account.return_url})


def open_connect_account(country: str, email: str, refresh_url: str, return_url: str, *,
                         uow: UnitOfWork) -> ConnectAccount:
    """Ask for your organisation's Connect account (the worker creates it at Stripe and an
    onboarding link); asking again once the link has expired asks for a new link.

    Raises:
        RoleNotAllowed: the organisation is not a payee (merchant or broker).
    """
    require(uow.actor, *PAYEES)
    org_id = uow.actor.org_id
    if org_id is None:
        raise RoleNotAllowed()
    with uow:
        now = uow.clock.now()
        account = uow.session.scalars(select(ConnectAccount).where(
            ConnectAccount.org_id == org_id).with_for_update()).one_or_none()
        if account is None:
            account = ConnectAccount(id=new_id("sca"), org_id=org_id, country=country.upper(),
                                     email=email, refresh_url=refresh_url,
                                     return_url=return_url, charges_enabled=False,
                                     payouts_enabled=False, details_submitted=False, links=0,
                                     created_at=now, updated_at=now)
            uow.session.add(account)
            uow.session.flush()
            queue_call(uow, key=f"org:{org_id}:account:v1", operation="account.create",
                       subject=("organisation", org_id),
                       params={"type": "express", "country": account.country,
                               "email": email, "metadata": {"org_id": org_id},
                               "capabilities": {"transfers": {"requested": True}}})
            uow.audit.record(uow.actor, "connect_account.requested", "connect_account",
                             account.id, account.state())
        elif account.stripe_account_id and not account.details_submitted and (
                account.onboarding_expires_at is None or account.onboarding_expires_at <= now):
            account.refresh_url, account.return_url = refresh_url, return_url
            account.updated_at = now
            _link(uow, account)
            uow.audit.record(uow.actor, "connect_account.link_requested", "connect_account",
                             account.id, account.state())
        uow.commit()
        return account


def get_connect_account(*, uow: UnitOfWork, org_id: str | None = None) -> ConnectAccount:
    """Your organisation's Connect account; the operator and regulators name any
    organisation.

    Raises:
        ConnectAccountNotFound: none was asked for (or it is another organisation's).
    """
    actor = uow.actor
    sees_all = Role.OPERATOR.value in actor.roles or Role.REGULATOR.value in actor.roles
    wanted = org_id if (org_id and sees_all) else actor.org_id
    if org_id and not sees_all and org_id != actor.org_id:
        raise ConnectAccountNotFound()
    with uow:
        found = uow.session.scalars(select(ConnectAccount).where(
            ConnectAccount.org_id == wanted)).one_or_none()
        if found is None:
            raise ConnectAccountNotFound()
        return found


def account_created(uow: UnitOfWork, org_id: str, account: Mapping[str, Any]) -> None:
    """Stripe created the account: keep its id and ask for the onboarding link."""
    found = uow.session.scalars(select(ConnectAccount).where(
        ConnectAccount.org_id == org_id).with_for_update()).one()
    if found.stripe_account_id is None:
        found.stripe_account_id = str(account["id"])
        _sync(found, account)
        found.updated_at = uow.clock.now()
        _link(uow, found)
        uow.audit.record(uow.actor, "connect_account.created", "connect_account", found.id,
                         found.state())


def account_link_made(uow: UnitOfWork, org_id: str, link: Mapping[str, Any]) -> None:
    found = uow.session.scalars(select(ConnectAccount).where(
        ConnectAccount.org_id == org_id).with_for_update()).one()
    found.onboarding_url = str(link["url"])
    found.onboarding_expires_at = datetime.fromtimestamp(int(link["expires_at"]), UTC)
    found.updated_at = uow.clock.now()


def _sync(found: ConnectAccount, account: Mapping[str, Any]) -> bool:
    before = (found.charges_enabled, found.payouts_enabled, found.details_submitted)
    found.charges_enabled = bool(account.get("charges_enabled"))
    found.payouts_enabled = bool(account.get("payouts_enabled"))
    found.details_submitted = bool(account.get("details_submitted"))
    return before != (found.charges_enabled, found.payouts_enabled, found.details_submitted)


def account_changed(uow: UnitOfWork, account: Mapping[str, Any]) -> None:
    """Stripe's current view of a Connect account (re-read after ``account.updated``)."""
    found = uow.session.scalars(select(ConnectAccount).where(
        ConnectAccount.stripe_account_id == str(account["id"])).with_for_update()
    ).one_or_none()
    if found is not None and _sync(found, account):
        found.updated_at = uow.clock.now()
        if found.details_submitted:
            found.onboarding_url = None
        uow.audit.record(uow.actor, "connect_account.updated", "connect_account", found.id,
                         found.state())
