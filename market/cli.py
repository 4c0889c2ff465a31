"""The ``market`` console command.

Commands that create things take ``--json`` and then print exactly one JSON object. Every
failure exits non-zero with a one-line message on standard error.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from sqlalchemy.orm import Session, sessionmaker

from market import wiring
from market.app import create_app
from market.compliance import services as compliance
from market.demo import CAST, run_card_trade, run_demo
from market.kernel import audit, migrate
from market.kernel.actor import Role, system_actor
from market.kernel.clock import Clock, SystemClock
from market.kernel.config import Settings, load_settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.errors import DatabaseNotMigrated, MarketError
from market.kernel.outbox import Consumer, Delivery, Worker, noop_consumer
from market.kernel.storage import open_file_store
from market.kernel.uow import UnitOfWork
from market.kernel.web.internal import get_as
from market.matching import services as matching
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.receipts import services as receipts
from market.receipts.signing import Signer
from market.rights import services as rights
from market.settlement import services as settlement
from market.settlement.rails.stripe_rail import StripeRail, stripe_consumers
from market.settlement.rails.stripe_rail import reconcile as stripe_reconcile
from market.testing.stripe_fake import FakeStripe
from market.trading import services as trading
from market.trading.domain import OrderStatus
from market.webhooks import services as webhooks

# Topics the worker knows. Every one becomes webhook events for the organisations it
# concerns (their event feed, and their endpoints that chose the type); listing events also
# re-match demands and saved searches. Receipts are issued in their record's transaction,
# and the worker's every pass sequences them.
NEGOTIATION_ACTIONS = ("requested", "proposed", "accepted_by_buyer", "accepted_by_merchant",
                       "offered", "countered", "agreed", "ordered", "declined", "withdrawn",
                       "expired")
TOPICS = (
    *(f"participant.{s}" for s in ("applied", "admitted", "suspended", "exited", "blacklisted")),
    *(f"right.{s}" for s in ("registered", "suspended", "reinstated", "revoked")),
    "grant.created", "grant.revoked",
    "public_data.authorised", "public_data.authorisation_revoked",
    *(f"listing.{s}" for s in ("listed", "suspended", "reinstated", "delisted")),
    "review.decided",
    "compliance.breach_recorded", "compliance.filed", "compliance.alert",
    *(f"order.{s}" for s in OrderStatus), "order.flagged", "order.destruction_due",
    *(f"payout.{s}" for s in ("requested", "paid", "rejected", "expired")),
    "demand.matched", "demand.candidate_added", "demand.converted", "demand.expired",
    "saved_search.matched", *(f"negotiation.{a}" for a in NEGOTIATION_ACTIONS),
    "webhook_endpoint.disabled",
    "refund.issued",
    *(f"dispute.{s}" for s in ("decided", "escalated", "awarded")),
    "contract.signed", "contract.declined",
    participants.EXPIRING_TOPIC, participants.GRADE_CHANGED_TOPIC,
    *(f"subscription.{s}" for s in ("renewed", "renewal_failed", "lapsed", "cancelled",
                                    "renewal_due")),
)
LISTING_CHANGES = ("listing.listed", "listing.reinstated")


def _renderer(sessions: sessionmaker[Session], settings: Settings, clock: Clock,
              ) -> webhooks.Render:
    """Answers ``GET path`` as a participant, through the application's own views (built
    once, on the worker's sessions, when the first event needs it)."""
    built: list[Any] = []

    def render(actor: Any, path: str) -> tuple[int, Any]:
        if not built:
            built.append(create_app(settings, session_factory=sessions, clock=clock))
        return get_as(built[0], actor, path)

    return render


def consumers(sessions: sessionmaker[Session] | None, settings: Settings | None,
              clock: Clock | None = None) -> dict[str, Consumer]:
    """The worker's consumer of every topic: each makes the webhook events it means (and a
    listing listed or reinstated is offered to the live demands and saved searches it
    answers first)."""
    found: dict[str, Consumer] = dict.fromkeys(TOPICS, noop_consumer)
    if sessions is None or settings is None:
        return found
    policy = matching.match_policy_of(settings)
    hooks = webhooks.policy_of(settings)
    clock = clock or SystemClock()
    render = _renderer(sessions, settings, clock)
    uows = webhooks.system_uows(sessions, clock)

    def notify(delivery: Delivery) -> None:
        webhooks.fan_out(delivery.id, delivery.topic, delivery.payload, render=render,
                         policy=hooks, uows=uows)

    def listing_changed(delivery: Delivery) -> None:
        product_id = str(delivery.payload["product_id"])
        actor = system_actor("matching")
        matching.rematch_product(product_id, policy=policy,
                                 uow=UnitOfWork(sessions, clock, actor))
        matching.announce_listing(product_id, uow=UnitOfWork(sessions, clock, actor))
        notify(delivery)

    for topic in TOPICS:
        found[topic] = listing_changed if topic in LISTING_CHANGES else notify
    if settings.payment_rail == "stripe":  # the order's money at Stripe follows it first
        for topic, money in stripe_consumers(sessions, settings, clock=clock).items():
            found[topic] = _both(money, found[topic])
    return found


