"""The application factory: ``create_app(settings=None)`` and its ``register_*`` steps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from flask import Flask, send_from_directory
from flask_babel import Babel
from sqlalchemy.orm import Session, sessionmaker

from market import console, wiring
from market.compliance import services as compliance
from market.compliance.api import bp as compliance_bp
from market.kernel import migrate
from market.kernel.clock import Clock, SystemClock
from market.kernel.config import Settings, check_payment_rail, load_settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.errors import ConfigurationError, DatabaseNotMigrated
from market.kernel.health_audit_api import audit_bp, health_bp
from market.kernel.idempotency import IdempotencyStore
from market.kernel.storage import FileStore, open_file_store
from market.kernel.web import (
    Api,
    MarketState,
    links,
    ratelimits,
    register_request_hooks,
    select_locale,
)
from market.kernel.web.request_limits import register_request_limits
from market.listing.api import bp as listing_bp
from market.matching.api import bp as matching_bp
from market.participants import services as participant_services
from market.participants.api import bp as participants_bp
from market.receipts import services as receipts
from market.receipts.api import bp as receipts_bp
from market.receipts.signing import Signer
from market.regulator.api import bp as regulator_bp
from market.rights.api import bp as rights_bp
from market.settlement.api import bp as settlement_bp
from market.trading import arbitration_api  # noqa: F401  (its routes are trading's)
from market.trading.api import bp as trading_bp
from market.webhooks.api import bp as webhooks_bp

API_PREFIX = "/api/v1"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
SWAGGER_ASSETS = "/api/v1/docs/assets"


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: sessionmaker[Session] | None = None,
    clock: Clock | None = None,
    files: FileStore | None = None,
) -> Flask:
    """Build the application.

    ``settings`` defaults to the ``MARKET_*`` environment read now. Tests may pass their own
    ``session_factory`` (bound to a connection they roll back), a pinned ``clock`` and the
    ``files`` store (else the one the settings choose, see :mod:`market.kernel.storage`).

    Raises:
        DatabaseNotMigrated: ``settings.check_schema`` is on and the database is not at the
            current migration.
    """
    settings = settings or load_settings()
    check_payment_rail(settings)
    wiring.connect()
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        TESTING=settings.testing,
        JSON_SORT_KEYS=False,
    )
    logging.getLogger("market").setLevel(settings.log_level)
    if session_factory is None:
        engine = make_engine(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
        if settings.check_schema and not migrate.is_current(engine):
            current = migrate.current_revision(engine)
            raise DatabaseNotMigrated(
                f"database {engine.url.render_as_string(hide_password=True)} is at revision "
                f"{current or 'none'}, expected {migrate.head_revision()}: "
                "run `market db upgrade` first"
            )
        session_factory = make_session_factory(engine)
    register_extensions(app, settings, session_factory, clock or SystemClock())
    app.extensions["market.files"] = files or open_file_store(settings)
    register_api(app)
    console.register(app)
    return app


def register_extensions(
    app: Flask, settings: Settings, session_factory: sessionmaker[Session], clock: Clock
) -> None:
    if not settings.signing_key:
        raise ConfigurationError("no signing key: set MARKET_SIGNING_KEY")
    app.extensions["market.signer"] = Signer(settings.signing_key)
    receipts.configure(settings)
    compliance.configure_delivery_matrix(settings.delivery_matrix)
    Babel(app, locale_selector=select_locale,
          default_translation_directories=str(TRANSLATIONS))

    def authenticate(token: str, sessions: Callable[[], Session]) -> Any:
        return participant_services.authenticate(token, session_factory=sessions, clock=clock)

    app.extensions["market"] = MarketState(
        settings=settings,
        session_factory=session_factory,
        clock=clock,
        authenticate=authenticate,
        idempotency=IdempotencyStore(
            session_factory, clock, settings.secret_key,
            lease_seconds=settings.idempotency_lease_seconds,
            ttl_seconds=settings.idempotency_ttl_seconds,
        ),
    )
    register_request_hooks(app)
    ratelimits.register(app, settings)
    register_request_limits(app, max_url_bytes=settings.max_url_bytes,
                            max_header_count=settings.max_header_count,
                            max_header_bytes=settings.max_header_bytes)


def register_api(app: Flask) -> None:
    app.config.update(
        API_TITLE="market",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_ASSETS + "/",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Data exchange (数据交易所) API: participants, rights, listings, orders, "
                    "settlement, compliance and receipts. Errors are "
                    "application/problem+json with a stable `code`; send "
                    "`Accept-Language: zh-CN` for Chinese messages."
                ),
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer",
                                   "description": "API key: mk.<key id>.<secret>"},
                },
            },
        },
    )
    api = Api(app, spec_kwargs={"extra_plugins": [ratelimits.RateLimitDocs(),
                                                  links.OperationIds()]})
    ratelimits.document(api.spec)
    api.register_blueprint(participants_bp, url_prefix=API_PREFIX)
    api.register_blueprint(rights_bp, url_prefix=API_PREFIX)
    api.register_blueprint(listing_bp, url_prefix=API_PREFIX)
    api.register_blueprint(trading_bp, url_prefix=API_PREFIX)
    api.register_blueprint(matching_bp, url_prefix=API_PREFIX)
    api.register_blueprint(settlement_bp, url_prefix=API_PREFIX)
    api.register_blueprint(compliance_bp, url_prefix=API_PREFIX)
    api.register_blueprint(regulator_bp, url_prefix=API_PREFIX)
    api.register_blueprint(receipts_bp, url_prefix=API_PREFIX)
    api.register_blueprint(webhooks_bp, url_prefix=API_PREFIX)
    api.register_blueprint(audit_bp, url_prefix=API_PREFIX)
    api.register_blueprint(health_bp)
    links.describe_links(api.spec)

    assets = swagger_ui_bundle.swagger_ui_path

    @app.get(SWAGGER_ASSETS + "/<path:filename>")
    def swagger_assets(filename: str) -> Any:
        return send_from_directory(assets, filename)

    swagger_assets._market_public_asset = True  # type: ignore[attr-defined]
