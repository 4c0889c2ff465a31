"""gunicorn settings for serving ``wsgi:app``.

    gunicorn -c python:market.gunicorn_conf wsgi:app

``MARKET_BIND`` (default ``127.0.0.1:5000``) and ``MARKET_WORKERS`` (default: the number of
CPUs) choose where and how many. gunicorn's own request-line and header limits are set above
the application's (``MARKET_MAX_URL_BYTES``, ``MARKET_MAX_HEADER_COUNT``,
``MARKET_MAX_HEADER_BYTES``), so an over-long request reaches the application and is answered
414 ``uri_too_long`` / 431 ``headers_too_large`` as problem+json; what gunicorn still refuses
itself (a request line past 8190 bytes, its hard maximum, or a request it cannot parse) is
answered as problem+json too (see :mod:`market.kernel.web.request_limits`).
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

from market.kernel.web.request_limits import answer_server_errors_as_problems

bind = os.environ.get("MARKET_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("MARKET_WORKERS") or multiprocessing.cpu_count())

# The application refuses a request target over 4 KiB, over 100 header fields or 16 KiB of
# them (market.kernel.config); gunicorn lets up to twice that through so the application
# answers, and refuses the rest itself.
limit_request_line = 8190  # gunicorn's maximum
limit_request_fields = 200
limit_request_field_size = 16 * 1024


def on_starting(server: Any) -> None:
    answer_server_errors_as_problems()
