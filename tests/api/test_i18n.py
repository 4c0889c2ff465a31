"""Problem titles, details and field messages follow ``Accept-Language`` (English or Chinese).

The stable ``code`` never changes with the language. The second half checks the catalogue
itself: every error the application can raise has a Chinese title (and detail), every
validator message our schemas produce is translated, and the committed ``.mo`` is the
compilation of the committed ``.po`` (run ``scripts/i18n`` after editing either).
"""

from __future__ import annotations

import ast
import importlib
import io
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import marshmallow as ma
import pytest
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from flask.testing import FlaskClient
from marshmallow import fields, validate

import market
import market.app
from market.kernel.errors import MarketError
from tests.conftest import Party, problem

TRANSLATIONS = Path(market.app.__file__).resolve().parent / "translations"
PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
MO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.mo"

CHINESE = ["zh-CN", "zh-CN,zh;q=0.9,en;q=0.8", "zh", "zh-Hans-CN"]
ENGLISH = [None, "en", "en-US,en;q=0.9", "fr-FR"]

BAD_CHECK_CHAR = {  # the last character should be 3 (see test_smoke)
    "name": "申请方科技", "credit_code": "91350100M000100Y44", "contact_name": "张三",
    "contact_email": "zhang@example.cn", "roles": ["buyer"],
}
REQUIRED = {"name", "credit_code", "contact_name", "contact_email", "roles"}
HAN = re.compile(r"[\u4e00-\u9fff]")


def ask(client: FlaskClient, method: str, path: str, language: str | None, **kwargs: Any) -> Any:
    """One request with (or without) an Accept-Language header.

    pytest-flask keeps one app context, and so one ``g``, pushed for the whole test: the
    language must still be chosen per request (see the shared-context test below).
    """
    headers = dict(kwargs.pop("headers", {}))
    if language is not None:
        headers["Accept-Language"] = language
    return client.open(path, method=method, headers=headers, **kwargs)


def has_chinese(text: str) -> bool:
    return bool(HAN.search(text))


def all_messages(errors: Any) -> Iterator[str]:
    if isinstance(errors, str):
        yield errors
    elif isinstance(errors, list):
        for item in errors:
            yield from all_messages(item)
    elif isinstance(errors, dict):
        for item in errors.values():
            yield from all_messages(item)


# -- responses ------------------------------------------------------------------------


@pytest.mark.parametrize("language", CHINESE)
def test_invalid_credit_code_in_chinese(client, language):
    response = ask(client, "POST", "/api/v1/participants", language, json=BAD_CHECK_CHAR)
    assert response.status_code == 422
    body = problem(response)
    assert body["code"] == "invalid_credit_code"
    assert body["title"] == "统一社会信用代码无效"
    assert body["detail"] == "校验码不符（GB 32100）"
    assert body["errors"] == {"credit_code": ["校验码不符（GB 32100）"]}


@pytest.mark.parametrize("language", ENGLISH)
def test_invalid_credit_code_in_english(client, language):
    response = ask(client, "POST", "/api/v1/participants", language, json=BAD_CHECK_CHAR)
    body = problem(response)
    assert body["code"] == "invalid_credit_code"
    assert body["title"] == "Invalid unified social credit code"
    assert body["detail"] == "check character does not match (GB 32100)"
    assert body["errors"] == {"credit_code": ["check character does not match (GB 32100)"]}


@pytest.mark.parametrize("language", CHINESE)
def test_field_errors_in_chinese(client, language):
    body = {"credit_code": 7, "roles": ["buyer", "trader"], "contact_email": "not-an-email",
            "shoe_size": 42}
    response = ask(client, "POST", "/api/v1/participants", language, json=body)
    assert response.status_code == 422
    answer = problem(response)
    assert answer["code"] == "invalid_input"
    assert answer["title"] == "输入无效"
    errors = answer["errors"]
    assert errors["name"] == ["缺少必填字段。"]
    assert errors["contact_name"] == ["缺少必填字段。"]
    assert errors["credit_code"] == ["不是有效的字符串。"]
    assert errors["contact_email"] == ["不是有效的电子邮箱地址。"]
    assert errors["roles"] == {
        "1": ["必须为以下值之一：merchant, buyer, operator, assessor, broker, regulator。"]
    }
    assert errors["shoe_size"] == ["未知字段。"]


