"""Settings from ``MARKET_*`` variables, read from a dict (no process environment needed)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from market.kernel.config import Settings, load_settings
from market.kernel.errors import ConfigurationError, MarketError


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"MARKET_INSTANCE_PATH": str(tmp_path / "instance"),
            **{f"MARKET_{k}": v for k, v in values.items()}}


def test_defaults_under_the_instance_path(tmp_path):
    settings = load_settings(env(tmp_path))
    instance = (tmp_path / "instance").resolve()
    assert settings.instance_path == instance
    assert settings.database_url == f"sqlite:///{instance / 'market.db'}"
    assert settings.is_sqlite
    assert instance.is_dir()
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.idempotency_ttl_seconds == 24 * 3600
    assert settings.idempotency_lease_seconds == 60
    assert settings.api_key_default_ttl_days == 365
    assert settings.outbox_max_attempts == 10
    assert settings.outbox_lease_seconds == 60
    assert settings.outbox_backoff_base_seconds == 2.0
    assert settings.log_level == "INFO"
    assert settings.check_schema is True
    assert settings.testing is False


def test_secret_is_generated_once_with_mode_0600_and_reused(tmp_path):
    first = load_settings(env(tmp_path))
    path = tmp_path / "instance" / "secret_key"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first.secret_key
    assert len(first.secret_key) >= 32
    again = load_settings(env(tmp_path))
    assert again.secret_key == first.secret_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_each_instance_gets_its_own_secret(tmp_path):
    a = load_settings({"MARKET_INSTANCE_PATH": str(tmp_path / "a")})
    b = load_settings({"MARKET_INSTANCE_PATH": str(tmp_path / "b")})
    assert a.secret_key != b.secret_key


def test_secret_from_the_environment_writes_no_file(tmp_path):
    settings = load_settings(env(tmp_path, SECRET_KEY="s" * 40))
    assert settings.secret_key == "s" * 40
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_short_secret_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        load_settings(env(tmp_path, SECRET_KEY="short"))


def test_instance_path_defaults_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.instance_path == (tmp_path / "instance").resolve()
    assert settings.database_url == f"sqlite:///{(tmp_path / 'instance' / 'market.db').resolve()}"


def test_process_environment_is_read_when_no_mapping_is_given(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("MARKET_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MARKET_INSTANCE_PATH", str(tmp_path / "from-env"))
    monkeypatch.setenv("MARKET_OUTBOX_MAX_ATTEMPTS", "3")
    settings = load_settings()
    assert settings.instance_path == (tmp_path / "from-env").resolve()
    assert settings.outbox_max_attempts == 3


@pytest.mark.parametrize(("given", "expected"), [
    ("postgres://u:p@db:5432/market", "postgresql+psycopg://u:p@db:5432/market"),
    ("postgresql://u:p@db/market?sslmode=require",
     "postgresql+psycopg://u:p@db/market?sslmode=require"),
    ("postgresql+psycopg://u@db/market", "postgresql+psycopg://u@db/market"),
])
def test_postgres_urls_are_normalised_to_psycopg_3(tmp_path, given, expected):
    settings = load_settings(env(tmp_path, DATABASE_URL=given, SECRET_KEY="k" * 32))
    assert settings.database_url == expected
    assert not settings.is_sqlite


def test_sqlite_url_gets_its_directory(tmp_path):
    db = tmp_path / "deep" / "er" / "m.db"
    settings = load_settings(env(tmp_path, DATABASE_URL=f"sqlite:///{db}"))
    assert settings.database_url == f"sqlite:///{db}"
    assert db.parent.is_dir()


def test_values_are_parsed(tmp_path):
    settings = load_settings(env(
        tmp_path, MAX_BODY_BYTES="2048", IDEMPOTENCY_TTL_SECONDS="600",
        IDEMPOTENCY_LEASE_SECONDS="5", API_KEY_TTL_DAYS="30", OUTBOX_MAX_ATTEMPTS="4",
        OUTBOX_LEASE_SECONDS="7", OUTBOX_BACKOFF_BASE_SECONDS="0.5", LOG_LEVEL="debug",
        CHECK_SCHEMA="off",
    ))
    assert (settings.max_body_bytes, settings.idempotency_ttl_seconds,
            settings.idempotency_lease_seconds, settings.api_key_default_ttl_days,
            settings.outbox_max_attempts, settings.outbox_lease_seconds) == (2048, 600, 5, 30, 4, 7)
    assert settings.outbox_backoff_base_seconds == 0.5
    assert settings.log_level == "DEBUG"
    assert settings.check_schema is False


def test_empty_values_mean_the_default(tmp_path):
    settings = load_settings(env(tmp_path, MAX_BODY_BYTES="", CHECK_SCHEMA="", LOG_LEVEL="",
                                 OUTBOX_BACKOFF_BASE_SECONDS="", DATABASE_URL=""))
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.check_schema is True
    assert settings.log_level == "INFO"
    assert settings.outbox_backoff_base_seconds == 2.0
    assert settings.is_sqlite


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", " yes ", "On"])
def test_true_spellings(tmp_path, raw):
    assert load_settings(env(tmp_path, CHECK_SCHEMA=raw)).check_schema is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "OFF "])
def test_false_spellings(tmp_path, raw):
    assert load_settings(env(tmp_path, CHECK_SCHEMA=raw)).check_schema is False


@pytest.mark.parametrize("raw", ["maybe", "2", "y", "enabled", "-"])
def test_malformed_bool_is_refused(tmp_path, raw):
    with pytest.raises(ConfigurationError, match="MARKET_CHECK_SCHEMA must be true or false"):
        load_settings(env(tmp_path, CHECK_SCHEMA=raw))


@pytest.mark.parametrize("name", [
    "MAX_BODY_BYTES", "IDEMPOTENCY_TTL_SECONDS", "IDEMPOTENCY_LEASE_SECONDS", "API_KEY_TTL_DAYS",
    "OUTBOX_MAX_ATTEMPTS", "OUTBOX_LEASE_SECONDS",
])
@pytest.mark.parametrize("raw", ["lots", "1.5", "1e3", "0x10", "ten", "12 kB"])
def test_malformed_int_is_refused(tmp_path, name, raw):
    with pytest.raises(ConfigurationError, match=f"MARKET_{name} must be an integer"):
        load_settings(env(tmp_path, **{name: raw}))


@pytest.mark.parametrize("raw", ["0", "-1"])
def test_non_positive_int_is_refused(tmp_path, raw):
    with pytest.raises(ConfigurationError, match="MARKET_MAX_BODY_BYTES must be positive"):
        load_settings(env(tmp_path, MAX_BODY_BYTES=raw))


def test_malformed_float_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="must be a number"):
        load_settings(env(tmp_path, OUTBOX_BACKOFF_BASE_SECONDS="fast"))


def test_configuration_error_is_a_market_error(tmp_path):
    with pytest.raises(MarketError) as caught:
        load_settings(env(tmp_path, OUTBOX_MAX_ATTEMPTS="many"))
    assert caught.value.code == "configuration_error"
    assert "'many'" in str(caught.value)


def test_settings_are_frozen_and_copy_with_changes(tmp_path):
    settings = load_settings(env(tmp_path))
    changed = settings.with_changes(testing=True, max_body_bytes=10)
    assert (changed.testing, changed.max_body_bytes) == (True, 10)
    assert (settings.testing, settings.max_body_bytes) == (False, 1024 * 1024)
    with pytest.raises(AttributeError):
        settings.testing = True  # type: ignore[misc]
    assert isinstance(changed, Settings)


@pytest.mark.parametrize(("raw", "message"), [
    ("10001", "must be between 0 and 10000 basis points"),
    ("-1", "must be between 0 and 10000 basis points"),
    ("1.5", "must be an integer"),
])
def test_basis_points_outside_0_to_10000_are_refused(tmp_path, raw, message):
    with pytest.raises(ConfigurationError, match=f"MARKET_PLATFORM_FEE_BPS {message}"):
        load_settings({"MARKET_INSTANCE_PATH": str(tmp_path), "MARKET_PLATFORM_FEE_BPS": raw})


def test_zero_basis_points_is_a_valid_fee(tmp_path):
    settings = load_settings({"MARKET_INSTANCE_PATH": str(tmp_path),
                              "MARKET_PLATFORM_FEE_BPS": "0"})
    assert settings.platform_fee_bps == 0
