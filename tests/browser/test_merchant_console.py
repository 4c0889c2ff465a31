"""A merchant in a real browser: it looks through its pages, delivers a paid order by
uploading a file through the order's form, and cannot open another merchant's order by
its URL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from market.demo import PRICE, PURCHASE_COMMITMENT
from market.settlement import services as settlement
from market.trading import services as trading
from tests.browser.conftest import World, follow, sign_in, text_of

CONTENT = "segment_id,congestion_index\nS001,0.82\nS002,0.47\n"


@pytest.fixture(scope="module")
def paid_order(world: World) -> str:
    """The buyer orders and pays for the processor's listed product (the demo's): an order
    waiting for the processor's delivery."""
    buyer = world.members["buyer"]
    settlement.record_top_up(buyer.org_id, PRICE, "CNY", f"BROWSER-{buyer.org_id[-8:]}",
                             uow=world.uow("operator"))
    placed = trading.place_order(world.demo["rights"]["product_id"],
                                 world.demo["trade"]["offer_id"], PURCHASE_COMMITMENT,
                                 policy=world.policy, uow=world.uow("buyer"))
    trading.pay_order(placed.order.id, policy=world.policy, uow=world.uow("buyer"))
    return placed.order.id


def test_a_merchant_delivers_an_order(
    browser: WebDriver, world: World, paid_order: str, shoot: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    sign_in(browser, world, "processor")
    assert "/console/merchant" in browser.current_url
    assert browser.find_element(By.ID, "figure-to-deliver").text.startswith("1")
    shoot("home")
    for name, path in (("rights", "rights"), ("products", "products"),
                       ("negotiations", "negotiations"), ("statements", "statements"),
                       ("orders", "orders")):
        browser.get(world.url(f"/console/merchant/{path}"))
        assert "problem-code" not in browser.page_source, name
        if name == "rights":  # the processor's two certificates (use, product operation)
            for number in world.demo["rights"]["certificates"][1:]:
                assert number in text_of(browser)
        shoot(name)
    follow(browser, browser.find_element(By.CSS_SELECTOR, f"#to-deliver a[href$='{paid_order}']"))
    WebDriverWait(browser, 20).until(lambda b: b.current_url.endswith(paid_order))
    assert browser.find_element(By.ID, "order-status").text == "paid"
    assert PURCHASE_COMMITMENT["purpose"] in text_of(browser)
    shoot("order")

    upload = tmp_path / "congestion-2026-11.csv"
    upload.write_text(CONTENT, encoding="utf-8")
    browser.find_element(By.ID, "file").send_keys(str(upload))
    browser.find_element(By.ID, "file-note").send_keys("十一月拥堵指数")
    follow(browser, browser.find_element(By.ID, "deliver-file-submit"))
    WebDriverWait(browser, 20).until(lambda b: "done=delivered" in b.current_url)
    assert browser.find_element(By.ID, "order-status").text == "delivered"
    assert "congestion-2026-11.csv" in text_of(browser)
    shoot("order-delivered")

    seen = trading.get_order(paid_order, uow=world.uow("processor"))
    assert seen.order.status == "delivered"
    (delivery,) = seen.deliveries
    assert (delivery.file_name, delivery.size) == ("congestion-2026-11.csv",
                                                  len(CONTENT.encode()))

    sign_in(browser, world, "merchant")  # the demo's resource holder
    browser.get(world.url("/console/merchant/resources"))
    assert "城市道路交通流量数据" in text_of(browser)
    shoot("resources")


def test_a_merchant_cannot_open_another_merchants_order_by_url(
    browser: WebDriver, world: World, paid_order: str, shoot: Callable[[str], Path],
) -> None:
    sign_in(browser, world, "other_merchant")
    browser.get(world.url(f"/console/merchant/orders/{paid_order}"))
    assert browser.find_element(By.ID, "problem-code").text == "order_not_found"
    page = browser.page_source
    assert "HTTP 404" in text_of(browser)
    for secret in (world.members["buyer"].org_id, PURCHASE_COMMITMENT["purpose"],
                   "城市拥堵指数", world.demo["trade"]["offer_id"]):
        assert secret not in page
    shoot("foreign-order")
