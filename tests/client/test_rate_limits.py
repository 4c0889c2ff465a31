"""A 429 from the application's real rate limiter: retried no sooner than its Retry-After,
then raised as RateLimited carrying it; not waited for when longer than the client waits."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from market_client import RateLimited

from market.kernel.config import Settings
from tests.client.conftest import Exchange
from tests.conftest import Party


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_changes(rate_limits=True, rate_limit_search="2 per hour")


def test_searches_over_the_limit_wait_retry_after_then_raise(
    exchange: Exchange, make_party: Callable[..., Party]
) -> None:
    buyer = make_party("buyer")
    patient = exchange.client(buyer, retries=2, max_wait=7200)
    patient.catalog.search("交通")
    patient.catalog.search("交通")
    with pytest.raises(RateLimited) as raised:
        patient.catalog.search("交通")
    error = raised.value
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.retry_after is not None
    assert error.retry_after > 0
    assert len(exchange.recorder.requests("GET", "/api/v1/catalog")) == 2 + 3
    assert len(exchange.waits.seconds) == 2
    assert all(wait >= error.retry_after - 1 for wait in exchange.waits.seconds)

    impatient = exchange.client(buyer, retries=2, max_wait=5)
    with pytest.raises(RateLimited):
        impatient.catalog.search("交通")
    assert len(exchange.waits.seconds) == 2  # it did not wait an hour