def _both(first: Consumer, then: Consumer) -> Consumer:
    """Both consumers, in turn (each idempotent, so a retry after the second failed is
    harmless)."""

    def consume(delivery: Delivery) -> None:
        first(delivery)
        then(delivery)

    return consume


CONSUMERS: dict[str, Consumer] = consumers(None, None)


class MarketGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MarketError as exc:
            click.echo(f"error: {exc.code}: {exc}", err=True)
            sys.exit(1)


def _settings() -> Settings:
    settings = load_settings()
    receipts.configure(settings)
    compliance.configure_delivery_matrix(settings.delivery_matrix)
    compliance.configured_years(settings.retention_years)  # an unknown kind or a broken floor
    return settings


def _sessions(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the configured database, which must be migrated."""
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    if not migrate.is_current(engine):
        raise DatabaseNotMigrated("run `market db upgrade` first")
    return make_session_factory(engine)


def _uow(settings: Settings, label: str = "cli") -> UnitOfWork:
    return UnitOfWork(_sessions(settings), SystemClock(), system_actor(label))


def _emit(as_json: bool, data: dict[str, Any], text: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, default=str))
    else:
        text()


@click.group(cls=MarketGroup)
def main() -> None:
    """market: a data exchange backend."""
    wiring.connect()


# -- db ----------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations."""
    settings = _settings()
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    migrate.upgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine)}")


@db.command("current")
def db_current() -> None:
    """Print the database's revision and whether it is current."""
    engine = make_engine(_settings().database_url)
    current = migrate.current_revision(engine)
    head = migrate.head_revision()
    click.echo(f"current {current or 'none'}, head {head}")
    if current != head:
        sys.exit(1)


# -- serve ---------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True)
def serve(host: str, port: int, debug: bool) -> None:
    """Run the development server (use gunicorn with wsgi:app in production)."""
    app = create_app(_settings())
    click.echo(f"market on http://{host}:{port}/api/v1/docs")
    app.run(host=host, port=port, debug=debug, use_reloader=False)


# -- participants ----------------------------------------------------------------------------


@main.group("participants")
def participants_group() -> None:
    """Organisations."""


@participants_group.command("create")
@click.option("--name", required=True)
@click.option("--credit-code", required=True, help="统一社会信用代码 (18 characters)")
@click.option("--operator", is_flag=True, help="Create the venue operator (bootstrap)")
@click.option("--role", "roles", multiple=True,
              type=click.Choice([r.value for r in Role if r is not Role.OPERATOR]))
