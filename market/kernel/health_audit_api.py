"""Endpoints of the shared kernel: health, readiness and the audit log."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate
from sqlalchemy import text

from market.kernel import audit, migrate
from market.kernel.actor import Role
from market.kernel.errors import InvalidCursor
from market.kernel.web import ApiBlueprint, RecordSchema, problem_response, state
from market.kernel.web.pagination import PageQuery, decode_cursor, encode_cursor

health_bp = ApiBlueprint("health", __name__, description="Liveness and readiness probes")
audit_bp = ApiBlueprint("audit", __name__, description="The hash-chained audit log")

AUDIT_READERS = [Role.OPERATOR, Role.REGULATOR]


class HealthOut(ma.Schema):
    status = fields.String()
    database = fields.String()
    schema_revision = fields.String(allow_none=True)


@health_bp.route("/healthz", methods=["GET"])
@health_bp.access(anonymous=True)
@health_bp.response(200, HealthOut)
def healthz() -> dict[str, Any]:
    """The process is up (no dependencies checked)."""
    return {"status": "ok"}


@health_bp.route("/readyz", methods=["GET"])
@health_bp.access(anonymous=True)
@health_bp.response(200, HealthOut)
@health_bp.alt_response(503, response="SERVICE_UNAVAILABLE")
def readyz() -> Any:
    """Ready to serve: the database answers and its schema is at the current revision."""
    st = state()
    try:
        with st.session_factory() as session:
            session.execute(text("SELECT 1"))
            revision = migrate.current_revision(session.connection())
    except Exception:  # any database failure means not ready
        return problem_response(503, "database_unavailable", "Database unavailable")
    if revision != migrate.head_revision():
        return problem_response(503, "database_not_migrated", "Database not migrated",
                                detail="run `market db upgrade`")
    return {"status": "ok", "database": "ok", "schema_revision": revision}


class AuditEntryOut(RecordSchema, model=audit.AuditEntry): ...


class AuditPage(ma.Schema):
    items = fields.List(fields.Nested(AuditEntryOut), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class AuditQuery(PageQuery):
    object_type = fields.String(load_default=None, validate=validate.Length(1, 50))
    object_id = fields.String(load_default=None, validate=validate.Length(1, 64))
    actor_org_id = fields.String(load_default=None, validate=validate.Length(1, 40))


class VerificationOut(RecordSchema, model=audit.ChainVerification): ...


@audit_bp.route("/audit/entries", methods=["GET"])
@audit_bp.access(roles=AUDIT_READERS)
@audit_bp.arguments(AuditQuery, location="query")
@audit_bp.response(200, AuditPage)
def list_audit_entries(query: dict[str, Any]) -> dict[str, Any]:
    """Audit entries in chain order, with filters (operator and regulators)."""
    after = decode_cursor(query["cursor"])
    if after is not None and not after.isdigit():
        raise InvalidCursor()
    with state().session_factory() as session:
        rows, next_seq = audit.list_entries(
            session, after_seq=int(after) if after else None, limit=query["limit"],
            object_type=query["object_type"], object_id=query["object_id"],
            actor_org_id=query["actor_org_id"],
        )
    return {"items": rows, "next_cursor": encode_cursor(str(next_seq) if next_seq else None)}


@audit_bp.route("/audit/verification", methods=["GET"])
@audit_bp.access(roles=AUDIT_READERS)
@audit_bp.response(200, VerificationOut)
def verify_audit_chain() -> dict[str, Any]:
    """Recompute the whole hash chain; names the first entry that was altered or removed."""
    with state().session_factory() as session:
        return audit.verify_chain(session).as_dict()
