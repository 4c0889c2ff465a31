"""Settings read from ``MARKET_*`` environment variables when :func:`load_settings` is called.

Nothing is read at import time: ``create_app`` calls :func:`load_settings` (or takes a
:class:`Settings` from a test) so every application instance sees the environment of the
moment it was built.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from limits import parse_many
from limits.storage import SCHEMES  # type: ignore[attr-defined]  # (not in its __all__)

from market.kernel.errors import ConfigurationError

PREFIX = "MARKET_"
_SIGNING_KEY_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one application instance."""

    instance_path: Path
    database_url: str
    secret_key: str
    signing_key: str = ""
    max_body_bytes: int = 1024 * 1024
    # Beyond these the application answers 414 uri_too_long / 431 headers_too_large (the
    # server in front, see market/gunicorn_conf.py, lets somewhat more through to it).
    max_url_bytes: int = 4096
    max_header_count: int = 100
    max_header_bytes: int = 16 * 1024
    max_upload_bytes: int = 2 * 1024 ** 3
    idempotency_ttl_seconds: int = 24 * 3600
    idempotency_lease_seconds: int = 60
    api_key_default_ttl_days: int = 365
    # Web console sessions end after this long unused, and this long after login whatever.
    console_idle_minutes: int = 30
    console_lifetime_hours: int = 12
    outbox_max_attempts: int = 10
    outbox_lease_seconds: int = 60
    outbox_backoff_base_seconds: float = 2.0
    review_window_hours: int = 72
    payment_window_hours: int = 24
    delivery_window_hours: int = 7 * 24
    acceptance_window_hours: int = 72
    # When set (MARKET_ACCEPTANCE_WINDOW_SECONDS), the acceptance window in seconds instead
    # of the hours above: for demonstrations and tests of the auto-acceptance.
    acceptance_window_seconds: int = 0
    dispute_answer_hours: int = 72
    # Arbitration: a party may take the operator's decision to one of these institutions
    # this many hours after it (0: the decision is carried out at once); the escrow stays
    # frozen meanwhile.
    arbitration_window_hours: int = 7 * 24
    arbitration_institutions: tuple[str, ...] = ("武汉仲裁委员会",)
    download_ttl_seconds: int = 3600
    download_limit: int = 5
    platform_fee_bps: int = 100
    split_holder_bps: int = 1000
    split_processor_bps: int = 1000
    # Subscriptions: renew this long before the period ends; retry a failed renewal every
    # retry seconds until the grace period after the period's end runs out.
    subscription_renew_before_seconds: int = 24 * 3600
    subscription_grace_seconds: int = 3 * 24 * 3600
    subscription_retry_seconds: int = 6 * 3600
    match_weights: str = "text=40,budget=20,region=10,freshness=10,credit=10,fulfilment=10"
    match_top: int = 20
    match_pool: int = 200
    negotiation_window_hours: int = 72
    private_offer_hours: int = 7 * 24
    # The delivery matrix (分类分级): classification:pi_level=modes entries, ``;``-separated
    # (empty: the default); compliance parses and checks it when the application starts.
    delivery_matrix: str = ""
    receipt_suite: str = "secp256k1-sha256"
    sm2_signing_key: str = ""
    receipt_log_origin: str = "market.example/receipts"
    chain_rpc_url: str = ""
    chain_id: int = 0
    anchor_contract: str = ""
    anchor_key: str = ""
    anchor_batch_size: int = 1000
    anchor_batch_seconds: int = 600
    anchor_confirmations: int = 12
    anchor_stuck_seconds: int = 300
    anchor_fee_bump_percent: int = 25
    webhooks_allow_private: bool = False
    webhooks_retry_hours: float = 24.0
    webhooks_backoff_base_seconds: float = 30.0
    webhooks_disable_after: int = 50
    webhooks_timeout_seconds: float = 10.0
    webhooks_secret_overlap_hours: float = 24.0
    payment_rail: str = "offline"
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""
    stripe_auth_window_seconds: int = 7 * 24 * 3600
    # The share of public-data revenue earmarked for the public-service fund (公共数据运营收益
    # 定向反哺公共服务), in basis points of the price.
    public_fund_bps: int = 1000
    # Electronic contracts: both parties sign (or decline) before the first delivery.
    contract_signatures_required: bool = False
    # Retention: ``kind=years`` overriding the record kinds' defaults (compliance checks the
    # kinds and their floors); a buyer's destruction declaration is due this many days after
    # its order's term ended, then the regulator is alerted.
    retention_years: str = ""
    destruction_grace_days: int = 30
    # Admission documents (主体资格): remind an organisation this many days before a verified
    # document expires (once per document and threshold).
    document_reminder_days: tuple[int, ...] = (30, 7)
    # Concurrent writers: SQLite waits this long for the write lock; a use case that still
    # meets a locked database, a PostgreSQL serialization failure or a deadlock is run again
    # from the start, at most this many times in all, then answered 503 with Retry-After.
    db_busy_timeout_ms: int = 5000
    db_attempts: int = 3
    # Where delivered files, samples and evidence are kept: ``local`` (under instance_path)
    # or ``s3``, an S3-compatible bucket every application machine shares (credentials left
    # empty come from boto3's usual sources: AWS_ACCESS_KEY_ID, a profile, a role).
    storage: str = "local"
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_region: str = ""
    s3_prefix: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_part_size: int = 8 * 1024 * 1024
    # Rate limits, answered 429 with Retry-After: failed authentications per API key id and
    # per client address, and costly endpoints (searches, exports, evidence bundles) per
    # organisation, else per address. Each limit is "N per period" (several joined by ";").
    # ``memory://`` counts in each process; a shared store (``redis://host:6379/0``) counts
    # across processes and machines. Off in Settings built in code (tests, benchmarks);
    # load_settings turns them on unless MARKET_RATE_LIMITS=off.
    rate_limits: bool = False
    rate_limit_storage: str = "memory://"
    rate_limit_auth_per_key: str = "10 per minute"
    rate_limit_auth_per_address: str = "30 per minute"
    rate_limit_search: str = "120 per minute"
    rate_limit_export: str = "10 per minute"
    # Reverse proxies in front of the application whose X-Forwarded-For and
    # X-Forwarded-Proto are trusted (0: the socket's address is the client's).
    trusted_proxies: int = 0
    log_level: str = "INFO"
    check_schema: bool = True
    testing: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def anchoring(self) -> bool:
        """Whether receipts' checkpoints are anchored on a chain."""
        return bool(self.chain_rpc_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _integer(env: Mapping[str, str], name: str) -> int | None:
    """The variable as an integer, or None when it is unset or empty."""
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{PREFIX}{name} must be an integer, got {raw!r}") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _integer(env, name)
    if value is None:
        return default
    if value <= 0:
        raise ConfigurationError(f"{PREFIX}{name} must be positive, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{PREFIX}{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{PREFIX}{name} must be a positive number, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{PREFIX}{name} must be true or false, got {raw!r}")


def _bps(env: Mapping[str, str], name: str, default: int) -> int:
    """Basis points, 0 to 10,000."""
    value = _integer(env, name)
    if value is None:
        return default
    if not 0 <= value <= 10_000:
        raise ConfigurationError(f"{PREFIX}{name} must be between 0 and 10000 basis points")
    return value


MATCH_WEIGHTS = ("text", "budget", "region", "freshness", "credit", "fulfilment")
_WEIGHT_RE = re.compile(r"^\s*(\w+)\s*=\s*(\d+)\s*$")


def _weights(env: Mapping[str, str]) -> str:
    """``MARKET_MATCH_WEIGHTS``: ``name=points`` for the matching components, adding up to
    100 (a component left out weighs nothing)."""
    default = "text=40,budget=20,region=10,freshness=10,credit=10,fulfilment=10"
    raw = (env.get(PREFIX + "MATCH_WEIGHTS") or "").strip()
    if not raw:
        return default
    total = 0
    for part in raw.split(","):
        found = _WEIGHT_RE.match(part)
        if found is None or found.group(1) not in MATCH_WEIGHTS:
            raise ConfigurationError(
                f"{PREFIX}MATCH_WEIGHTS takes name=points for {', '.join(MATCH_WEIGHTS)}; "
                f"got {part.strip()!r}")
        total += int(found.group(2))
    if total != 100:
        raise ConfigurationError(f"{PREFIX}MATCH_WEIGHTS must add up to 100, not {total}")
    return raw


def _hours_or_zero(env: Mapping[str, str], name: str, default: int) -> int:
    """Hours, 0 (none) included, up to a year."""
    value = _integer(env, name)
    if value is None:
        return default
    if not 0 <= value <= 366 * 24:
        raise ConfigurationError(f"{PREFIX}{name} must be between 0 and 8784 hours")
    return value


def _institutions(env: Mapping[str, str]) -> tuple[str, ...]:
    """``MARKET_ARBITRATION_INSTITUTIONS``: the arbitration institutions disputes may be taken
    to, comma-separated (ASCII or full-width commas), by default 武汉仲裁委员会."""
    raw = (env.get(PREFIX + "ARBITRATION_INSTITUTIONS") or "").strip()
    if not raw:
        return ("武汉仲裁委员会",)
    names = [n.strip() for n in re.split(r"[,，]", raw)]
    if any(not n or len(n) > 200 for n in names) or len(set(names)) != len(names):
        raise ConfigurationError(
            f"{PREFIX}ARBITRATION_INSTITUTIONS takes distinct names of up to 200 characters, "
            f"comma-separated; got {raw!r}")
    return tuple(names)


def _reminder_days(env: Mapping[str, str]) -> tuple[int, ...]:
    """``MARKET_DOCUMENT_REMINDER_DAYS``: days before a document's expiry to remind its
    organisation, comma-separated (default 30,7)."""
    raw = (env.get(PREFIX + "DOCUMENT_REMINDER_DAYS") or "").strip()
    if not raw:
        return (30, 7)
    parts = [p.strip() for p in raw.split(",")]
    if not all(p.isdigit() and 0 < int(p) <= 366 for p in parts):
        raise ConfigurationError(
            f"{PREFIX}DOCUMENT_REMINDER_DAYS takes days from 1 to 366, comma-separated; "
            f"got {raw!r}")
    return tuple(sorted({int(p) for p in parts}, reverse=True))


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


_RETENTION_RE = re.compile(r"^\s*([a-z_]+)\s*=\s*(\d+)\s*$")


def _retention(env: Mapping[str, str]) -> str:
    """``MARKET_RETENTION_YEARS``: ``kind=years`` pairs, comma-separated (empty: defaults)."""
    raw = (env.get(PREFIX + "RETENTION_YEARS") or "").strip()
    for part in filter(None, (p.strip() for p in raw.split(","))):
        if _RETENTION_RE.match(part) is None:
            raise ConfigurationError(
                f"{PREFIX}RETENTION_YEARS takes kind=years pairs; got {part!r}")
    return raw


RATE_LIMITS = {"AUTH_PER_KEY": "10 per minute", "AUTH_PER_ADDRESS": "30 per minute",
               "SEARCH": "120 per minute", "EXPORT": "10 per minute"}


def _rate_limits(env: Mapping[str, str]) -> dict[str, Any]:
    """Rate limits: on unless ``MARKET_RATE_LIMITS=off``; ``MARKET_RATE_LIMIT_<NAME>`` limits
    ("N per period", several joined by ";"), ``MARKET_RATE_LIMIT_STORAGE`` (a ``limits``
    storage URI) and ``MARKET_TRUSTED_PROXIES``."""
    found: dict[str, Any] = {"rate_limits": _bool(env, "RATE_LIMITS", True)}
    for name, default in RATE_LIMITS.items():
        raw = (env.get(f"{PREFIX}RATE_LIMIT_{name}") or default).strip()
        try:
            parse_many(raw)
        except ValueError:
            raise ConfigurationError(
                f"{PREFIX}RATE_LIMIT_{name} takes limits such as '10 per minute' or "
                f"'5/second;100/hour'; got {raw!r}") from None
        found[f"rate_limit_{name.lower()}"] = raw
    storage = (env.get(PREFIX + "RATE_LIMIT_STORAGE") or "memory://").strip()
    scheme = storage.split("://", 1)[0]
    if scheme not in SCHEMES or scheme.startswith("async+"):
        raise ConfigurationError(
            f"{PREFIX}RATE_LIMIT_STORAGE must be a storage URI (memory://, redis://host:6379/0, "
            f"memcached://host:11211, ...); got scheme {scheme!r}")
    found["rate_limit_storage"] = storage
    proxies = _integer(env, "TRUSTED_PROXIES")
    if proxies is not None and not 0 <= proxies <= 10:
        raise ConfigurationError(f"{PREFIX}TRUSTED_PROXIES must be between 0 and 10")
    found["trusted_proxies"] = proxies or 0
    return found


def _log_level(env: Mapping[str, str]) -> str:
    level = (env.get(PREFIX + "LOG_LEVEL") or "INFO").strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigurationError(f"{PREFIX}LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    return level


def _instance_secret(
    instance_path: Path, name: str = "secret_key", make: Callable[[], str] | None = None
) -> str:
    """A secret kept in the instance folder, generated on first use (mode 0600)."""
    path = instance_path / name
    instance_path.mkdir(parents=True, exist_ok=True)
    value = (make or (lambda: secrets.token_urlsafe(48)))()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made earlier, or by another process starting at the same time
        stored = path.read_text().strip()
        if len(stored) < 16:
            raise ConfigurationError(
                f"{path} holds no usable secret (under 16 characters): delete it to regenerate"
            ) from None
        return stored
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


RECEIPT_SUITES = ("secp256k1-sha256", "sm2-sm3")
# Order of the SM2 curve (GB/T 32918.5): a private key lies in [1, n - 2].
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _sm2_private_key() -> str:
    return f"{secrets.randbelow(SM2_N - 2) + 1:064x}"


def _anchoring(env: Mapping[str, str], signing_key: str) -> dict[str, Any]:
    """Chain anchoring: off unless ``MARKET_CHAIN_RPC_URL`` is set, and then complete."""
    url = (env.get(PREFIX + "CHAIN_RPC_URL") or "").strip()
    if not url:
        return {}
    chain_id = _integer(env, "CHAIN_ID")
    contract = (env.get(PREFIX + "ANCHOR_CONTRACT") or "").strip()
    key = (env.get(PREFIX + "ANCHOR_KEY") or signing_key).strip()
    if not chain_id or chain_id < 1:
        raise ConfigurationError(f"{PREFIX}CHAIN_ID must be set (a positive integer) "
                                 f"when {PREFIX}CHAIN_RPC_URL is")
    if not _ADDRESS_RE.match(contract):
        raise ConfigurationError(f"{PREFIX}ANCHOR_CONTRACT must be the contract's 0x address "
                                 f"when {PREFIX}CHAIN_RPC_URL is")
    if not _SIGNING_KEY_RE.match(key):
        raise ConfigurationError(
            f"{PREFIX}ANCHOR_KEY must be a secp256k1 private key: 64 hex digits, 0x optional")
    return {"chain_rpc_url": url, "chain_id": chain_id, "anchor_contract": contract,
            "anchor_key": key}


PAYMENT_RAILS = ("offline", "stripe")


def check_payment_rail(settings: Settings) -> None:
    """Refuse to start the Stripe rail without its keys.

    Raises:
        ConfigurationError: ``stripe`` is chosen and a key is missing.
    """
    if settings.payment_rail not in PAYMENT_RAILS:
        raise ConfigurationError(
            f"{PREFIX}PAYMENT_RAIL must be one of {', '.join(PAYMENT_RAILS)}")
    if settings.payment_rail == "stripe":
        missing = [name for name, value in (("STRIPE_SECRET_KEY", settings.stripe_secret_key),
                                            ("STRIPE_WEBHOOK_SECRET",
                                             settings.stripe_webhook_secret)) if not value]
        if missing:
            raise ConfigurationError(
                f"{PREFIX}PAYMENT_RAIL=stripe needs " + " and ".join(PREFIX + m for m in missing))


def _payments(env: Mapping[str, str]) -> dict[str, Any]:
    """The payment rail: ``offline`` (the default) or ``stripe`` with its keys."""
    settings = {
        "payment_rail": (env.get(PREFIX + "PAYMENT_RAIL") or "offline").strip().lower(),
        "stripe_secret_key": (env.get(PREFIX + "STRIPE_SECRET_KEY") or "").strip(),
        "stripe_webhook_secret": (env.get(PREFIX + "STRIPE_WEBHOOK_SECRET") or "").strip(),
        "stripe_api_base": (env.get(PREFIX + "STRIPE_API_BASE") or "").strip().rstrip("/"),
        "stripe_auth_window_seconds": _int(env, "STRIPE_AUTH_WINDOW_SECONDS", 7 * 24 * 3600),
    }
    return settings


STORAGES = ("local", "s3")


def _storage(env: Mapping[str, str]) -> dict[str, Any]:
    """``MARKET_STORAGE``: ``local`` (the default) or ``s3`` with ``MARKET_S3_BUCKET`` and
    optionally its endpoint (any S3-compatible store), region, key prefix, credentials and
    multipart part size (at least 5 MiB)."""
    kind = (env.get(PREFIX + "STORAGE") or "local").strip().lower()
    if kind not in STORAGES:
        raise ConfigurationError(f"{PREFIX}STORAGE must be one of {', '.join(STORAGES)}")

    def text(name: str) -> str:
        return (env.get(PREFIX + name) or "").strip()

    found: dict[str, Any] = {
        "storage": kind, "s3_endpoint_url": text("S3_ENDPOINT_URL"),
        "s3_bucket": text("S3_BUCKET"), "s3_region": text("S3_REGION"),
        "s3_prefix": text("S3_PREFIX").strip("/"),
        "s3_access_key_id": text("S3_ACCESS_KEY_ID"),
        "s3_secret_access_key": text("S3_SECRET_ACCESS_KEY"),
        "s3_part_size": _int(env, "S3_PART_SIZE", 8 * 1024 * 1024)}
    if kind == "s3" and not found["s3_bucket"]:
        raise ConfigurationError(f"{PREFIX}STORAGE=s3 needs {PREFIX}S3_BUCKET")
    if found["s3_part_size"] < 5 * 1024 * 1024:
        raise ConfigurationError(f"{PREFIX}S3_PART_SIZE must be at least 5 MiB (5242880)")
    if bool(found["s3_access_key_id"]) != bool(found["s3_secret_access_key"]):
        raise ConfigurationError(f"{PREFIX}S3_ACCESS_KEY_ID and {PREFIX}S3_SECRET_ACCESS_KEY "
                                 "go together")
    return found


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``MARKET_*`` variables (``os.environ`` by default).

    Raises:
        ConfigurationError: a variable is present but malformed.
    """
    env = os.environ if environ is None else environ
    instance_path = Path(env.get(PREFIX + "INSTANCE_PATH") or Path.cwd() / "instance").resolve()
    database_url = env.get(PREFIX + "DATABASE_URL") or f"sqlite:///{instance_path / 'market.db'}"
    if database_url.startswith("postgres://") or database_url.startswith("postgresql://"):
        # psycopg 3 is the driver shipped with market; accept the common short forms.
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    secret_key = env.get(PREFIX + "SECRET_KEY") or _instance_secret(instance_path)
    if len(secret_key) < 16:
        raise ConfigurationError(f"{PREFIX}SECRET_KEY must be at least 16 characters")
    signing_key = env.get(PREFIX + "SIGNING_KEY") or _instance_secret(
        instance_path, "signing_key", lambda: "0x" + secrets.token_hex(32)
    )
    if not _SIGNING_KEY_RE.match(signing_key):
        raise ConfigurationError(
            f"{PREFIX}SIGNING_KEY must be a secp256k1 private key: 64 hex digits, 0x optional"
        )
    suite = (env.get(PREFIX + "RECEIPT_SUITE") or "secp256k1-sha256").strip()
    if suite not in RECEIPT_SUITES:
        raise ConfigurationError(
            f"{PREFIX}RECEIPT_SUITE must be one of {', '.join(RECEIPT_SUITES)}")
    sm2_key = env.get(PREFIX + "SM2_SIGNING_KEY") or _instance_secret(
        instance_path, "sm2_signing_key", _sm2_private_key)
    if not _SIGNING_KEY_RE.match(sm2_key) or not 0 < int(sm2_key, 16) < SM2_N - 1:
        raise ConfigurationError(
            f"{PREFIX}SM2_SIGNING_KEY must be an SM2 private key: 64 hex digits, 0x optional")
    anchor = _anchoring(env, signing_key)
    payments = _payments(env)
    check_payment_rail(Settings(instance_path=instance_path, database_url=database_url,
                                secret_key=secret_key, **payments))
    return Settings(
        instance_path=instance_path,
        database_url=database_url,
        secret_key=secret_key,
        signing_key=signing_key,
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 1024 * 1024),
        max_url_bytes=_int(env, "MAX_URL_BYTES", 4096),
        max_header_count=_int(env, "MAX_HEADER_COUNT", 100),
        max_header_bytes=_int(env, "MAX_HEADER_BYTES", 16 * 1024),
        max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", 2 * 1024 ** 3),
        idempotency_ttl_seconds=_int(env, "IDEMPOTENCY_TTL_SECONDS", 24 * 3600),
        idempotency_lease_seconds=_int(env, "IDEMPOTENCY_LEASE_SECONDS", 60),
        api_key_default_ttl_days=_int(env, "API_KEY_TTL_DAYS", 365),
        console_idle_minutes=_int(env, "CONSOLE_IDLE_MINUTES", 30),
        console_lifetime_hours=_int(env, "CONSOLE_LIFETIME_HOURS", 12),
        outbox_max_attempts=_int(env, "OUTBOX_MAX_ATTEMPTS", 10),
        outbox_lease_seconds=_int(env, "OUTBOX_LEASE_SECONDS", 60),
        outbox_backoff_base_seconds=_float(env, "OUTBOX_BACKOFF_BASE_SECONDS", 2.0),
        review_window_hours=_int(env, "REVIEW_WINDOW_HOURS", 72),
        payment_window_hours=_int(env, "PAYMENT_WINDOW_HOURS", 24),
        delivery_window_hours=_int(env, "DELIVERY_WINDOW_HOURS", 7 * 24),
        acceptance_window_hours=_int(env, "ACCEPTANCE_WINDOW_HOURS", 72),
        acceptance_window_seconds=_int(env, "ACCEPTANCE_WINDOW_SECONDS", 0),
        dispute_answer_hours=_int(env, "DISPUTE_ANSWER_HOURS", 72),
        arbitration_window_hours=_hours_or_zero(env, "ARBITRATION_WINDOW_HOURS", 7 * 24),
        arbitration_institutions=_institutions(env),
        download_ttl_seconds=_int(env, "DOWNLOAD_TTL_SECONDS", 3600),
        download_limit=_int(env, "DOWNLOAD_LIMIT", 5),
        platform_fee_bps=_bps(env, "PLATFORM_FEE_BPS", 100),
        split_holder_bps=_bps(env, "SPLIT_HOLDER_BPS", 1000),
        split_processor_bps=_bps(env, "SPLIT_PROCESSOR_BPS", 1000),
        subscription_renew_before_seconds=_int(env, "SUBSCRIPTION_RENEW_BEFORE_SECONDS",
                                               24 * 3600),
        subscription_grace_seconds=_int(env, "SUBSCRIPTION_GRACE_SECONDS", 3 * 24 * 3600),
        subscription_retry_seconds=_int(env, "SUBSCRIPTION_RETRY_SECONDS", 6 * 3600),
        match_weights=_weights(env),
        match_top=_int(env, "MATCH_TOP", 20),
        match_pool=_int(env, "MATCH_POOL", 200),
        negotiation_window_hours=_int(env, "NEGOTIATION_WINDOW_HOURS", 72),
        private_offer_hours=_int(env, "PRIVATE_OFFER_HOURS", 7 * 24),
        delivery_matrix=(env.get(PREFIX + "DELIVERY_MATRIX") or "").strip(),
        receipt_suite=suite,
        sm2_signing_key=sm2_key,
        receipt_log_origin=(env.get(PREFIX + "RECEIPT_LOG_ORIGIN")
                            or "market.example/receipts").strip(),
        **anchor,
        anchor_batch_size=_int(env, "ANCHOR_BATCH_SIZE", 1000),
        anchor_batch_seconds=_int(env, "ANCHOR_BATCH_SECONDS", 600),
        anchor_confirmations=_int(env, "ANCHOR_CONFIRMATIONS", 12),
        anchor_stuck_seconds=_int(env, "ANCHOR_STUCK_SECONDS", 300),
        anchor_fee_bump_percent=_int(env, "ANCHOR_FEE_BUMP_PERCENT", 25),
        webhooks_allow_private=_bool(env, "WEBHOOKS_ALLOW_PRIVATE", False),
        webhooks_retry_hours=_float(env, "WEBHOOKS_RETRY_HOURS", 24.0),
        webhooks_backoff_base_seconds=_float(env, "WEBHOOKS_BACKOFF_BASE_SECONDS", 30.0),
        webhooks_disable_after=_int(env, "WEBHOOKS_DISABLE_AFTER", 50),
        webhooks_timeout_seconds=_float(env, "WEBHOOKS_TIMEOUT_SECONDS", 10.0),
        webhooks_secret_overlap_hours=_float(env, "WEBHOOKS_SECRET_OVERLAP_HOURS", 24.0),
        **payments,
        public_fund_bps=_bps(env, "PUBLIC_FUND_BPS", 1000),
        contract_signatures_required=_bool(env, "CONTRACT_SIGNATURES_REQUIRED", False),
        retention_years=_retention(env),
        destruction_grace_days=_int(env, "DESTRUCTION_GRACE_DAYS", 30),
        document_reminder_days=_reminder_days(env),
        db_busy_timeout_ms=_int(env, "DB_BUSY_TIMEOUT_MS", 5000),
        db_attempts=_int(env, "DB_ATTEMPTS", 3),
        **_storage(env),
        **_rate_limits(env),
        log_level=_log_level(env),
        check_schema=_bool(env, "CHECK_SCHEMA", True),
    )