@click.option("--contact-name", default=None)
@click.option("--contact-email", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object")
def participants_create(
    name: str, credit_code: str, operator: bool, roles: tuple[str, ...],
    contact_name: str | None, contact_email: str | None, as_json: bool,
) -> None:
    """Register an admitted organisation with a first user and API key."""
    if operator and roles:
        raise click.UsageError("an operator organisation holds no other role")
    if not operator and not roles:
        raise click.UsageError("give --operator or at least one --role")
    settings = _settings()
    code = credit_code.strip().upper()
    data = participants.OrganisationInput(
        name=name, credit_code=code, contact_name=contact_name or name,
        contact_email=(contact_email or f"admin+{code.lower()}@market.local").lower(),
        roles=frozenset([Role.OPERATOR.value] if operator else roles),
    )
    reg = participants.register_organisation(
        data, uow=_uow(settings), key_ttl=timedelta(days=settings.api_key_default_ttl_days),
        reason="registered from the command line",
    )
    out = {"organisation_id": reg.organisation.id, "user_id": reg.user.id,
           "roles": reg.organisation.roles, "api_key_id": reg.api_key.key.id,
           "api_key": reg.api_key.token}
    _emit(as_json, out, lambda: click.echo(
        f"organisation {reg.organisation.id} ({', '.join(reg.organisation.roles)})\n"
        f"user {reg.user.id}\napi key (shown once): {reg.api_key.token}"
    ))


# -- keys --------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--user-id", required=True)
@click.option("--name", default="cli key", show_default=True)
@click.option("--scope", "scopes", multiple=True, type=click.Choice(["read", "write"]))
@click.option("--expires-in-days", type=click.IntRange(1, 3650), default=None)
@click.option("--json", "as_json", is_flag=True)
def keys_create(user_id: str, name: str, scopes: tuple[str, ...], expires_in_days: int | None,
                as_json: bool) -> None:
    """Issue an API key to a user (its secret is printed once)."""
    settings = _settings()
    expires = (datetime.now(UTC) + timedelta(days=expires_in_days)) if expires_in_days else None
    issued = participants.create_api_key(
        uow=_uow(settings), user_id=user_id, name=name,
        scopes=frozenset(scopes or ("read", "write")), expires_at=expires,
        default_ttl=timedelta(days=settings.api_key_default_ttl_days),
    )
    out = {"api_key_id": issued.key.id, "user_id": issued.key.user_id,
           "organisation_id": issued.key.organisation_id, "scopes": issued.key.scopes,
           "expires_at": issued.key.expires_at.isoformat() if issued.key.expires_at else None,
           "api_key": issued.token}
    _emit(as_json, out, lambda: click.echo(f"api key {issued.key.id} (shown once): {issued.token}"))


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key."""
    key = participants.revoke_api_key(key_id, uow=_uow(_settings()))
    click.echo(f"api key {key.id} revoked at {key.revoked_at}")


# -- audit -------------------------------------------------------------------------------------


@main.group("audit")
def audit_group() -> None:
    """The audit log."""


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True)
def audit_verify(as_json: bool) -> None:
    """Recompute the audit hash chain; exit 1 and name the first bad entry if broken."""
    uow = _uow(_settings())
    with uow:
        result = audit.verify_chain(uow.session)
    _emit(as_json, result.as_dict(), lambda: click.echo(
        f"audit chain ok: {result.checked} entries" if result.ok
        else f"audit chain BROKEN at entry {result.first_broken_seq}: {result.reason}"
    ))
    if not result.ok:
        sys.exit(1)


# -- ledger and trading -------------------------------------------------------------------------


@main.group("ledger")
def ledger_group() -> None:
    """The double-entry ledger."""


@ledger_group.command("verify")
@click.option("--json", "as_json", is_flag=True)
def ledger_verify(as_json: bool) -> None:
    """Recompute every balance from the postings and check the ledger's invariants; exit 1
    and name each problem if any is broken."""
    result = settlement.verify(uow=_uow(_settings(), "ledger"))
    _emit(as_json, result.as_dict(), lambda: click.echo(
        f"ledger ok: {result.accounts} accounts, {result.journals} journals, "
        f"{result.postings} postings" if result.ok
        else "ledger BROKEN:\n" + "\n".join(f"  {p}" for p in result.problems)))
    if not result.ok:
        sys.exit(1)


def _deadlines(sessions: sessionmaker[Session]) -> dict[str, list[str]]:
    """Periodic duty: the trade time limits (payment, delivery, acceptance, dispute answer)
    and payouts nobody confirmed in time."""
    run = trading.run_deadlines(uow=UnitOfWork(sessions, SystemClock(),
                                               system_actor("worker")))
    expired = settlement.expire_payouts(uow=UnitOfWork(sessions, SystemClock(),
                                                       system_actor("worker")))
    lapsed = matching.run_matching_deadlines(
        lambda: UnitOfWork(sessions, SystemClock(), system_actor("worker")))
    return {**run.as_dict(), "payouts_expired": expired,
            "demands_expired": lapsed.demands_expired,
            "negotiations_expired": lapsed.negotiations_expired}


def _rule_duties(sessions: sessionmaker[Session], settings: Settings) -> dict[str, list[str]]:
    """Periodic duties of the market rules: each returns the ids it acted on."""
    def uow(label: str) -> UnitOfWork:
        return UnitOfWork(sessions, SystemClock(), system_actor(label))
    done: dict[str, list[str]] = {}
    # -- admission documents and credit marks --
    done.update(participants.run_document_duties(
        uow=uow("admission documents"), reminder_days=settings.document_reminder_days).as_dict())
    done["credit_marks_changed"] = trading.recompute_credit_marks(uow=uow("credit marks"))
    # -- arbitration --
    # -- retention and destruction --
    done.update(_retention_sweep(sessions, settings))
    return done


def _renewals(sessions: sessionmaker[Session], settings: Settings) -> dict[str, list[str]]:
    """Periodic duty: subscriptions renewed before their period ends (collected at once on
    the offline rail), retried when past due, lapsed when renewal is off or grace is over."""
    run = trading.run_renewals(policy=trading.policy_of(settings),
                               uow=UnitOfWork(sessions, SystemClock(),
                                              system_actor("subscriptions")))
    return {f"subscriptions_{k}": v for k, v in run.as_dict().items()}


@main.group("trading")
def trading_group() -> None:
    """Orders and their time limits."""


@trading_group.command("deadlines")
@click.option("--json", "as_json", is_flag=True)
def trading_deadlines(as_json: bool) -> None:
    """Enforce the time limits now (the worker also does this): cancel orders nobody
    reviewed in time and unpaid ones, refund undelivered ones, auto-accept and settle
    delivered ones, send unanswered disputes to the operator, expire unconfirmed payouts."""
    done = _deadlines(_sessions(_settings()))
    _emit(as_json, done, lambda: click.echo(
        ", ".join(f"{k.replace('_', ' ')}: {len(v)}" for k, v in done.items())))


@trading_group.command("renewals")
@click.option("--json", "as_json", is_flag=True)
def trading_renewals(as_json: bool) -> None:
    """Renew subscriptions now (the worker also does this): place and collect the next
    period of those due, retry past-due ones, lapse those with renewal off or out of grace."""
    settings = _settings()
    done = _renewals(_sessions(settings), settings)
    _emit(as_json, done, lambda: click.echo(
        ", ".join(f"{k.replace('_', ' ')}: {len(v)}" for k, v in done.items())))


# -- worker ------------------------------------------------------------------------------------


def _sweep(sessions: sessionmaker[Session]) -> list[str]:
    """Periodic duties: rights whose term has ended expire, and what rests on them is
    suspended."""
    return rights.expire_due_rights(
        uow=UnitOfWork(sessions, SystemClock(), system_actor("worker"))
    )


@main.group("rights")
def rights_group() -> None:
    """Data rights."""


@rights_group.command("expire")
def rights_expire() -> None:
    """Expire rights whose term has ended (the worker also does this periodically)."""
    expired = _sweep(_sessions(_settings()))
    click.echo(f"expired {len(expired)} rights" + (": " + ", ".join(expired) if expired else ""))


def _scan_alerts(sessions: sessionmaker[Session], hours: float) -> int:
    """Periodic duty: run the alert rules again over recently filed trades."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    return compliance.scan(since, uow=UnitOfWork(sessions, SystemClock(),
                                                 system_actor("monitoring")))


