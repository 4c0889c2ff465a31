"""The transactional outbox: enqueue with the business change, deliver with retries."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.actor import system_actor
from market.kernel.clock import FixedClock
from market.kernel.outbox import DEAD, DONE, PENDING, Delivery, OutboxMessage, Worker
from market.kernel.uow import UnitOfWork

TOPIC = "test.happened"
BASE = 2.0
LEASE = 60

requires_postgres = pytest.mark.skipif(
    not os.environ.get("MARKET_TEST_DATABASE_URL"),
    reason="concurrent workers need a real PostgreSQL (set MARKET_TEST_DATABASE_URL, e.g. "
           "scripts/with-postgres); SQLite has no FOR UPDATE SKIP LOCKED",
)


class Failing:
    """A consumer that raises a given number of times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[Delivery] = []

    def __call__(self, delivery: Delivery) -> None:
        self.calls.append(delivery)
        if len(self.calls) <= self.failures:
            raise RuntimeError(f"downstream unavailable (call {len(self.calls)})")


def enqueue(session_factory: sessionmaker[Session], clock: FixedClock,
            *payloads: dict[str, Any], topic: str = TOPIC) -> list[str]:
    with UnitOfWork(session_factory, clock, system_actor("test")) as uow:
        ids = [uow.outbox.enqueue(topic, p) for p in payloads]
        uow.commit()
    return ids


def message(session_factory: sessionmaker[Session], message_id: str) -> OutboxMessage:
    with session_factory() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        return row


def worker(session_factory: sessionmaker[Session], clock: FixedClock,
           consumers: dict[str, Callable[[Delivery], None]], *, worker_id: str = "w1",
           max_attempts: int = 3, backoff: float = BASE) -> Worker:
    return Worker(session_factory, clock, consumers, worker_id=worker_id, lease_seconds=LEASE,
                  max_attempts=max_attempts, backoff_base_seconds=backoff)


