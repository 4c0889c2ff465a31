"""Idempotency-Key through the API: one effect per key, the same answer on every retry."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.kernel.actor import ANONYMOUS
from market.kernel.clock import FixedClock
from market.kernel.config import Settings
from market.kernel.errors import IdempotencyRequestInFlight
from market.kernel.idempotency import (
    COMMITTED,
    COMPLETED,
    IN_FLIGHT,
    Claim,
    IdempotencyRecord,
    IdempotencyStore,
    request_fingerprint,
)
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.participants.models import Organisation, User
from tests.conftest import Party, problem

APPLY = "/api/v1/participants"
KEY_TTL = timedelta(days=30)

requires_postgres = pytest.mark.skipif(
    not os.environ.get("MARKET_TEST_DATABASE_URL"),
    reason="concurrent claims need a real PostgreSQL (set MARKET_TEST_DATABASE_URL, e.g. "
           "scripts/with-postgres); SQLite serialises writers so there is no race to test",
)


def application(code: str | None = None) -> dict[str, Any]:
    code = code or random_credit_code()
    return {"name": f"申请方 {code}", "credit_code": code, "contact_name": "张三",
            "contact_email": f"{code.lower()}@example.cn", "roles": ["buyer"]}


def user_body(tag: str) -> dict[str, Any]:
    return {"name": f"user {tag}", "email": f"{tag}-{random_credit_code().lower()}@example.cn"}


def users_url(party: Party) -> str:
    return f"/api/v1/participants/{party.org_id}/users"


def idem(key: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {**(headers or {}), "Idempotency-Key": key}


def orgs_with_code(session_factory: sessionmaker[Session], code: str) -> int:
    with session_factory() as session:
        return int(session.scalar(
            select(func.count()).select_from(Organisation)
            .where(Organisation.credit_code == code)
        ) or 0)


def users_with_email(session_factory: sessionmaker[Session], email: str) -> int:
    with session_factory() as session:
        return int(session.scalar(
            select(func.count()).select_from(User).where(User.email == email)
        ) or 0)


def record_for(session_factory: sessionmaker[Session], principal: str,
               key: str) -> IdempotencyRecord | None:
    with session_factory() as session:
        return session.scalars(select(IdempotencyRecord).where(
            IdempotencyRecord.principal == principal, IdempotencyRecord.key == key
        )).one_or_none()


def store_of(app: Flask) -> IdempotencyStore:
    store: IdempotencyStore = app.extensions["market"].idempotency
    return store


def claim_like_the_api(app: Flask, principal: str, key: str, path: str,
                       body: dict[str, Any]) -> Claim:
    """Claim a key exactly as the API would for ``POST path`` with ``body``."""
    fingerprint = request_fingerprint("POST", path, json.dumps(body).encode())
    return store_of(app).claim(principal, key, "POST", path, fingerprint)


def org_input(body: dict[str, Any]) -> participants.OrganisationInput:
    return participants.OrganisationInput(
        name=body["name"], credit_code=body["credit_code"], contact_name=body["contact_name"],
        contact_email=body["contact_email"], roles=frozenset(body["roles"]),
    )


def marking(record_id: str) -> Callable[[Session], None]:
    """The before-commit hook the web layer adds for an idempotent request."""
    return lambda session: IdempotencyStore.mark_committed(session, record_id)


def lease(app: Flask) -> timedelta:
    return timedelta(seconds=app.extensions["market"].settings.idempotency_lease_seconds)


# -- replays -------------------------------------------------------------------------------


def test_replayed_application_answers_the_same_and_creates_one_organisation(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    body = application()

    first = client.post(APPLY, json=body, headers=idem("apply-once"))
    second = client.post(APPLY, json=body, headers=idem("apply-once"))

    assert first.status_code == 201, first.get_json()
    assert "Idempotent-Replayed" not in first.headers
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_data() == first.get_data()
    assert second.headers["Location"] == first.headers["Location"]
    assert orgs_with_code(session_factory, body["credit_code"]) == 1


def test_stored_response_is_encrypted_at_rest(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    created = client.post(APPLY, json=application(), headers=idem("apply-secret"))
    assert created.status_code == 201
    token = created.get_json()["api_key"]["token"]

    record = record_for(session_factory, "anonymous", "apply-secret")
    assert record is not None
    assert record.status == COMPLETED
    assert record.response_status == 201
    assert record.response_body is not None
    assert token not in record.response_body
    assert token.split(".")[2] not in record.response_body


def test_replayed_user_creation_answers_the_same_and_creates_one_user(
    client: FlaskClient, make_party: Callable[..., Party],
    session_factory: sessionmaker[Session],
) -> None:
    org = make_party("buyer")
    body = user_body("replay")

    first = client.post(users_url(org), json=body, headers=idem("user-once", org.headers))
    second = client.post(users_url(org), json=body, headers=idem("user-once", org.headers))

    assert first.status_code == 201, first.get_json()
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_data() == first.get_data()
    assert second.headers["Location"] == first.headers["Location"]
    assert users_with_email(session_factory, body["email"]) == 1


def test_json_key_order_and_whitespace_do_not_change_the_request(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    body = application()
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2, ensure_ascii=False)
    assert reordered != json.dumps(body)

    first = client.post(APPLY, json=body, headers=idem("apply-order"))
    second = client.post(APPLY, data=reordered.encode(), content_type="application/json",
                         headers=idem("apply-order"))

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_data() == first.get_data()
    assert orgs_with_code(session_factory, body["credit_code"]) == 1


def test_same_key_with_another_body_is_refused(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    body, other = application(), application()
    assert client.post(APPLY, json=body, headers=idem("apply-reuse")).status_code == 201

    reused = client.post(APPLY, json=other, headers=idem("apply-reuse"))

    assert reused.status_code == 422
    assert problem(reused)["code"] == "idempotency_key_reused"
    assert "Idempotent-Replayed" not in reused.headers
    assert orgs_with_code(session_factory, other["credit_code"]) == 0


def test_same_key_on_another_path_is_refused(
    client: FlaskClient, make_party: Callable[..., Party],
) -> None:
    org = make_party("buyer")
    created = client.post(users_url(org), json=user_body("path"),
                          headers=idem("shared", org.headers))
    assert created.status_code == 201

    other_path = client.post("/api/v1/keys", json={"name": "k", "scopes": ["read"]},
                             headers=idem("shared", org.headers))

    assert other_path.status_code == 422
    assert problem(other_path)["code"] == "idempotency_key_reused"


def test_keys_are_scoped_per_organisation(
    client: FlaskClient, make_party: Callable[..., Party],
    session_factory: sessionmaker[Session],
) -> None:
    alpha, beta = make_party("buyer"), make_party("merchant")
    body_a, body_b = user_body("alpha"), user_body("beta")

    made_a = client.post(users_url(alpha), json=body_a, headers=idem("same-key", alpha.headers))
    made_b = client.post(users_url(beta), json=body_b, headers=idem("same-key", beta.headers))

    assert made_a.status_code == 201, made_a.get_json()
    assert made_b.status_code == 201, made_b.get_json()
    assert "Idempotent-Replayed" not in made_b.headers
    assert made_b.get_json()["organisation_id"] == beta.org_id
    assert users_with_email(session_factory, body_a["email"]) == 1
    assert users_with_email(session_factory, body_b["email"]) == 1
    # and each organisation's key still replays its own answer
    again_a = client.post(users_url(alpha), json=body_a, headers=idem("same-key", alpha.headers))
    assert again_a.headers["Idempotent-Replayed"] == "true"
    assert again_a.get_data() == made_a.get_data()


def test_anonymous_and_organisation_keys_do_not_collide(
    client: FlaskClient, make_party: Callable[..., Party],
) -> None:
    org = make_party("buyer")
    applied = client.post(APPLY, json=application(), headers=idem("k-1"))
    added = client.post(users_url(org), json=user_body("k1"), headers=idem("k-1", org.headers))

    assert applied.status_code == 201
    assert added.status_code == 201
    assert "Idempotent-Replayed" not in added.headers


# -- failures release the key --------------------------------------------------------------


def test_failed_request_releases_the_key_so_a_corrected_retry_succeeds(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    wrong = application("91350100M000100Y44")  # bad check character
    corrected = application()

    failed = client.post(APPLY, json=wrong, headers=idem("apply-fix"))
    assert failed.status_code == 422
    assert problem(failed)["code"] == "invalid_credit_code"
    assert record_for(session_factory, "anonymous", "apply-fix") is None

    retried = client.post(APPLY, json=corrected, headers=idem("apply-fix"))
    assert retried.status_code == 201, retried.get_json()
    assert "Idempotent-Replayed" not in retried.headers
    assert orgs_with_code(session_factory, corrected["credit_code"]) == 1

    # the key is now bound to the corrected request
    replay = client.post(APPLY, json=corrected, headers=idem("apply-fix"))
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_data() == retried.get_data()
    stale = client.post(APPLY, json=wrong, headers=idem("apply-fix"))
    assert stale.status_code == 422
    assert problem(stale)["code"] == "idempotency_key_reused"


def test_failed_request_is_not_replayed_when_retried_unchanged(
    client: FlaskClient, make_party: Callable[..., Party],
) -> None:
    org = make_party("buyer")
    taken = user_body("dup")
    assert client.post(users_url(org), json=taken, headers=org.headers).status_code == 201

    first = client.post(users_url(org), json=taken, headers=idem("user-dup", org.headers))
    second = client.post(users_url(org), json=taken, headers=idem("user-dup", org.headers))

    assert problem(first)["code"] == "email_taken"
    assert problem(second)["code"] == "email_taken"
    assert "Idempotent-Replayed" not in second.headers


def test_schema_rejection_releases_the_key(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    incomplete = {k: v for k, v in application().items() if k != "roles"}
    rejected = client.post(APPLY, json=incomplete, headers=idem("apply-schema"))
    assert rejected.status_code == 422
    assert problem(rejected)["code"] == "invalid_input"
    assert record_for(session_factory, "anonymous", "apply-schema") is None

    fixed = client.post(APPLY, json=application(), headers=idem("apply-schema"))
    assert fixed.status_code == 201


# -- in flight, leases and take-over ------------------------------------------------------


def test_request_with_a_key_in_flight_is_refused_with_409(
    app: Flask, client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    body = application()
    running = claim_like_the_api(app, "anonymous", "apply-busy", APPLY, body)

    answer = client.post(APPLY, json=body, headers=idem("apply-busy"))

    assert answer.status_code == 409
    assert problem(answer)["code"] == "idempotency_request_in_flight"
    assert orgs_with_code(session_factory, body["credit_code"]) == 0
    record = record_for(session_factory, "anonymous", "apply-busy")
    assert record is not None
    assert (record.id, record.status) == (running.record_id, IN_FLIGHT)


def test_in_flight_key_of_an_organisation_is_refused_with_409(
    app: Flask, client: FlaskClient, make_party: Callable[..., Party],
    session_factory: sessionmaker[Session],
) -> None:
    org = make_party("buyer")
    body = user_body("busy")
    claim_like_the_api(app, org.org_id, "user-busy", users_url(org), body)

    answer = client.post(users_url(org), json=body, headers=idem("user-busy", org.headers))

    assert answer.status_code == 409
    assert problem(answer)["code"] == "idempotency_request_in_flight"
    assert users_with_email(session_factory, body["email"]) == 0


def test_in_flight_key_with_another_body_is_refused_as_reused(
    app: Flask, client: FlaskClient
) -> None:
    claim_like_the_api(app, "anonymous", "apply-busy-2", APPLY, application())

    answer = client.post(APPLY, json=application(), headers=idem("apply-busy-2"))

    assert answer.status_code == 422
    assert problem(answer)["code"] == "idempotency_key_reused"


def test_expired_lease_lets_a_retry_take_over(
    app: Flask, client: FlaskClient, clock: FixedClock,
    session_factory: sessionmaker[Session],
) -> None:
    body = application()
    abandoned = claim_like_the_api(app, "anonymous", "apply-lease", APPLY, body)

    clock.advance(lease(app) - timedelta(seconds=1))
    still_running = client.post(APPLY, json=body, headers=idem("apply-lease"))
    assert still_running.status_code == 409

    clock.advance(timedelta(seconds=1))
    taken_over = client.post(APPLY, json=body, headers=idem("apply-lease"))
    assert taken_over.status_code == 201, taken_over.get_json()
    assert "Idempotent-Replayed" not in taken_over.headers
    assert orgs_with_code(session_factory, body["credit_code"]) == 1
    record = record_for(session_factory, "anonymous", "apply-lease")
    assert record is not None
    assert (record.id, record.status) == (abandoned.record_id, COMPLETED)

    replay = client.post(APPLY, json=body, headers=idem("apply-lease"))
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_data() == taken_over.get_data()


def test_a_request_that_took_effect_but_lost_its_answer_is_not_repeated(
    app: Flask, client: FlaskClient, clock: FixedClock,
    session_factory: sessionmaker[Session],
) -> None:
    """The process died between committing the effect and storing the answer: a retry is
    told so (a final 409) once the lease has run out, and nothing happens a second time."""
    body = application()
    claimed = claim_like_the_api(app, "anonymous", "apply-lost", APPLY, body)
    participants.apply_for_admission(
        org_input(body), key_ttl=KEY_TTL,
        uow=UnitOfWork(session_factory, clock, ANONYMOUS,
                       before_commit=[marking(claimed.record_id)]))

    soon = client.post(APPLY, json=body, headers=idem("apply-lost"))
    assert soon.status_code == 409
    assert problem(soon)["code"] == "idempotency_request_in_flight"

    clock.advance(lease(app))
    late = client.post(APPLY, json=body, headers=idem("apply-lost"))
    assert late.status_code == 409
    assert problem(late)["code"] == "idempotency_answer_lost"
    assert orgs_with_code(session_factory, body["credit_code"]) == 1


def test_original_request_cannot_commit_after_its_lease_was_taken_over(
    app: Flask, client: FlaskClient, clock: FixedClock,
    session_factory: sessionmaker[Session],
) -> None:
    body = application()
    original = claim_like_the_api(app, "anonymous", "apply-stale", APPLY, body)
    clock.advance(lease(app))
    retry = client.post(APPLY, json=body, headers=idem("apply-stale"))
    assert retry.status_code == 201

    # The original request wakes up and tries to commit its own effect.
    late_effect = application()
    stale_uow = UnitOfWork(session_factory, clock, ANONYMOUS, before_commit=[
        marking(original.record_id)])
    with pytest.raises(IdempotencyRequestInFlight):
        participants.apply_for_admission(org_input(late_effect), uow=stale_uow, key_ttl=KEY_TTL)

    assert orgs_with_code(session_factory, late_effect["credit_code"]) == 0
    assert orgs_with_code(session_factory, body["credit_code"]) == 1
    record = record_for(session_factory, "anonymous", "apply-stale")
    assert record is not None
    assert record.status == COMPLETED


def test_only_one_of_original_and_take_over_commits_an_effect(
    app: Flask, clock: FixedClock, session_factory: sessionmaker[Session]
) -> None:
    body = application()
    original = claim_like_the_api(app, "anonymous", "apply-race", APPLY, body)
    clock.advance(lease(app))
    take_over = claim_like_the_api(app, "anonymous", "apply-race", APPLY, body)
    assert take_over.replay is None
    assert take_over.record_id == original.record_id

    first_effect, second_effect = application(), application()
    participants.apply_for_admission(
        org_input(first_effect), key_ttl=KEY_TTL,
        uow=UnitOfWork(session_factory, clock, ANONYMOUS,
                       before_commit=[marking(original.record_id)]),
    )
    with pytest.raises(IdempotencyRequestInFlight):
        participants.apply_for_admission(
            org_input(second_effect), key_ttl=KEY_TTL,
            uow=UnitOfWork(session_factory, clock, ANONYMOUS,
                           before_commit=[marking(take_over.record_id)]),
        )

    assert orgs_with_code(session_factory, first_effect["credit_code"]) == 1
    assert orgs_with_code(session_factory, second_effect["credit_code"]) == 0
    record = record_for(session_factory, "anonymous", "apply-race")
    assert record is not None
    assert record.status == COMMITTED


def test_take_over_that_loses_to_the_original_answers_409_and_keeps_its_record(
    app: Flask, client: FlaskClient, clock: FixedClock,
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API request takes over an expired lease, then the original commits first."""
    body = application()
    original = claim_like_the_api(app, "anonymous", "apply-lose", APPLY, body)
    clock.advance(lease(app))
    store = store_of(app)
    real_claim = store.claim
    original_effect = application()

    def claim_then_original_commits(*args: Any, **kwargs: Any) -> Claim:
        claimed = real_claim(*args, **kwargs)
        participants.apply_for_admission(
            org_input(original_effect), key_ttl=KEY_TTL,
            uow=UnitOfWork(session_factory, clock, ANONYMOUS,
                           before_commit=[marking(original.record_id)]),
        )
        return claimed

    monkeypatch.setattr(store, "claim", claim_then_original_commits)
    lost = client.post(APPLY, json=body, headers=idem("apply-lose"))
    monkeypatch.undo()

    assert lost.status_code == 409
    assert problem(lost)["code"] == "idempotency_request_in_flight"
    assert orgs_with_code(session_factory, body["credit_code"]) == 0
    assert orgs_with_code(session_factory, original_effect["credit_code"]) == 1
    record = record_for(session_factory, "anonymous", "apply-lose")
    assert record is not None
    assert (record.id, record.status) == (original.record_id, COMMITTED)


