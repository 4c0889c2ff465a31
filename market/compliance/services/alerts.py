"""Risk alerts (风险监测): run the monitoring rules on a filed trade or a reported dispute or
refund, the periodic pass over recent filings, and the disposition of alerts by the operator
and regulators (open → investigating → closed, with a note at each step)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from market.compliance import monitoring, repository
from market.compliance.errors import AlertNotFound
from market.compliance.models import Alert, AlertNote, Filing, TradeIncident
from market.compliance.services._common import keep_alerts, note_alert
from market.kernel.actor import Role, require
from market.kernel.ids import new_id
from market.kernel.pagination import Page, keyset_page, where_given
from market.kernel.uow import UnitOfWork

WATCHERS = (Role.OPERATOR, Role.REGULATOR)


def raise_alerts(uow: UnitOfWork, filing: Filing) -> list[Alert]:
    """Run the alert rules on a filed trade, in the filing's transaction. An alert exists
    once per rule and subject; one that was closed is reopened when its rule fires on new
    evidence, never for the same trades seen again."""
    return keep_alerts(uow, monitoring.check(uow, filing))


def record_incident(kind: str, *, order_id: str, product_id: str, seller_org_id: str,
                    buyer_org_id: str, uow: UnitOfWork) -> list[str]:
    """Trading reports a dispute opened or a refund made on an order, in its transaction;
    the incident rules run on it. Returns the ids of the alerts it opened or reopened."""
    incident = TradeIncident(id=new_id("inc"), kind=kind, order_id=order_id,
                             product_id=product_id, seller_org_id=seller_org_id,
                             buyer_org_id=buyer_org_id, at=uow.clock.now())
    uow.session.add(incident)
    uow.session.flush()
    return [alert.id for alert in
            keep_alerts(uow, monitoring.repeated_disputes_or_refunds(uow, incident))]


def scan(since: datetime, *, uow: UnitOfWork) -> int:
    """Run the alert rules again over trades filed since ``since`` (the periodic pass);
    returns how many alerts were opened or reopened."""
    with uow:
        filings = repository.filings_since(uow.session, since)
        opened = sum(len(raise_alerts(uow, f)) for f in filings)
        uow.commit()
        return opened


def list_alerts(*, uow: UnitOfWork, status: str | None = None, rule: str | None = None,
                after: str | None = None, limit: int = 50) -> Page[Alert]:
    """Alerts for the operator and regulators, oldest first."""
    require(uow.actor, *WATCHERS)
    with uow:
        stmt = where_given(select(Alert), (Alert.status, status), (Alert.rule, rule))
        return keyset_page(uow.session, stmt, Alert.id, after=after, limit=limit)


def get_alert(alert_id: str, *, uow: UnitOfWork) -> tuple[Alert, list[AlertNote]]:
    """One alert with its disposition history.

    Raises:
        RoleNotAllowed: neither the operator nor a regulator.
        AlertNotFound: no such alert.
    """
    require(uow.actor, *WATCHERS)
    with uow:
        alert = uow.session.get(Alert, alert_id)
        if alert is None:
            raise AlertNotFound()
        return alert, repository.alert_notes(uow.session, alert_id)


def dispose(alert_id: str, to_status: str, note: str, *, uow: UnitOfWork) -> Alert:
    """Move an alert along open → investigating → closed (or reopen a closed one), with a
    note. The operator and regulators dispose of alerts.

    Raises:
        RoleNotAllowed, AlertNotFound, InvalidTransition.
    """
    require(uow.actor, *WATCHERS)
    with uow:
        alert = repository.alert_for_update(uow.session, alert_id)
        if alert is None:
            raise AlertNotFound()
        left = alert.move(to_status, uow.clock.now())
        note_alert(uow, alert, left, to_status, note)
        uow.session.flush()
        uow.audit.record(uow.actor, f"alert.{to_status}", "alert", alert.id, alert.state())
        uow.commit()
        return alert