def test_enqueued_message_is_pending_until_the_unit_of_work_commits(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    with UnitOfWork(session_factory, clock, system_actor("test")) as uow:
        uow.outbox.enqueue(TOPIC, {"n": 1})
        # no commit: leaving the block rolls the message back

    [kept] = enqueue(session_factory, clock, {"n": 2})

    with session_factory() as session:
        rows = session.scalars(select(OutboxMessage)).all()
    assert [r.id for r in rows] == [kept]
    row = rows[0]
    assert (row.topic, row.payload, row.status, row.attempts) == (TOPIC, {"n": 2}, PENDING, 0)
    assert row.available_at == clock.now()
    assert row.claimed_by is None


def test_worker_delivers_and_marks_done(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    ids = enqueue(session_factory, clock, {"n": 1}, {"n": 2})
    seen: list[Delivery] = []

    result = worker(session_factory, clock, {TOPIC: seen.append}).drain_once()

    assert (result.claimed, result.done, result.retried, result.dead) == (2, 2, 0, 0)
    assert sorted(d.id for d in seen) == sorted(ids)
    assert {d.payload["n"] for d in seen} == {1, 2}
    assert {d.attempts for d in seen} == {1}
    for message_id in ids:
        row = message(session_factory, message_id)
        assert (row.status, row.attempts, row.claimed_by) == (DONE, 1, "w1")
        assert row.processed_at == clock.now()
        assert row.lease_until is None
        assert row.last_error is None
    # nothing left to do
    assert worker(session_factory, clock, {TOPIC: seen.append}).drain_once().claimed == 0
    assert len(seen) == 2


def test_failures_are_retried_with_exponential_backoff_then_dead(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    [message_id] = enqueue(session_factory, clock, {"n": 1})
    consumer = Failing(failures=99)
    w = worker(session_factory, clock, {TOPIC: consumer}, max_attempts=4)

    for attempt in (1, 2, 3):
        failed_at = clock.now()
        result = w.drain_once()
        assert (result.claimed, result.retried, result.dead) == (1, 1, 0)
        row = message(session_factory, message_id)
        assert row.status == PENDING
        assert row.attempts == attempt
        assert row.lease_until is None
        assert row.available_at == failed_at + timedelta(seconds=BASE * 2 ** (attempt - 1))
        assert row.last_error is not None
        assert f"call {attempt}" in row.last_error
        assert row.processed_at is None
        clock.advance(row.available_at - clock.now())

    result = w.drain_once()

    assert (result.claimed, result.retried, result.dead) == (1, 0, 1)
    row = message(session_factory, message_id)
    assert row.status == DEAD
    assert row.attempts == 4
    assert row.last_error is not None
    assert "RuntimeError" in row.last_error
    assert "call 4" in row.last_error
    assert row.processed_at == clock.now()
    clock.advance(timedelta(days=1))
    assert w.drain_once().claimed == 0
    assert len(consumer.calls) == 4


def test_message_succeeds_after_transient_failures(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    [message_id] = enqueue(session_factory, clock, {"n": 1})
    consumer = Failing(failures=1)
    w = worker(session_factory, clock, {TOPIC: consumer})

    assert w.drain_once().retried == 1
    clock.advance(timedelta(seconds=BASE))
    assert w.drain_once().done == 1

    row = message(session_factory, message_id)
    assert (row.status, row.attempts, row.last_error) == (DONE, 2, None)
    assert [d.attempts for d in consumer.calls] == [1, 2]


def test_backoff_is_capped_at_an_hour(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    [message_id] = enqueue(session_factory, clock, {"n": 1})
    w = worker(session_factory, clock, {TOPIC: Failing(failures=99)}, max_attempts=50,
               backoff=3000.0)

    w.drain_once()  # attempt 1: 3000 s
    assert message(session_factory, message_id).available_at == clock.now() + timedelta(
        seconds=3000)
    clock.advance(timedelta(seconds=3000))
    w.drain_once()  # attempt 2: 6000 s, capped to 3600 s

    assert message(session_factory, message_id).available_at == clock.now() + timedelta(
        seconds=3600)


def test_unknown_topic_is_recorded_as_a_failure(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    [message_id] = enqueue(session_factory, clock, {"n": 1}, topic="nobody.listens")

    result = worker(session_factory, clock, {TOPIC: lambda d: None}).drain_once()

    assert (result.claimed, result.done, result.retried) == (1, 0, 1)
    row = message(session_factory, message_id)
    assert row.status == PENDING
    assert row.attempts == 1
    assert row.last_error is not None
    assert "no consumer for topic 'nobody.listens'" in row.last_error
    assert row.available_at == clock.now() + timedelta(seconds=BASE)


def test_messages_not_yet_due_are_not_claimed(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    [message_id] = enqueue(session_factory, clock, {"n": 1})
    w = worker(session_factory, clock, {TOPIC: Failing(failures=1)})
    w.drain_once()  # fails: due again in BASE seconds

    clock.advance(timedelta(seconds=BASE - 1))
    assert w.claim(10) == []

    clock.advance(timedelta(seconds=1))
    [again] = w.claim(10)
    assert again.id == message_id
    assert again.attempts == 2


def test_message_enqueued_later_is_claimed_after_earlier_ones(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    [early] = enqueue(session_factory, clock, {"n": 1})
    clock.advance(timedelta(seconds=1))
    [late] = enqueue(session_factory, clock, {"n": 2})

    [first] = worker(session_factory, clock, {}).claim(1)
    [second] = worker(session_factory, clock, {}, worker_id="w2").claim(1)

    assert (first.id, second.id) == (early, late)


def test_claimed_message_is_leased_and_not_claimed_twice(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    [message_id] = enqueue(session_factory, clock, {"n": 1})
    first = worker(session_factory, clock, {}, worker_id="w1")
    second = worker(session_factory, clock, {}, worker_id="w2")

    [claimed] = first.claim(10)
    assert claimed.id == message_id

    assert second.claim(10) == []
    clock.advance(timedelta(seconds=LEASE))  # the lease ends at exactly this instant
    assert second.claim(10) == []
    row = message(session_factory, message_id)
    assert (row.claimed_by, row.lease_until) == ("w1", clock.now())


def test_expired_lease_lets_another_worker_claim_the_message(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    [message_id] = enqueue(session_factory, clock, {"n": 1})
    late_calls: list[Delivery] = []
    crashed = worker(session_factory, clock, {TOPIC: late_calls.append}, worker_id="crashed")
    rescuer_calls: list[Delivery] = []
    rescuer = worker(session_factory, clock, {TOPIC: rescuer_calls.append}, worker_id="rescuer")
    [abandoned] = crashed.claim(10)

    clock.advance(timedelta(seconds=LEASE + 1))
    [retaken] = rescuer.claim(10)

    assert retaken.id == message_id
    assert retaken.attempts == 2
    row = message(session_factory, message_id)
    assert row.claimed_by == "rescuer"
    assert row.lease_until == clock.now() + timedelta(seconds=LEASE)

    # the first worker finishing late does not overwrite the new owner's lease
    crashed.process(abandoned)
    row = message(session_factory, message_id)
    assert (row.status, row.claimed_by) == (PENDING, "rescuer")

    assert rescuer.process(retaken) == DONE
    row = message(session_factory, message_id)
    assert (row.status, row.claimed_by, row.attempts) == (DONE, "rescuer", 2)


def test_claim_respects_the_batch_limit(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    enqueue(session_factory, clock, *({"n": n} for n in range(7)))
    w = worker(session_factory, clock, {TOPIC: lambda d: None})

    assert w.drain_once(batch=3).claimed == 3
    assert w.drain_once(batch=3).claimed == 3
    assert w.drain_once(batch=3).claimed == 1
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.status == DONE)) == 7


# -- concurrency (PostgreSQL) --------------------------------------------------------------


@requires_postgres
@pytest.mark.postgres
def test_concurrent_workers_deliver_every_message_exactly_once(
    committed_session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    total = 500
    ids = enqueue(committed_session_factory, clock, *({"n": n} for n in range(total)))
    deliveries: list[tuple[str, str]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(worker_id: str) -> None:
        def consume(delivery: Delivery) -> None:
            time.sleep(0.0005)  # let the other worker interleave its claims
            with lock:
                deliveries.append((delivery.id, worker_id))

        w = worker(committed_session_factory, clock, {TOPIC: consume}, worker_id=worker_id)
        try:
            start.wait(timeout=30)
            while w.drain_once(batch=10).claimed:
                pass
        except BaseException as exc:  # surfaced below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"worker-{i}",)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not errors, errors
    delivered = [message_id for message_id, _ in deliveries]
    assert len(delivered) == len(set(delivered)), "a message was delivered twice"
    assert sorted(delivered) == sorted(ids)
    by_worker = {w: sum(1 for _, who in deliveries if who == w) for w in ("worker-1", "worker-2")}
    assert all(by_worker.values()), by_worker
    with committed_session_factory() as session:
        rows = session.execute(select(OutboxMessage.id, OutboxMessage.status,
                                      OutboxMessage.attempts, OutboxMessage.claimed_by)).all()
    assert {r.status for r in rows} == {DONE}
    assert {r.attempts for r in rows} == {1}
    assert {r.id: r.claimed_by for r in rows} == dict(deliveries)
