"""Administration: the database schema, the development server, organisations, API keys
and the audit log."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import click

from market.app import create_app
from market.cli.common import Progress, _emit, _settings, _uow, main, quiet_option
from market.kernel import audit, migrate
from market.kernel.actor import Role
from market.kernel.db import make_engine
from market.participants import services as participants

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
@click.option("--dev", "--debug", "dev", is_flag=True,
              help="Debug mode, reloading when the code changes")
def serve(host: str, port: int, dev: bool) -> None:
    """Run Flask's development server, without the worker (`market run` serves the exchange
    as in production: gunicorn and the worker)."""
    app = create_app(_settings())
    click.echo(f"market on http://{host}:{port}/api/v1/docs")
    app.run(host=host, port=port, debug=dev, use_reloader=dev)


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
@quiet_option
def audit_verify(as_json: bool, quiet: bool) -> None:
    """Recompute the audit hash chain; exit 1 and name the first bad entry if broken."""
    uow = _uow(_settings())
    with uow, Progress("audit chain", quiet=quiet) as progress:
        result = audit.verify_chain(uow.session, progress=progress)
    _emit(as_json, result.as_dict(), lambda: click.echo(
        f"audit chain ok: {result.checked} entries" if result.ok
        else f"audit chain BROKEN at entry {result.first_broken_seq}: {result.reason}"
    ))
    if not result.ok:
        sys.exit(1)
