"""The bare stack: Flask and SQLAlchemy doing the same work as the exchange's cheapest
requests with hand-written ``text()`` statements, for ``bench/trade.py`` to measure beside
the project under the same gunicorn and load generator.

* ``GET /healthz``: nothing but Flask.
* ``GET /orgs/<id>``: authenticate the bearer key as the exchange does (look the key up by
  id with its user and organisation, compare the secret's SHA-256 in constant time), then read
  the organisation by id; one transaction, ended with COMMIT.
* ``POST /transfers``: authenticate, then in one transaction claim the ``Idempotency-Key``
  (``INSERT … ON CONFLICT DO NOTHING``; a repeated key replays the stored answer), write a
  journal, move the two balances (conditional ``UPDATE … RETURNING``, in account-id order)
  and write the two postings, store the answer, COMMIT (the ledger's deferred balance
  trigger runs here) — what the ledger does for a payment, on the exchange's own tables.

    gunicorn --chdir bench bare:app    # with MARKET_DATABASE_URL set
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine

IDEMPOTENCY_TABLE = "bench_bare_idempotency"

_KEY = text("SELECT k.secret_hash, k.revoked_at, u.active, o.id AS org_id, o.status "
            "FROM api_keys k JOIN users u ON u.id = k.user_id "
            "JOIN organisations o ON o.id = k.organisation_id WHERE k.id = :id")
_ORG = text("SELECT id, name, credit_code, status, contact_name, contact_email, created_at "
            "FROM organisations WHERE id = :id")
_CLAIM = text(f"INSERT INTO {IDEMPOTENCY_TABLE} (principal, key) VALUES (:p, :k) "
              "ON CONFLICT DO NOTHING RETURNING key")
_STORED = text(f"SELECT response FROM {IDEMPOTENCY_TABLE} WHERE principal = :p AND key = :k")
_STORE = text(f"UPDATE {IDEMPOTENCY_TABLE} SET response = :r WHERE principal = :p AND key = :k")
_JOURNAL = text("INSERT INTO ledger_journals (id, key, kind, order_id, memo, actor_label, "
                "posted_at) VALUES (:id, :key, 'payment', NULL, NULL, 'bench bare', :at)")
_MOVE = text("UPDATE ledger_accounts SET balance = balance + :leg WHERE id = :id "
             "AND (NOT non_negative OR balance - pending_out + :leg >= 0) RETURNING balance")
_POSTING = text("INSERT INTO ledger_postings (journal_id, account_id, amount, currency, "
                "balance_after, posted_at) VALUES (:j, :a, :amount, 'CNY', :after, :at)")

CREATE_IDEMPOTENCY = (f"CREATE TABLE IF NOT EXISTS {IDEMPOTENCY_TABLE} (principal text, "
                      "key text, response text, PRIMARY KEY (principal, key))")


def _database_url() -> str:
    url = os.environ["MARKET_DATABASE_URL"]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


app = Flask(__name__)


@functools.cache
def engine() -> Engine:
    return create_engine(_database_url(), pool_pre_ping=True)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, default=str), status=status, mimetype="application/json")


def _authenticated(conn: Connection) -> str | None:
    """The caller's organisation id, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    parts = token.split(".")
    if scheme.lower() != "bearer" or len(parts) != 3:
        return None
    row = conn.execute(_KEY, {"id": parts[1]}).first()
    presented = hashlib.sha256(parts[2].encode()).hexdigest()
    if row is None or not hmac.compare_digest(presented, row.secret_hash):
        return None
    if row.revoked_at is not None or not row.active or row.status != "admitted":
        return None
    return str(row.org_id)


@app.get("/healthz")
def healthz() -> Response:
    return _json({"status": "ok"})


@app.get("/orgs/<org_id>")
def read_org(org_id: str) -> Response:
    with engine().begin() as conn:
        if _authenticated(conn) is None:
            return _json({"code": "unauthorized"}, 401)
        row = conn.execute(_ORG, {"id": org_id}).first()
    if row is None:
        return _json({"code": "not_found"}, 404)
    return _json(dict(row._mapping))


@app.post("/transfers")
def transfer() -> Response:
    body = request.get_json()
    key = request.headers.get("Idempotency-Key", "")
    with engine().begin() as conn:
        principal = _authenticated(conn)
        if principal is None:
            return _json({"code": "unauthorized"}, 401)
        if conn.execute(_CLAIM, {"p": principal, "k": key}).first() is None:
            stored = conn.execute(_STORED, {"p": principal, "k": key}).scalar()
            return Response(stored, status=200, mimetype="application/json")
        journal_id = "jrn_" + secrets.token_hex(12)
        now = datetime.now(UTC)
        amount = int(body["amount"])
        conn.execute(_JOURNAL, {"id": journal_id, "key": f"bench-bare:{journal_id}", "at": now})
        postings = []
        for account_id, leg in sorted([(body["source"], -amount), (body["target"], amount)]):
            after = conn.execute(_MOVE, {"leg": leg, "id": account_id}).scalar()
            if after is None:
                raise ValueError(f"insufficient funds on {account_id}")
            postings.append({"j": journal_id, "a": account_id, "amount": leg, "after": after,
                             "at": now})
        conn.execute(_POSTING, postings)
        answer = json.dumps({"journal_id": journal_id, "amount": amount})
        conn.execute(_STORE, {"r": answer, "p": principal, "k": key})
    return Response(answer, status=200, mimetype="application/json")
