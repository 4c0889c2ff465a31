"""The operator's console in a real browser: a product is listed from the review queue
(claimed, then decided "list" with a reason), a right registration is approved, and the
admission and dispute pages show their cases. Every operator page is kept as a screenshot.

The cases are seeded through the services on the demo world: the processor registers a
product operation right on its processing-use right (reviewed by the operator, as the demo
does), drafts a new product under it and submits it with its listing declaration.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from market.demo import LISTING_DECLARATION, PURCHASE_COMMITMENT
from market.kernel.actor import system_actor
from market.kernel.storage import open_file_store
from market.listing import services as listing
from market.listing.domain import DevelopmentLevel, OfferKind, OfferSpec, ProductType, UsageTerms
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.receipts.signing import Signer
from market.rights import services as rights
from market.rights.domain import RightKind, Scope, Term, Territory
from market.settlement import services as settlement
from market.trading import services as trading
from market.trading.domain import DeliveryMode
from tests.browser.conftest import World, follow, sign_in, text_of
from tests.conftest import TEST_SIGNING_KEY
from tests.papers import papers

TITLE = "城市停车泊位指数 (parking index)"
SCOPE = Scope(frozenset({"交通规划"}), frozenset({"城市交通治理"}), Territory.DOMESTIC)


def _product_right(world: World, title: str, *, review: bool) -> Any:
    """A product operation right of the processor on its processing-use right: submitted,
    and registered by the operator when ``review``."""
    with world.uow("processor") as uow:
        processing = rights.list_rights(uow=world.uow("processor"), kind="processing_use",
                                        holder=world.members["processor"].org_id).items[0]
        now = uow.clock.now()
    right = rights.submit_right(rights.RightInput(
        kind=RightKind.PRODUCT_OPERATION, scope=SCOPE, term=Term(now, now + timedelta(days=365)),
        product_title=title, parent_ids=[processing.id]), uow=world.uow("processor"))
    if review:
        rights.claim_review(right.id, uow=world.uow("operator"))
        right = rights.decide_review(right.id, approve=True, reason="材料齐全，权属清晰",
                                     uow=world.uow("operator"), signer=Signer(TEST_SIGNING_KEY))
    return right


def _submitted_product(world: World) -> str:
    right = _product_right(world, TITLE, review=True)
    product_id = right.product_id
    terms = UsageTerms(purposes=("交通规划",), scenarios=("城市交通治理",), territory="domestic",
                       duration_days=365, onward_transfer=False, resale=False, max_users=5,
                       attribution=None)
    listing.create_product(listing.ProductInput(
        title=TITLE, description="按街区计算的停车泊位占用指数，每 15 分钟更新。",
        type=ProductType.DATASET, development_level=DevelopmentLevel.MODELLED,
        sector="transport", region="武汉", update_frequency="15 minutes",
        scenarios=["城市交通治理"], delivery_modes=["file"],
        derived_from=[world.demo["rights"]["resource_id"]], terms=terms,
        offers=[("季度授权", OfferSpec(OfferKind.ONE_TIME, amount=120_000))],
    ), uow=world.uow("processor"), product_id=product_id)
    listing.submit_listing(product_id, LISTING_DECLARATION, uow=world.uow("processor"))
    return str(product_id)


def _applicant(world: World) -> str:
    code = random_credit_code()
    reg = participants.apply_for_admission(participants.OrganisationInput(
        name="申请方城市数据科技有限公司", credit_code=code, contact_name="赵申请",
        contact_email=f"apply+{code.lower()}@market.local", roles=frozenset(["buyer"])),
        uow=world.uow(system_actor("test")), key_ttl=timedelta(days=30),
        papers=papers())
    return str(reg.organisation.id)


def _dispute(world: World) -> str:
    """The buyer orders the demo product again, pays, gets the file, and disputes it."""
    buyer = world.members["buyer"]
    product_id = world.demo["rights"]["product_id"]
    settlement.record_top_up(buyer.org_id, 500_000, "CNY", f"BROWSER-{buyer.org_id[-8:]}",
                             uow=world.uow("operator"))
    order = trading.place_order(product_id, world.demo["trade"]["offer_id"],
                                PURCHASE_COMMITMENT, policy=world.policy, uow=world.uow("buyer"))
    trading.pay_order(order.order.id, policy=world.policy, uow=world.uow("buyer"))
    trading.deliver(order.order.id, trading.DeliveryInput(
        mode=DeliveryMode.FILE, file=trading.FileUpload(
            "congestion.csv", "text/csv", io.BytesIO(b"segment_id,index\nS001,0.8\n"))),
        storage=open_file_store(world.settings).under("deliveries"), policy=world.policy,
        uow=world.uow("processor"))
    dispute = trading.open_dispute(order.order.id, "交付文件只有一个路段，与产品描述不符", [],
                                   policy=world.policy, uow=world.uow("buyer"))
    return str(dispute.id)


def press(browser: WebDriver, button: WebElement) -> None:
    """Click a button or link that leaves the page, and wait for the page it leads to."""
    follow(browser, button)


def whole(browser: WebDriver, shoot: Callable[[str], Path], name: str) -> None:
    """Keep a screenshot of the whole page (the window made as tall as the page)."""
    width, height = browser.get_window_size()["width"], browser.get_window_size()["height"]
    tall = int(browser.execute_script("return document.documentElement.scrollHeight"))
    browser.set_window_size(width, max(height, tall + 120))
    try:
        shoot(name)
    finally:
        browser.set_window_size(width, height)


@pytest.fixture(scope="module")
def cases(world: World) -> dict[str, str]:
    return {"product_id": _submitted_product(world),
            "right_id": _product_right(world, "城市公交客流指数", review=False).id,
            "org_id": _applicant(world), "dispute_id": _dispute(world)}


def test_an_operator_lists_a_product_from_the_review_queue(
    browser: WebDriver, world: World, cases: dict[str, str], shoot: Callable[[str], Path],
) -> None:
    product_id = cases["product_id"]
    sign_in(browser, world, "operator")
    assert browser.current_url.endswith("/console/operator")  # the operator's first page
    row = browser.find_element(By.ID, f"row-{product_id}")
    assert TITLE in row.text
    assert "示例数据加工服务有限公司" in row.text
    shoot("queue")

    press(browser, row.find_element(By.CLASS_NAME, "claim"))
    assert f"/console/operator/reviews/{product_id}" in browser.current_url
    page = text_of(browser)
    assert "under_review" in browser.find_element(By.ID, "listing-status").text
    assert LISTING_DECLARATION["statement"] in page
    assert browser.find_element(By.ID, "chain-state").text in ("unbroken", "完整")
    whole(browser, shoot, "review-claimed")

    Select(browser.find_element(By.ID, "decision")).select_by_value("list")
    browser.find_element(By.ID, "reason").send_keys("材料齐全，准予挂牌")
    press(browser, browser.find_element(By.ID, "decide"))
    assert "listed" in browser.find_element(By.ID, "listing-status").text
    assert "材料齐全，准予挂牌" in text_of(browser)
    whole(browser, shoot, "review-listed")

    # Listed: anyone finds it in the public catalogue.
    browser.get(world.url(f"/api/v1/catalog/{product_id}"))
    assert TITLE in browser.find_element(By.TAG_NAME, "body").text


def test_an_operator_registers_a_right_from_the_queue(
    browser: WebDriver, world: World, cases: dict[str, str], shoot: Callable[[str], Path],
) -> None:
    sign_in(browser, world, "operator")
    browser.get(world.url("/console/operator?kind=rights"))
    assert "城市公交客流指数" in text_of(browser)
    shoot("rights-queue")
    browser.get(world.url(f"/console/operator/rights/{cases['right_id']}"))
    press(browser, browser.find_element(By.ID, "claim"))
    press(browser, browser.find_element(By.ID, "decide"))  # no reason: the API's field error
    assert browser.find_elements(By.CLASS_NAME, "field-error")
    shoot("right-reason-missing")
    browser.find_element(By.ID, "reason").send_keys("权属清晰，准予登记")
    press(browser, browser.find_element(By.ID, "decide"))
    assert "registered" in browser.find_element(By.ID, "right-status").text
    assert browser.find_element(By.ID, "certificate").text
    whole(browser, shoot, "right-registered")


def test_an_operator_sees_admissions_and_disputes(
    browser: WebDriver, world: World, cases: dict[str, str], shoot: Callable[[str], Path],
) -> None:
    sign_in(browser, world, "operator")
    press(browser, browser.find_element(By.LINK_TEXT, "Admissions"))
    assert "申请方城市数据科技有限公司" in text_of(browser)
    shoot("admissions")
    press(browser, browser.find_element(By.LINK_TEXT, "申请方城市数据科技有限公司"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "form.document-review")) == 3
    assert browser.find_element(By.ID, "no-commitment")
    whole(browser, shoot, "admission")

    press(browser, browser.find_element(By.LINK_TEXT, "Disputes"))
    row = browser.find_element(By.ID, f"row-{cases['dispute_id']}")
    shoot("disputes")
    press(browser, row.find_element(By.TAG_NAME, "a"))
    assert "交付文件只有一个路段" in text_of(browser)
    assert browser.find_element(By.ID, "dispute-form")
    whole(browser, shoot, "dispute")
