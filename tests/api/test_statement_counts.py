"""What the money-moving requests cost in SQL statements, pinned so that a change adding a
query (an N+1 above all) fails here and says which statements it added.

A payment runs 16 queries (ARCHITECTURE.md, "Throughput"): one to authenticate, the order
locked (``FOR UPDATE`` on PostgreSQL), the journal's accounts read and the escrow opened, the
journal, two legs, the postings, the outbox event, the order's update and its history, the
payment's receipt and its place in the log's queue, three for the audit chain. An acceptance
(settles, splits, files) runs 33 once the year's filing counter and the parties' settlement
accounts exist, four of them the receipts of the settlement and the filing with their queue
rows. The counts are the same on SQLite and PostgreSQL. ``count_queries`` also sees the
transaction control around them: in a test each unit of work is a savepoint
(authentication's and the use case's both released), so two units of work add four
statements.

The acceptance count depends on the data as well as on the code: the first filing of a year
creates its counter (a savepoint and an insert), a party's first settlement opens its
accounts (one insert), a product with personal information costs the alert rules one more
count, a raised alert its inserts. The trade measured here is the steady case: a second
trade between the same parties of a product without personal information, raising nothing.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.api.test_trading_api import SHA256, Desk
from tests.conftest import CountQueries
from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa: F401
from tests.integration.trading_fixtures import Market, market_fixture  # noqa: F401

PAYMENT_QUERIES = 16
ACCEPTANCE_QUERIES = 33
UNITS_OF_WORK = 2  # authentication and the use case, each a savepoint released


@pytest.fixture
def desk(client: FlaskClient, market: Market) -> Desk:
    return Desk(client, market)


# -- the fixture --------------------------------------------------------------------------


def test_count_queries_counts_the_statements_of_its_block_only(
    count_queries: CountQueries, connection: Connection
) -> None:
    connection.execute(text("SELECT 0"))
    with count_queries() as counted:
        connection.execute(text("SELECT 1"))
        connection.exec_driver_sql("SELECT 2")
    connection.execute(text("SELECT 3"))

    assert counted.statements == ["SELECT 1", "SELECT 2"]
    assert len(counted) == 2
    assert counted.queries == counted.statements
    assert str(counted) == "2 statements, 2 of them queries:\n  1. SELECT 1\n  2. SELECT 2"


def test_count_queries_counts_savepoints_apart_from_queries(
    count_queries: CountQueries, session_factory: sessionmaker[Session], engine: Engine
) -> None:
    with (count_queries(session_factory) as counted, count_queries(engine) as inner,
          session_factory() as session):
        session.execute(text("SELECT 1"))
        session.commit()

    assert [s.split()[0] for s in counted.statements] == ["SAVEPOINT", "SELECT", "RELEASE"]
    assert counted.queries == ["SELECT 1"]
    assert inner.statements == counted.statements  # two counters at once each see it all


# -- the requests -------------------------------------------------------------------------


def test_a_payment_runs_its_sixteen_queries(
    desk: Desk, market: Market, count_queries: CountQueries
) -> None:
    chain, buyer = market.listed(), desk.buyer()
    order_id = desk.place(chain, buyer).json["id"]

    with count_queries() as counted:
        paid = desk.pay(order_id, buyer)

    assert paid.json["status"] == "paid"
    assert (len(counted.queries), len(counted)) == (
        PAYMENT_QUERIES, PAYMENT_QUERIES + 2 * UNITS_OF_WORK), str(counted)


def test_an_acceptance_runs_its_thirty_three_queries(
    desk: Desk, market: Market, count_queries: CountQueries
) -> None:
    chain, buyer = market.listed(), desk.buyer()
    # A first trade files the year's first filing and opens the parties' accounts.
    first = desk.delivered(chain, buyer)
    desk.call("POST", f"/orders/{first}/acceptance", buyer, 200, {"sha256": SHA256})
    order_id = desk.delivered(chain, buyer)

    with count_queries() as counted:
        settled = desk.call("POST", f"/orders/{order_id}/acceptance", buyer, 200,
                            {"sha256": SHA256})

    assert settled.json["status"] == "settled"
    assert (len(counted.queries), len(counted)) == (
        ACCEPTANCE_QUERIES, ACCEPTANCE_QUERIES + 2 * UNITS_OF_WORK), str(counted)
