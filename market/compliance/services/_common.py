"""Keeping the alerts the monitoring rules raise, shared by filing a trade and by the alert
services: an alert exists once per rule and subject, and one that was closed is reopened
only when its rule fires on new evidence."""

from __future__ import annotations

from collections.abc import Sequence

from market.compliance import monitoring, repository
from market.compliance.models import Alert, AlertNote
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork


def note_alert(uow: UnitOfWork, alert: Alert, from_status: str, to_status: str,
               note: str) -> None:
    uow.session.add(AlertNote(id=new_id("aln"), alert_id=alert.id, from_status=from_status,
                              to_status=to_status, note=note,
                              by_org_id=uow.actor.org_id or "system",
                              by_user_id=uow.actor.user_id, at=uow.clock.now()))


def keep_alerts(uow: UnitOfWork, raised_by_rules: Sequence[monitoring.Raised]) -> list[Alert]:
    """Open (or reopen) an alert for each thing the rules raised, audited and announced on
    the outbox; returns the alerts opened or reopened."""
    raised: list[Alert] = []
    for found in raised_by_rules:
        alert = repository.alert_of_rule_for_update(uow.session, found.rule, found.subject_id)
        now = uow.clock.now()
        if alert is None:
            alert = Alert(id=new_id("alr"), rule=found.rule, severity=found.severity,
                          status="open", subject_type=found.subject_type,
                          subject_id=found.subject_id, org_ids=found.org_ids,
                          summary=found.summary, evidence=found.evidence, opened_at=now,
                          updated_at=now)
            uow.session.add(alert)
        elif alert.status == "closed" and alert.evidence != found.evidence:
            # new evidence (not the same trades seen again by the periodic pass)
            note_alert(uow, alert, alert.status, "open",
                       "the rule fired again: " + found.summary)
            alert.move("open", now)
            alert.summary, alert.evidence = found.summary, found.evidence
        else:
            continue
        uow.session.flush()
        uow.audit.record(uow.actor, "alert.opened", "alert", alert.id, alert.state())
        uow.outbox.enqueue("compliance.alert", {"alert_id": alert.id, "rule": alert.rule,
                                                "severity": alert.severity})
        raised.append(alert)
    return raised
