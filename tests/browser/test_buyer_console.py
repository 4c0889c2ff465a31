"""A buyer in a real browser: searches the catalogue in Chinese, opens the product, fills
the purchase commitment, places the order and pays it from its balance; then looks at every
other page it has (orders, a settled order with its download, demands and their explained
matches, negotiations, statements). Each page is kept as a screenshot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from market.settlement import services as settlement
from tests.browser.conftest import World, follow, sign_in, text_of

FUNDS = 1_000_000  # 10,000.00 CNY: the demo's two trades left the buyer 1,200.00


def _whole(browser: WebDriver, shoot: Callable[[str], Path]) -> Callable[[str], Path]:
    """``shoot``, with the window as tall as the page for the shot."""

    def take(name: str) -> Path:
        height = int(browser.execute_script("return document.body.scrollHeight"))
        browser.set_window_size(1280, max(1000, height + 120))
        try:
            return shoot(name)
        finally:
            browser.set_window_size(1280, 1000)

    return take


def _status(browser: WebDriver) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, "#order-status [data-status]")
               .get_attribute("data-status"))


def test_a_buyer_searches_in_chinese_and_buys(
    browser: WebDriver, world: World, shoot: Callable[[str], Path],
) -> None:
    shoot = _whole(browser, shoot)
    buyer = world.members["buyer"]
    settlement.record_top_up(buyer.org_id, FUNDS, "CNY", "BANK-BROWSER-BUYER",
                             uow=world.uow("operator"))
    sign_in(browser, world, "buyer")
    assert browser.current_url.endswith("/console/buyer")
    shoot("catalog")
    search = browser.find_element(By.ID, "q")
    search.send_keys("拥堵")
    follow(browser, browser.find_element(By.ID, "search-button"))
    assert "城市拥堵指数" in browser.find_element(By.ID, "results").text
    shoot("catalog-search")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "#results a.product-link"))
    assert "城市拥堵指数" in browser.find_element(By.ID, "product-title").text
    assert "5,000.00 CNY" in browser.find_element(By.ID, "offers").text
    shoot("product")

    form = browser.find_element(By.ID, "order-form")
    form.find_element(By.ID, "offer-1").click()
    form.find_element(By.ID, "purpose").send_keys("城市拥堵治理方案评估")
    form.find_element(By.CSS_SELECTOR, "input[name=purposes][value='交通规划']").click()
    form.find_element(By.CSS_SELECTOR, "input[name=scenarios][value='城市交通治理']").click()
    form.find_element(By.ID, "security_measures").send_keys("加密存储\n最小权限访问")
    form.find_element(By.ID, "no_onward_transfer").click()
    form.find_element(By.ID, "no_reidentification").click()
    follow(browser, form.find_element(By.ID, "place-order"))
    assert "/console/buyer/orders/" in browser.current_url, text_of(browser)[:2000]
    assert _status(browser) == "awaiting_payment"
    assert "5,000.00 CNY" in browser.find_element(By.ID, "order-amount").text
    shoot("order-placed")
    follow(browser, browser.find_element(By.ID, "pay"))
    assert _status(browser) == "paid", text_of(browser)[:2000]
    order_id = browser.current_url.split("/orders/")[1].split("?")[0]
    shoot("order-paid")

    follow(browser, browser.find_element(By.LINK_TEXT, "Orders"))
    assert order_id in browser.find_element(By.ID, "orders").get_attribute("innerHTML")
    shoot("orders")
    browser.get(world.url(f"/console/buyer/orders/{world.demo['trade']['order_id']}"))
    assert _status(browser) == "settled"
    assert browser.find_elements(By.ID, "download-1")
    shoot("order-settled")

    follow(browser, browser.find_element(By.LINK_TEXT, "Statements"))
    # 1,200.00 left by the demo's trades, 10,000.00 topped up, 5,000.00 paid
    assert "6,200.00 CNY" in browser.find_element(By.ID, "balances").text
    shoot("statements")

    follow(browser, browser.find_element(By.LINK_TEXT, "Demands"))
    shoot("demands")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "#demands a.demand-link"))
    assert browser.find_elements(By.CSS_SELECTOR, "#matches .score")
    shoot("demand")

    follow(browser, browser.find_element(By.LINK_TEXT, "Negotiations"))
    shoot("negotiations")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "#negotiations a.negotiation-link"))
    # the demo's negotiation was agreed, then its private offer ordered
    status = browser.find_element(By.CSS_SELECTOR, "#negotiation-status [data-status]")
    assert status.get_attribute("data-status") in ("agreed", "ordered")
    shoot("negotiation")

    follow(browser, browser.find_element(By.ID, "lang-zh"))
    assert browser.find_element(By.ID, "logout").text == "退出登录"
    shoot("negotiation-zh")
    follow(browser, browser.find_element(By.ID, "lang-en"))
