"""Signing in and out of the console in a real browser, the language switch, and the
login form refusing a post without its token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import World, click_and_wait, sign_in, text_of


def test_a_person_logs_in_switches_language_and_logs_out(
    browser: WebDriver, world: World, shoot: Callable[[str], Path],
) -> None:
    browser.delete_all_cookies()
    browser.get(world.url("/console/"))
    assert "/console/login" in browser.current_url
    shoot("login")
    sign_in(browser, world, "buyer")
    assert "buyer" in browser.find_element(By.ID, "signed-in-as").text
    click_and_wait(browser, "lang-zh")
    assert browser.find_element(By.ID, "logout").text == "退出登录"
    shoot("home-zh")
    click_and_wait(browser, "lang-en")
    click_and_wait(browser, "logout")
    assert "/console/login" in browser.current_url
    browser.get(world.url("/console/"))
    assert "/console/login" in browser.current_url  # the session is gone


def test_a_wrong_key_is_refused_on_the_page(browser: WebDriver, world: World) -> None:
    browser.delete_all_cookies()
    browser.get(world.url("/console/login"))
    browser.find_element(By.ID, "api_key").send_keys("mk.key_unknown.secret")
    click_and_wait(browser, "login")
    assert "Invalid API key" in browser.find_element(By.ID, "login-error").text


def test_a_login_post_without_its_token_is_refused(browser: WebDriver, world: World) -> None:
    browser.delete_all_cookies()
    browser.get(world.url("/console/login"))
    # a page elsewhere posting the form: the token field is gone
    browser.execute_script(
        "document.querySelector('input[name=csrf_token]').remove()")
    browser.find_element(By.ID, "api_key").send_keys(world.members["buyer"].token)
    click_and_wait(browser, "login")
    assert "csrf_failed" in text_of(browser)
    browser.get(world.url("/console/"))
    assert "/console/login" in browser.current_url