@main.group("alerts")
def alerts_group() -> None:
    """Risk monitoring."""


@alerts_group.command("scan")
@click.option("--hours", default=24.0, show_default=True, type=click.FloatRange(0.01, 24 * 366),
              help="Look at trades filed this many hours back")
@click.option("--json", "as_json", is_flag=True)
def alerts_scan(hours: float, as_json: bool) -> None:
    """Run the alert rules over recently filed trades (the worker also does this)."""
    opened = _scan_alerts(_sessions(_settings()), hours)
    _emit(as_json, {"opened": opened}, lambda: click.echo(f"opened {opened} alerts"))


@main.group("credit")
def credit_group() -> None:
    """Public credit marks (信用评价)."""


@credit_group.command("recompute")
@click.option("--org", "org_ids", multiple=True, help="Only these organisations")
@click.option("--json", "as_json", is_flag=True)
def credit_recompute(org_ids: tuple[str, ...], as_json: bool) -> None:
    """Recompute participants' credit marks from their current records (the worker also
    does this every sweep)."""
    changed = trading.recompute_credit_marks(
        uow=_uow(_settings(), "credit marks"), org_ids=list(org_ids) or None)
    _emit(as_json, {"changed": changed}, lambda: click.echo(
        f"{len(changed)} credit marks changed" + (": " + ", ".join(changed) if changed else "")))


def _retention_sweep(sessions: sessionmaker[Session], settings: Settings,
                     ) -> dict[str, list[str]]:
    """Periodic duty: keep the retention policy as configured, ask for the destructions now
    due, alert the overdue ones, delete the stored files nothing needs any more."""
    def uow() -> UnitOfWork:
        return UnitOfWork(sessions, SystemClock(), system_actor("retention"))
    applied = compliance.apply_retention(settings.retention_years, uow=uow())
    files = open_file_store(settings)
    try:
        return {"retention_applied": applied, **trading.sweep_retention(
            uow, storage=files.under("deliveries"), sample_dir=files.under("samples"),
            grace=timedelta(days=settings.destruction_grace_days))}
    finally:
        files.close()


