"""A regulator in a real browser: filters filings, opens an order and verifies a receipt,
exports CSV, reads alerts, sanctions and the audit chain; and can reach no page of another
role, by link or by a hand-made post."""

from __future__ import annotations

import csv
import io
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from market.app import create_app
from market.compliance import services as compliance
from market.console.blueprint import OPEN_ENDPOINTS, roles_of
from market.kernel.actor import system_actor
from market.kernel.clock import SystemClock
from market.participants import services as participants
from market.participants.domain import Status
from market.receipts import services as receipts
from tests.browser.conftest import World, add_member, follow, sign_in, text_of

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _open(world: World, browser: WebDriver, path: str, data: dict[str, str] | None = None,
          ) -> tuple[int, str, dict[str, str]]:
    """``path`` fetched outside the browser with the browser's session cookie: a download
    as the browser would save it, or a post no page of the console offers."""
    cookie = browser.get_cookie("market_console")
    assert cookie, "the browser is not signed in"
    request = urllib.request.Request(
        world.url(path), data=urlencode(data).encode() if data is not None else None,
        headers={"Cookie": f"market_console={cookie['value']}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode(), dict(refused.headers)


def _seed(world: World) -> None:
    """Receipts in the log, a round trip off the exchange raising an alert, a suspended
    and a blacklisted participant."""
    receipts.sequence(world.uow(system_actor("sequencer")))
    now = SystemClock().now()
    for reporter, other in (("merchant", "other_merchant"), ("other_merchant", "merchant")):
        compliance.report_off_exchange(compliance.OffExchangeReport(
            role="seller", counterparty_org_id=world.members[other].org_id,
            product_title="城市交通流量", sector="交通运输", product_type="dataset",
            amount=88_000, currency="CNY", concluded_at=now - timedelta(minutes=5),
            evidence_sha256=["ab" * 32]), uow=world.uow(reporter))
    for name, status in (("暂停整改数据公司", Status.SUSPENDED),
                         ("虚假交易数据公司", Status.BLACKLISTED)):
        member = add_member(world.sessions, "buyer", name)
        participants.change_status(member.org_id, status, "监管处置",
                                   uow=world.uow(system_actor("test")))


def test_a_regulator_filters_filings_opens_an_order_verifies_a_receipt_and_exports_csv(
    browser: WebDriver, world: World, shoot: Callable[[str], Path],
) -> None:
    _seed(world)
    sign_in(browser, world, "regulator")
    assert browser.current_url.endswith("/console/regulator")
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart .bar")
    shoot("dashboard")

    follow(browser, browser.find_element(By.LINK_TEXT, "Filings"))
    shoot("filings")
    buyer = world.members["buyer"].org_id
    browser.find_element(By.ID, "f-party").send_keys(buyer)
    Select(browser.find_element(By.ID, "f-kind")).select_by_value("exchange")
    follow(browser, browser.find_element(By.ID, "apply"))
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.filing")
    assert rows
    numbers = [row.find_element(By.TAG_NAME, "code").text for row in rows]
    assert "off_exchange" not in text_of(browser)
    shoot("filings-filtered")

    exported = browser.find_element(By.ID, "export-csv").get_attribute("href")
    assert exported
    status, body, headers = _open(world, browser, exported.removeprefix(world.base_url))
    assert status == 200
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    lines = list(csv.DictReader(io.StringIO(body)))
    assert [line["number"] for line in lines] == numbers
    assert all(buyer in (line["buyer_org_id"], line["seller_org_id"]) for line in lines)
    assert {line["kind"] for line in lines} == {"exchange"}

    follow(browser, rows[0].find_element(By.CLASS_NAME, "order-link"))
    assert browser.find_element(By.ID, "filing-number").text == numbers[0]
    for part in ("contract", "declarations", "ledger", "receipts", "history"):
        assert browser.find_element(By.ID, part)
    shoot("order")
    order_url = browser.current_url
    follow(browser, browser.find_elements(By.CSS_SELECTOR, "button.verify")[0])
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "verdict"))
    assert browser.find_element(By.ID, "verdict").text == "valid"
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.part")) == 8
    shoot("receipt")

    browser.get(order_url)
    follow(browser, browser.find_element(By.LINK_TEXT, "Orders"))
    assert browser.find_elements(By.CSS_SELECTOR, "a.order-link")
    shoot("orders")
    follow(browser, browser.find_element(By.LINK_TEXT, "Alerts"))
    shoot("alerts")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "a.alert-link"))
    assert browser.find_element(By.ID, "alert-summary").text
    shoot("alert")
    follow(browser, browser.find_element(By.LINK_TEXT, "Sanctions"))
    assert browser.find_element(By.ID, "suspended-count").text == "1"
    assert "虚假交易数据公司" in text_of(browser)
    shoot("sanctions")
    follow(browser, browser.find_element(By.LINK_TEXT, "Audit chain"))
    follow(browser, browser.find_element(By.ID, "verify-chain"))
    assert browser.find_element(By.ID, "verdict").text == "intact"
    shoot("audit")
    follow(browser, browser.find_element(By.ID, "lang-zh"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    assert browser.find_element(By.ID, "logout").text == "退出登录"
    shoot("audit-zh")
    follow(browser, browser.find_element(By.ID, "lang-en"))


def _not_for_regulators(world: World) -> list[tuple[str, str]]:
    """(method, path) of every console page that exists and is not for regulators, with
    any path parameter filled in (the role is refused before any record is looked up)."""
    app = create_app(world.settings, session_factory=world.sessions)
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("console.") or rule.endpoint in OPEN_ENDPOINTS:
            continue
        roles = roles_of(app.view_functions[rule.endpoint])
        if roles is None or "regulator" in roles:
            continue
        path = re.sub(r"<(?:[^:>]+:)?\w+>", "1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return sorted(set(found))


def test_a_regulator_cannot_reach_any_operator_or_write_page(
    browser: WebDriver, world: World, shoot: Callable[[str], Path],
) -> None:
    sign_in(browser, world, "regulator")
    pages = _not_for_regulators(world)
    assert ("GET", "/console/operator") in pages  # other roles' pages are there to try
    token = CSRF.search(browser.page_source)
    assert token
    shot = False
    for method, path in pages:
        if method == "GET":
            browser.get(world.url(path))
            assert "console_role_not_allowed" in browser.find_element(
                By.ID, "problem-code").text, path
            assert "HTTP 403" in text_of(browser), path
            if not shot:
                shoot("forbidden")
                shot = True
        else:
            status, body, _ = _open(world, browser, path,
                                    {"csrf_token": token.group(1), "reason": "x"})
            assert status == 403, (method, path, status)
            assert "console_role_not_allowed" in body, path
    # the regulator is still signed in and its own pages still answer
    browser.get(world.url("/console/regulator/sanctions"))
    assert browser.find_element(By.ID, "suspended-count")
