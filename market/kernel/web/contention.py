"""Concurrent writers: a request's use case that meets another transaction in its way runs
again from the start, and a request that cannot get through in time is answered 503.

SQLite queues writers for its busy timeout (see :mod:`market.kernel.db`); PostgreSQL may
end a transaction with a serialization failure or a deadlock. Either way the unit of work
rolled back whole, so the view is called again as it was: parsed arguments are read from
the request again, an uploaded file from its start; an idempotent view keeps its claim and
runs only its use case again (see :mod:`.idempotent`). After
``db_attempts`` runs the client gets ``503 database_busy`` with ``Retry-After``; nothing of
the request was written.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from flask import g, request
from sqlalchemy.exc import DBAPIError

from market.kernel.db import expect_writes, is_contention
from market.kernel.errors import DatabaseBusy

log = logging.getLogger(__name__)

_FIRST_PAUSE = 0.005
_LONGEST_PAUSE = 0.25


def run_contended(view: Callable[..., Any], attempts: int, *args: Any, **kwargs: Any) -> Any:
    """``view(*args, **kwargs)``, run again when another transaction was in its way."""
    attempt = 1
    while True:
        try:
            return view(*args, **kwargs)
        except DBAPIError as error:
            if not is_contention(error):
                raise
            if attempt >= attempts:
                log.warning("request %s gave up after %d attempts: %s",
                            g.get("request_id", "-"), attempt, error.orig)
                raise DatabaseBusy(seconds=1) from error
            attempt += 1
            log.info("request %s met a concurrent transaction; running it again (attempt %d)",
                     g.get("request_id", "-"), attempt)
            _prepare_rerun()
            pause = min(_LONGEST_PAUSE, _FIRST_PAUSE * 2 ** attempt)
            time.sleep(random.uniform(0, pause))  # noqa: S311  (jitter, not a secret)


def _prepare_rerun() -> None:
    # A safe request that wrote after all: take the write lock up front this time.
    expect_writes(True)
    files = request.__dict__.get("files")
    for upload in (files.values() if files is not None else ()):
        upload.stream.seek(0)