@main.group("retention")
def retention_group() -> None:
    """Retention of records and destruction of delivered copies."""


@retention_group.command("apply")
@click.option("--json", "as_json", is_flag=True)
def retention_apply(as_json: bool) -> None:
    """Write the configured retention years (MARKET_RETENTION_YEARS) into the policy the
    database enforces; never below a kind's floor."""
    settings = _settings()
    changed = compliance.apply_retention(settings.retention_years, uow=UnitOfWork(
        _sessions(settings), SystemClock(), system_actor("retention")))
    _emit(as_json, {"changed": changed},
          lambda: click.echo("changed: " + (", ".join(changed) or "nothing")))


@retention_group.command("sweep")
@click.option("--json", "as_json", is_flag=True)
def retention_sweep(as_json: bool) -> None:
    """Apply the policy, ask for the destructions now due, alert the overdue ones and delete
    the delivered files and samples no contract needs (the worker also does this)."""
    settings = _settings()
    done = _retention_sweep(_sessions(settings), settings)
    _emit(as_json, done, lambda: click.echo(", ".join(
        f"{k.replace('_', ' ')}: {len(v)}" for k, v in done.items())))


@main.command()
@click.option("--once", is_flag=True, help="Drain what is due, then exit")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 10000))
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 3600))
@click.option("--sweep-interval", default=60.0, show_default=True,
              type=click.FloatRange(1, 86400), help="Seconds between periodic duties")
def worker(once: bool, batch: int, interval: float, sweep_interval: float) -> None:
    """Drain the outbox (with retries), send due webhooks, and run periodic duties: rights
    expiry, a pass of the alert rules over recently filed trades, and the trade time limits
    (payment, delivery, acceptance, dispute answers, payouts)."""
    settings = _settings()
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    if not migrate.is_current(engine):
        raise click.ClickException("database not migrated: run `market db upgrade` first")
    sessions = make_session_factory(engine)
    w = Worker(sessions, SystemClock(), consumers(sessions, settings),
               lease_seconds=settings.outbox_lease_seconds,
               max_attempts=settings.outbox_max_attempts,
               backoff_base_seconds=settings.outbox_backoff_base_seconds)
    hooks = webhooks.policy_of(settings)
    rail = stripe_rail(sessions, settings) if settings.payment_rail == "stripe" else None
    click.echo(f"worker {w.worker_id} draining the outbox")
    next_sweep = 0.0
    while True:
        if time.monotonic() >= next_sweep:
            expired = _sweep(sessions)
            if expired:
                click.echo(f"expired {len(expired)} rights")
            opened = _scan_alerts(sessions, hours=2 * sweep_interval / 3600)
            if opened:
                click.echo(f"opened {opened} alerts")
            done = {k: v for k, v in {**_deadlines(sessions),
                                      **_renewals(sessions, settings),
                                      **_rule_duties(sessions, settings)}.items() if v}
            if done:
                click.echo(", ".join(f"{k.replace('_', ' ')}: {len(v)}"
                                     for k, v in done.items()))
            moved = _moved(_anchor(sessions, settings)) if settings.anchoring else ""
            if moved:
                click.echo(f"anchoring: {moved}")
            next_sweep = time.monotonic() + sweep_interval
        _sequence(sessions)
        if rail is not None:
            paid = rail.tick()
            if paid.busy:
                click.echo("stripe: " + _moved(paid.as_dict()))
        result = w.drain_once(batch)
        if result.claimed:
            click.echo(f"claimed {result.claimed}: done {result.done}, retried {result.retried}, "
                       f"dead {result.dead}")
        sent = webhooks.deliver_due(sessions, SystemClock(), hooks, worker_id=w.worker_id,
                                    limit=batch)
        if sent.claimed:
            click.echo(f"webhooks: {sent.succeeded} delivered, {sent.retrying} to retry, "
                       f"{sent.failed} failed" + (f", disabled {', '.join(sent.disabled)}"
                                                  if sent.disabled else ""))
        busy = result.claimed >= batch or sent.claimed >= batch
        if once and not busy:
            return
        if not busy:
            time.sleep(interval)


# -- receipts: the log's sequencer, anchoring on a chain and the verifier -------------------