@pytest.mark.parametrize("language", ENGLISH)
def test_missing_fields_in_english(client, language):
    response = ask(client, "POST", "/api/v1/participants", language, json={})
    answer = problem(response)
    assert answer["code"] == "invalid_input"
    assert answer["title"] == "Invalid input"
    assert answer["errors"] == {name: ["Missing data for required field."] for name in REQUIRED}


def test_code_and_fields_do_not_depend_on_the_language(client):
    """The same bad request in both languages: same status, code and fields; other words."""
    cases = [
        ("POST", "/api/v1/participants", {"json": {}}),
        ("POST", "/api/v1/participants", {"json": {**BAD_CHECK_CHAR, "roles": ["operator"]}}),
        ("POST", "/api/v1/participants", {"json": BAD_CHECK_CHAR}),
        ("POST", "/api/v1/participants", {"data": "{oops", "content_type": "application/json"}),
        ("POST", "/api/v1/participants", {"json": [1, 2]}),
        ("GET", "/api/v1/keys", {}),
        ("GET", "/api/v1/keys", {"headers": {"Authorization": "Bearer mk.nope.nope"}}),
        ("DELETE", "/api/v1/keys", {}),
        ("GET", "/api/v1/no-such-thing", {}),
    ]
    for method, path, kwargs in cases:
        en = problem(ask(client, method, path, "en", **kwargs))
        zh = problem(ask(client, method, path, "zh-CN", **kwargs))
        where = f"{method} {path} {kwargs}"
        assert zh["code"] == en["code"], where
        assert zh["status"] == en["status"], where
        assert zh["type"] == en["type"], where
        assert set(zh.get("errors", {})) == set(en.get("errors", {})), where
        assert not has_chinese(en["title"]), where
        assert has_chinese(zh["title"]), where
        assert zh["title"] != en["title"], where
        for message in all_messages(zh.get("errors", {})):
            assert has_chinese(message), (where, message)


def test_malformed_json_in_chinese(client):
    response = ask(client, "POST", "/api/v1/participants", "zh-CN", data="{oops",
                   content_type="application/json")
    assert response.status_code == 400
    body = problem(response)
    assert body["code"] == "malformed_json"
    assert body["title"] == "JSON 请求体格式错误"
    assert body["errors"] == {"_schema": ["请求体不是有效的 JSON。"]}


def test_unauthenticated_in_chinese(client):
    response = ask(client, "GET", "/api/v1/me", "zh-CN")
    assert response.status_code == 401
    body = problem(response)
    assert (body["code"], body["title"]) == ("unauthorized", "需要身份认证")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_invalid_query_in_chinese(client, operator: Party):
    response = ask(client, "GET", "/api/v1/participants?limit=0&status=sleeping",
                   "zh-CN", headers=operator.headers)
    assert response.status_code == 422
    body = problem(response)
    assert body["code"] == "invalid_query"
    assert body["title"] == "查询参数无效"
    assert body["errors"] == {
        "limit": ["必须大于或等于 1 且小于或等于 200。"],
        "status": ["必须为以下值之一：applied, admitted, suspended, exited, blacklisted。"],
    }


