"""The arbitration settings: the escalation window (0 allowed: decisions are carried out at
once) and the named institutions, with their defaults and their refusals; the trading
policy and the published rules follow them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from market.kernel.config import load_settings
from market.kernel.errors import ConfigurationError
from market.trading import dispute_rules
from market.trading.services import policy_of


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"MARKET_INSTANCE_PATH": str(tmp_path / "instance"),
            **{f"MARKET_{k}": v for k, v in values.items()}}


def test_by_default_a_week_to_escalate_to_the_wuhan_arbitration_commission(
        tmp_path: Path) -> None:
    settings = load_settings(env(tmp_path))
    assert settings.arbitration_window_hours == 168
    assert settings.arbitration_institutions == ("武汉仲裁委员会",)
    policy = policy_of(settings)
    assert policy.arbitration_window == timedelta(days=7)
    assert policy.arbitration_institutions == ("武汉仲裁委员会",)


def test_institutions_and_window_are_configurable(tmp_path: Path) -> None:
    settings = load_settings(env(
        tmp_path, ARBITRATION_WINDOW_HOURS="0",
        ARBITRATION_INSTITUTIONS="武汉仲裁委员会， 中国国际经济贸易仲裁委员会,上海仲裁委员会"))
    assert settings.arbitration_window_hours == 0
    assert settings.arbitration_institutions == (
        "武汉仲裁委员会", "中国国际经济贸易仲裁委员会", "上海仲裁委员会")
    rules = dispute_rules.published("2", policy_of(settings)).document
    assert rules["windows"]["arbitration_escalation_hours"] == 0
    assert rules["arbitration_institutions"] == list(settings.arbitration_institutions)


@pytest.mark.parametrize(("name", "value"), [
    ("ARBITRATION_WINDOW_HOURS", "-1"),
    ("ARBITRATION_WINDOW_HOURS", "a week"),
    ("ARBITRATION_WINDOW_HOURS", str(367 * 24)),
    ("ARBITRATION_INSTITUTIONS", "武汉仲裁委员会,,上海仲裁委员会"),
    ("ARBITRATION_INSTITUTIONS", "武汉仲裁委员会,武汉仲裁委员会"),
    ("ARBITRATION_INSTITUTIONS", "仲" * 201),
])
def test_unusable_arbitration_settings_are_refused(tmp_path: Path, name: str,
                                                   value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        load_settings(env(tmp_path, **{name: value}))