def _sequence(sessions: sessionmaker[Session]) -> receipts.Appended:
    """Periodic duty (every loop of the worker): append the queued receipts to the log."""
    return receipts.sequence(UnitOfWork(sessions, SystemClock(), system_actor("receipts")))


def _anchor(sessions: sessionmaker[Session], settings: Settings) -> dict[str, Any]:
    """Periodic duty when anchoring is on: move the anchoring batches one tick along."""
    from market.receipts.services import anchoring

    return anchoring.tick(sessions, SystemClock(), settings)


def _moved(done: dict[str, Any]) -> str:
    return ", ".join(f"{k} {', '.join(map(str, v))}" for k, v in done.items() if v)


@main.group("receipts")
def receipts_group() -> None:
    """Receipts: the log, its anchoring on a chain, proof bundles."""


@receipts_group.command("sequence")
@click.option("--json", "as_json", is_flag=True)
def receipts_sequence(as_json: bool) -> None:
    """Append the queued receipts to the log and sign a checkpoint (the worker also does
    this)."""
    settings = _settings()
    appended = receipts.sequence(_uow(settings, "receipts"))
    out = {"suite": appended.suite, "from_size": appended.from_size,
           "tree_size": appended.tree_size, "root": appended.root,
           "checkpoint_id": appended.checkpoint_id}
    _emit(as_json, out, lambda: click.echo(
        f"log {appended.suite}: {appended.from_size} -> {appended.tree_size} leaves, "
        f"root {appended.root}"))


@receipts_group.command("anchor")
@click.option("--json", "as_json", is_flag=True)
def receipts_anchor(as_json: bool) -> None:
    """Run one anchoring tick now (the worker does this when anchoring is on)."""
    settings = _settings()
    done = _anchor(_sessions(settings), settings)
    _emit(as_json, done, lambda: click.echo(_moved(done) or "nothing to do"))
    if done["errors"]:
        sys.exit(1)


@receipts_group.command("anchor-status")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
def receipts_anchor_status(limit: int, as_json: bool) -> None:
    """The newest anchoring batches: state, tree size, transaction and block."""
    rows = receipts.list_batches(uow=_uow(_settings(), "receipts"), limit=limit)
    if as_json:
        click.echo(json.dumps({"batches": rows}, default=str))
        return
    click.echo(f"{'batch':>6} {'status':11} {'tree size':>10} {'tx':12} {'block':>8} "
               f"{'gas':>7} {'tries':>5}  error")
    for b in rows:
        click.echo(f"{b['id']:>6} {b['status']:11} {b['tree_size'] or '-':>10} "
                   f"{(b['tx_hash'] or '-')[:12]:12} {b['block_number'] or '-':>8} "
                   f"{b['gas_used'] or '-':>7} {b['attempts']:>5}  {b['last_error'] or ''}")


@receipts_group.command("deploy")
@click.option("--rpc", "rpc_url", required=True, help="JSON-RPC URL of the chain")
@click.option("--key", required=True, help="Deployer's private key (hex); admin of the roles")
@click.option("--anchorer", default=None, help="Address given ANCHOR_ROLE (the deployer's "
              "by default)")