@pytest.mark.parametrize(("language", "title", "detail"), [
    ("zh-CN", "不允许的状态变更", "不能从 applied 状态变更为 suspended 状态"),
    ("en", "Transition not allowed", "Cannot go from applied to suspended"),
])
def test_detail_template_is_translated_then_filled(client, operator, make_party,
                                                   language, title, detail):
    applicant = make_party("buyer", status="applied")
    response = ask(client, "POST",
                   f"/api/v1/participants/{applicant.org_id}/status-changes", language,
                   json={"status": "suspended", "reason": "测试"}, headers=operator.headers)
    assert response.status_code == 409
    body = problem(response)
    assert body["code"] == "invalid_transition"
    assert (body["title"], body["detail"]) == (title, detail)


def test_language_is_chosen_per_request_in_a_shared_app_context(client):
    """Flask-Babel caches the locale on ``g``, which outlives a request here (and in the CLI)."""
    for _ in range(2):
        zh = client.get("/api/v1/me", headers={"Accept-Language": "zh-CN"})
        en = client.get("/api/v1/me", headers={"Accept-Language": "en"})
        default = client.get("/api/v1/me")
        assert problem(zh)["title"] == "需要身份认证"
        assert problem(en)["title"] == "Authentication required"
        assert problem(default)["title"] == "Authentication required"


# -- the catalogue --------------------------------------------------------------------


def import_everything() -> None:
    for info in pkgutil.walk_packages(market.__path__, "market."):
        importlib.import_module(info.name)


def error_classes() -> list[type[MarketError]]:
    import_everything()
    seen: list[type[MarketError]] = []
    stack: list[type[MarketError]] = [MarketError]
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen.append(cls)
            stack.extend(cls.__subclasses__())
    return seen


@pytest.fixture(scope="module")
def zh() -> Translations:
    translations = Translations.load(str(TRANSLATIONS), ["zh"])
    assert isinstance(translations, Translations), f"no zh catalogue under {TRANSLATIONS}"
    return translations


def placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\(\w+\)[sdr]|\{\w*\}", text))


def assert_translated(zh: Translations, msgid: str, what: str) -> None:
    translated = zh.gettext(msgid)
    assert translated.strip(), f"empty zh translation for {what}: {msgid!r}"
    assert translated != msgid, f"no zh translation for {what}: {msgid!r}"
    assert placeholders(translated) == placeholders(msgid), (
        f"placeholders differ for {what}: {msgid!r} → {translated!r}")


def test_every_error_class_is_found(zh):
    names = {cls.__name__ for cls in error_classes()}
    # a few from different modules, so a broken walk cannot pass vacuously
    assert {"MarketError", "InvalidTransition", "InvalidCreditCode",
            "InvalidIdempotencyKey", "ConfigurationError"} <= names


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_error_has_a_chinese_title_and_detail(zh, cls):
    assert_translated(zh, cls.title, f"{cls.__name__}.title")
    if cls.detail_template:
        assert_translated(zh, cls.detail_template, f"{cls.__name__}.detail_template")


def problem_response_titles() -> list[tuple[str, str]]:
    """Literal titles passed to problem_response(status, code, title, ...) in market."""
    root = Path(market.__file__).resolve().parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "problem_response"
                    and len(node.args) >= 3 and isinstance(node.args[2], ast.Constant)):
                found.append((f"{path.name}:{node.lineno}", node.args[2].value))
    return found


def test_problem_response_titles_are_translated(zh):
    titles = problem_response_titles()
    assert "Internal error" in {t for _, t in titles}
    for where, title in titles:
        assert_translated(zh, title, where)


@pytest.mark.parametrize("title", [
    "Invalid query parameters", "Malformed JSON body", "Internal error", "Database unavailable",
    "Database not migrated",
])
def test_web_layer_titles_are_translated(zh, title):
    assert_translated(zh, title, "web layer title")