def test_expired_key_may_be_used_again_for_another_request(
    app: Flask, client: FlaskClient, clock: FixedClock,
    session_factory: sessionmaker[Session],
) -> None:
    first, second = application(), application()
    assert client.post(APPLY, json=first, headers=idem("apply-ttl")).status_code == 201

    clock.advance(timedelta(seconds=app.extensions["market"].settings.idempotency_ttl_seconds))
    again = client.post(APPLY, json=second, headers=idem("apply-ttl"))

    assert again.status_code == 201, again.get_json()
    assert "Idempotent-Replayed" not in again.headers
    assert orgs_with_code(session_factory, second["credit_code"]) == 1


# -- concurrency (PostgreSQL) --------------------------------------------------------------


@requires_postgres
@pytest.mark.postgres
def test_concurrent_retries_with_one_key_create_one_organisation(
    settings: Settings, committed_session_factory: sessionmaker[Session], clock: FixedClock,
) -> None:
    threads_count = 8
    app = create_app(settings, session_factory=committed_session_factory, clock=clock)
    body = application()
    barrier = threading.Barrier(threads_count)
    answers: list[tuple[int, bytes, dict[str, Any] | None, str | None]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def post() -> None:
        try:
            with app.test_client() as client:
                barrier.wait(timeout=30)
                response = client.post(APPLY, json=body, headers=idem("apply-concurrent"))
                with lock:
                    answers.append((response.status_code, response.get_data(),
                                    response.get_json(silent=True),
                                    response.headers.get("Idempotent-Replayed")))
        except BaseException as exc:  # surfaced below
            with lock:
                errors.append(exc)

    workers = [threading.Thread(target=post) for _ in range(threads_count)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=60)

    assert not errors, errors
    assert len(answers) == threads_count
    assert orgs_with_code(committed_session_factory, body["credit_code"]) == 1
    created = [a for a in answers if a[0] == 201]
    refused = [a for a in answers if a[0] != 201]
    assert created, answers
    assert len({a[1] for a in created}) == 1
    assert [a[3] for a in created].count(None) == 1  # one original, the rest replays
    for status, _, payload, _ in refused:
        assert status == 409
        assert payload is not None
        assert payload["code"] == "idempotency_request_in_flight"