@click.option("--json", "as_json", is_flag=True)
def receipts_deploy(rpc_url: str, key: str, anchorer: str | None, as_json: bool) -> None:
    """Deploy the ReceiptAnchor contract; print its address."""
    from market.receipts.chain import ChainClient, ChainError, address_of

    try:
        with ChainClient.connect(rpc_url) as client:
            deployed = client.deploy(key, anchorer=anchorer)
            chain_id = client.chain_id()
    except (ChainError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    out = {"contract": deployed.contract_address, "chain_id": chain_id,
           "tx_hash": deployed.tx_hash, "block_number": deployed.block_number,
           "admin": address_of(key), "anchorer": anchorer or address_of(key)}
    _emit(as_json, out, lambda: click.echo(deployed.contract_address))


@receipts_group.command("list")
@click.argument("subject")
@click.option("--json", "as_json", is_flag=True)
def receipts_list(subject: str, as_json: bool) -> None:
    """The receipts of one record, SUBJECT as ``<type>:<id>`` (``order:ord_…``,
    ``filing:fil_…``, ``certificate:DR-…``, ``product_version:ver_…``)."""
    subject_type, _, subject_id = subject.partition(":")
    if not subject_id:
        raise click.BadParameter("write it as <type>:<id>, e.g. order:ord_…")
    found = receipts.receipts_for(subject_type, subject_id, uow=_uow(_settings(), "receipts"))
    _emit(as_json, {"items": found}, lambda: click.echo("\n".join(
        f"{r['id']}  {r['kind']:28} leaf {r['leaf_index']}  {r['digest']}" for r in found)))


@receipts_group.command("bundle")
@click.argument("receipt_id")
def receipts_bundle(receipt_id: str) -> None:
    """Print a receipt's proof bundle (JSON), for `market receipts verify` or anyone's
    copy of the verifier."""
    bundle = receipts.proof_bundle(receipt_id, uow=_uow(_settings(), "receipts"))
    click.echo(json.dumps(bundle, indent=2, ensure_ascii=False, default=str))


@receipts_group.command("verify")
@click.argument("bundle", type=click.File("r", encoding="utf-8"))
@click.option("--rpc", "rpc_url", default=None, help="Check the anchor on this chain")
@click.option("--signer", default=None, help="The platform's key to trust (address or SM2)")
@click.option("--min-confirmations", default=1, show_default=True, type=click.IntRange(1))
def receipts_verify(bundle: Any, rpc_url: str | None, signer: str | None,
                    min_confirmations: int) -> None:
    """Verify a receipt's proof bundle (JSON); print the report; exit 1 unless it holds."""
    from market.receipts import verifier

    try:
        data = json.load(bundle)
    except ValueError as exc:
        raise click.ClickException(f"not a JSON bundle: {exc}") from exc
    report = verifier.verify_bundle(data, trusted_signer=signer, rpc_url=rpc_url,
                                    min_confirmations=min_confirmations)
    click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    if not report.ok:
        sys.exit(1)


@main.group("disputes")
def disputes_group() -> None:
    """Disputes and arbitration."""


@disputes_group.command("verify-bundle")
@click.argument("bundle", type=click.File("r", encoding="utf-8"))
@click.option("--signer", default=None, help="The platform's address to trust")
def disputes_verify_bundle(bundle: Any, signer: str | None) -> None:
    """Verify a dispute's evidence bundle (JSON, as GET /disputes/{id}/evidence-bundle
    answers it) offline: its digest and the platform's signature; print the report; exit 1
    unless it holds."""
    try:
        data = json.load(bundle)
    except ValueError as exc:
        raise click.ClickException(f"not a JSON bundle: {exc}") from exc
    if not isinstance(data, dict):
        raise click.ClickException("not a JSON bundle: an object expected")
    report = trading.verify_evidence_bundle(data, trusted_signer=signer)
    click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    if not report.ok:
        sys.exit(1)


# -- the Stripe rail ---------------------------------------------------------------------------


def stripe_rail(sessions: sessionmaker[Session], settings: Settings,
                clock: Clock | None = None) -> StripeRail:
    """The worker's Stripe duties, with trading's use cases for what Stripe reports (a card
    paid an order, a chargeback, a renewal's saved card declined) and for renewals due."""
    policy = trading.policy_of(settings)

    def paid(order_id: str, uow: UnitOfWork) -> bool:
        return trading.record_card_payment(order_id, policy=policy, uow=uow)

    def chargeback(order_id: str, dispute_id: str, what: str, uow: UnitOfWork) -> None:
        trading.record_chargeback(order_id, dispute_id, what, uow=uow)

    def renewal_due(order_id: str, uow: UnitOfWork) -> str | None:
        return trading.collect_renewal_by_card(order_id, policy=policy, uow=uow)

    def renewal_declined(order_id: str, reason: str, uow: UnitOfWork) -> bool:
        return trading.card_renewal_declined(order_id, reason, policy=policy, uow=uow)

    return StripeRail(sessions, settings, on_paid=paid, on_chargeback=chargeback,
                      on_renewal_due=renewal_due, on_renewal_failed=renewal_declined,
                      clock=clock, backoff_seconds=settings.outbox_backoff_base_seconds)


@main.group("stripe")
def stripe_group() -> None:
    """The Stripe rail (MARKET_PAYMENT_RAIL=stripe)."""


def _stripe_settings() -> Settings:
    settings = _settings()
    if settings.payment_rail != "stripe":
        raise click.ClickException("the payment rail is not stripe: set MARKET_PAYMENT_RAIL")
    return settings


@stripe_group.command("tick")
@click.option("--json", "as_json", is_flag=True)
def stripe_tick(as_json: bool) -> None:
    """Perform the pending Stripe calls and apply the stored Stripe events now (the worker
    also does this)."""
    settings = _stripe_settings()
    done = stripe_rail(_sessions(settings), settings).tick().as_dict()
    _emit(as_json, done, lambda: click.echo(_moved(done) or "nothing to do"))


@stripe_group.command("reconcile")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              default=None, help="Only balance transactions and journals from then on (UTC)")
@click.option("--json", "as_json", is_flag=True)
def stripe_reconcile_command(since: datetime | None, as_json: bool) -> None:
    """Compare Stripe's balance transactions and transfers with the ledger's journals on the
    stripe clearing account; print every difference and exit 1 when there is any."""
    settings = _stripe_settings()
    report = stripe_reconcile(_sessions(settings), settings,
                              since=since.replace(tzinfo=UTC) if since else None)
    _emit(as_json, report.as_dict(), lambda: click.echo(
        f"stripe reconciled: {report.balance_transactions} balance transactions, "
        f"{report.transfers} transfers, {report.journals} journals, no differences"
        if report.ok else "stripe and the ledger DIFFER:\n" + "\n".join(
            f"  {d}" for d in report.differences)))
    if not report.ok:
        sys.exit(1)


