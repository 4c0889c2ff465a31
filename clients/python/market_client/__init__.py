"""market_client: the Python client of the market data exchange API.

``Client`` groups the API's operations (``client.orders.place(...)``,
``client.regulator.iter_filings(...)``); creating calls are idempotent across retries;
error answers raise :class:`MarketError` subclasses carrying the stable ``code``;
:mod:`market_client.webhooks` checks webhook signatures; :func:`verify_proof_bundle` checks
a receipt's proof bundle with the exchange's own verifier.
"""

from market_client.client import VERSION, Client
from market_client.download import Downloaded, Saved
from market_client.errors import (
    ChecksumMismatch,
    ClientError,
    Conflict,
    ConnectionFailed,
    DownloadError,
    Forbidden,
    InvalidInput,
    MarketError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    Unprocessable,
    VerifierUnavailable,
)
from market_client.proofs import ProofPart, ProofReport, verify_proof_bundle

__version__ = VERSION
__all__ = [
    "ChecksumMismatch", "Client", "ClientError", "Conflict", "ConnectionFailed",
    "DownloadError", "Downloaded", "Forbidden", "InvalidInput", "MarketError", "NotFound",
    "ProofPart", "ProofReport", "RateLimited", "Saved", "ServerError", "Unauthorized",
    "Unprocessable", "VerifierUnavailable", "verify_proof_bundle",
]