def test_marshmallow_and_webargs_messages_are_translated(zh):
    """Taken from the libraries, so a reworded message in an upgrade shows up here."""
    messages = [
        fields.Field.default_error_messages["required"],
        fields.Field.default_error_messages["null"],
        fields.Field.default_error_messages["validator_failed"],
        ma.Schema._default_error_messages["unknown"],
        ma.Schema._default_error_messages["type"],
        fields.String.default_error_messages["invalid"],
        fields.Integer.default_error_messages["invalid"],
        fields.Number.default_error_messages["invalid"],
        fields.Number.default_error_messages["too_large"],
        fields.Boolean.default_error_messages["invalid"],
        fields.Email.default_error_messages["invalid"],
        fields.List.default_error_messages["invalid"],
        fields.Dict.default_error_messages["invalid"],
        fields.Nested.default_error_messages["type"],
        fields.AwareDateTime().make_error("invalid", input="x", obj_type="datetime").messages[0],
        fields.AwareDateTime().make_error(
            "invalid_awareness", awareness="aware", obj_type="datetime").messages[0],
        "Invalid JSON body.",  # webargs' flaskparser, when the body is not JSON
    ]
    assert "Missing data for required field." in messages
    for message in messages:
        assert_translated(zh, message, "library message")


def validator_messages(validator: Any) -> list[str]:
    """What marshmallow sends for a failed validator (already formatted with its limits)."""
    if isinstance(validator, validate.Length):
        if validator.equal is not None:
            return [validator._format_error(0, validator.message_equal)]
        if validator.min is None:
            return [validator._format_error(0, validator.message_max)]
        if validator.max is None:
            return [validator._format_error(0, validator.message_min)]
        return [validator._format_error(0, validator.message_all)]
    if isinstance(validator, validate.Range):
        if validator.min is None:
            return [validator._format_error(0, validator.message_max)]
        if validator.max is None:
            return [validator._format_error(0, validator.message_min)]
        return [validator._format_error(0, validator.message_all)]
    if isinstance(validator, validate.OneOf):
        return [] if "{input}" in validator.error else [validator._format_error("")]
    return []


def market_schemas() -> list[type[ma.Schema]]:
    import_everything()
    seen: list[type[ma.Schema]] = []
    stack: list[type[ma.Schema]] = [ma.Schema]
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen.append(cls)
            stack.extend(cls.__subclasses__())
    return [cls for cls in seen if cls.__module__.startswith("market.")]


def field_tree(field: fields.Field) -> Iterator[fields.Field]:
    yield field
    for attr in ("inner", "key_field", "value_field"):
        sub = getattr(field, attr, None)
        if isinstance(sub, fields.Field):
            yield from field_tree(sub)


def test_schema_validator_messages_are_translated(zh):
    """marshmallow formats limits and choices into the message before gettext sees it, so
    each concrete message needs its own entry: run scripts/i18n after adding a validator."""
    checked = 0
    for schema in market_schemas():
        for name, field in schema._declared_fields.items():
            for sub in field_tree(field):
                for v in sub.validators:
                    for message in validator_messages(v):
                        assert_translated(zh, message, f"{schema.__name__}.{name}")
                        checked += 1
    assert checked > 10


# -- the files ------------------------------------------------------------------------


def test_po_is_complete_and_not_fuzzy():
    with PO.open("rb") as fh:
        catalog = read_po(fh)
    assert str(catalog.locale) == "zh"
    problems = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert problems == [], "untranslated or fuzzy entries in messages.po"
    assert not list(catalog.obsolete), "obsolete entries: remove them or run scripts/i18n"
    for message in catalog:
        if message.id:
            assert placeholders(message.string) == placeholders(message.id), message.id


def test_mo_is_compiled_from_the_current_po():
    with PO.open("rb") as fh:
        source = read_po(fh)
    buffer = io.BytesIO()
    write_mo(buffer, source)
    buffer.seek(0)
    fresh = {m.id: m.string for m in read_mo(buffer) if m.id}
    with MO.open("rb") as fh:
        committed = {m.id: m.string for m in read_mo(fh) if m.id}
    assert fresh, "empty catalogue"
    assert committed == fresh, "messages.mo is stale: run `pybabel compile -d market/translations`"