# -- demo --------------------------------------------------------------------------------------


def _card_demo(settings: Settings, made: dict[str, Any], say: Callable[[str], None],
               ) -> dict[str, Any]:
    """The card trade of ``market demo --rail stripe``, against the local fake of Stripe
    started in-process on a free loopback port."""
    if settings.stripe_api_base:
        raise click.ClickException(
            "the card demo drives its own local Stripe fake (it confirms the card and opens "
            "onboarding as the card holder would): unset MARKET_STRIPE_API_BASE")
    fake = FakeStripe()
    with fake.serve() as url:
        say(f"\nstripe    local fake at {url}")
        stripe_settings = settings.with_changes(
            payment_rail="stripe", stripe_secret_key=fake.api_key,
            stripe_webhook_secret=fake.webhook_secret, stripe_api_base=url,
            delivery_window_hours=48)
        sessions = _sessions(stripe_settings)
        return run_card_trade(sessions, SystemClock(), made,
                              rail=stripe_rail(sessions, stripe_settings), fake=fake,
                              webhook_secret=fake.webhook_secret,
                              storage=open_file_store(settings).under("deliveries"),
                              policy=trading.policy_of(stripe_settings), say=say)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True)
@click.option("--rail", type=click.Choice(["offline", "stripe"]), default="offline",
              show_default=True, help="stripe: also buy the product by card against a local "
              "Stripe-compatible server started in-process")
def demo(as_json: bool, base_url: str, rail: str) -> None:
    """Create a demo cast and a registered rights chain; print keys, certificates and calls."""
    settings = _settings()
    lines: list[str] = []
    made = run_demo(_sessions(settings), SystemClock(), Signer(settings.signing_key),
                    key_ttl=timedelta(days=settings.api_key_default_ttl_days),
                    storage=open_file_store(settings).under("deliveries"),
                    policy=trading.policy_of(settings), say=lines.append)
    if rail == "stripe":
        made["card_trade"] = _card_demo(settings, made, lines.append)
    api = f"{base_url}/api/v1"
    operator_key, merchant_key = made["operator"]["api_key"], made["merchant"]["api_key"]
    certificate = made["rights"]["certificates"][0]
    made["examples"] = [
        f"curl -s {api}/me -H 'Authorization: Bearer {merchant_key}'",
        f"curl -s {api}/certificates/{certificate}",
        f"curl -s {api}/certificates/{certificate}/verification",
        f"curl -s {api}/products/{made['rights']['product_id']}/rights-chain "
        f"-H 'Authorization: Bearer {merchant_key}'",
        f"curl -s '{api}/participants?status=admitted' -H 'Authorization: Bearer {operator_key}'",
        f"curl -s -X POST {api}/participants -H 'Content-Type: application/json' "
        f"-d '{{\"name\": \"申请方\", \"credit_code\": \"{random_credit_code()}\", "
        f"\"contact_name\": \"张三\", \"contact_email\": \"zhang@example.cn\", "
        f"\"roles\": [\"buyer\"]}}'",
        f"curl -s {api}/audit/verification -H 'Authorization: Bearer {operator_key}'",
    ]

    def text() -> None:
        for line in lines:
            click.echo(line)
        click.echo("\nAPI keys (shown once):")
        for label, _, _ in CAST:
            click.echo(f"  {label:9} {made[label]['api_key']}")
        click.echo("certificates: " + ", ".join(made["rights"]["certificates"]))
        click.echo("\ntry:")
        for line in made["examples"]:
            click.echo("  " + line)
        click.echo(f"\ndocs: {api}/docs")

    _emit(as_json, made, text)
