"""Browser tests: the console served by a real HTTP server, driven by a real headless
Chromium (Debian's ``chromium`` and ``chromium-driver``, which ``make test`` installs) through
selenium.

Each module gets a database of its own (a fresh SQLite file, or a fresh PostgreSQL database
when ``MARKET_TEST_DATABASE_URL`` is set), migrated, with the demo cast traded on it and a
regulator added; the application serves it from a thread on a free loopback port with real
commits, as in production. Every page a test visits can be kept with :func:`shoot`:
screenshots go to ``$MARKET_ARTIFACTS/screenshots`` (default ``build/artifacts``), which is
not committed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import BaseWSGIServer, make_server

from market.app import create_app
from market.demo import run_demo
from market.kernel import migrate
from market.kernel.actor import Actor, system_actor
from market.kernel.clock import SystemClock
from market.kernel.config import Settings
from market.kernel.db import make_engine, make_session_factory
from market.kernel.storage import open_file_store
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.receipts.signing import Signer
from market.trading import services as trading
from tests.conftest import TEST_SECRET, TEST_SIGNING_KEY

CHROMIUM = Path(os.environ.get("MARKET_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("MARKET_CHROMEDRIVER", "/usr/bin/chromedriver"))
ARTIFACTS = Path(os.environ.get("MARKET_ARTIFACTS", "build/artifacts")) / "screenshots"


@dataclass(frozen=True)
class Member:
    """One organisation of the browser world: its API key and who it acts as."""

    org_id: str
    token: str
    actor: Actor


@dataclass
class World:
    """What a browser module works on: the served console and the cast."""

    base_url: str
    settings: Settings
    sessions: sessionmaker[Session]
    members: dict[str, Member]
    demo: dict[str, Any]

    def uow(self, who: str | Actor) -> UnitOfWork:
        actor = who if isinstance(who, Actor) else self.members[who].actor
        return UnitOfWork(self.sessions, SystemClock(), actor)

    @property
    def policy(self) -> Any:
        return trading.policy_of(self.settings)

    def url(self, path: str) -> str:
        return self.base_url + path


def _fresh_database(tmp: Path, worker_id: str, module: str) -> str:
    url = os.environ.get("MARKET_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp / 'browser.db'}"
    name = f"market_browser_{worker_id}_{module}"[:60]
    server = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def add_member(sessions: sessionmaker[Session], role: str, name: str) -> Member:
    code = random_credit_code()
    reg = participants.register_organisation(
        participants.OrganisationInput(
            name=name, credit_code=code, contact_name=f"{role} admin",
            contact_email=f"{role}+{code.lower()}@market.local", roles=frozenset([role])),
        uow=UnitOfWork(sessions, SystemClock(), system_actor("test")),
        key_ttl=timedelta(days=30), reason="test")
    return Member(reg.organisation.id, reg.api_key.token, Actor(
        kind="user", label=f"{role} admin", user_id=reg.user.id, org_id=reg.organisation.id,
        roles=frozenset([role]), org_status="admitted", scopes=frozenset({"read", "write"}),
        key_id=reg.api_key.key.id))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, worker_id: str,
          request: pytest.FixtureRequest) -> Iterator[World]:
    """The console served on loopback over a database of this module's own, with the demo
    cast (operator, merchant, processor, buyer: a rights chain, a listed product, a settled
    trade and a matched one) and a regulator and a second merchant added."""
    tmp = tmp_path_factory.mktemp("browser")
    url = _fresh_database(tmp, worker_id, request.module.__name__.rsplit(".", 1)[-1])
    engine: Engine = make_engine(url)
    migrate.upgrade(engine)
    settings = Settings(instance_path=tmp, database_url=url, secret_key=TEST_SECRET,
                        signing_key=TEST_SIGNING_KEY, testing=False, check_schema=False)
    sessions = make_session_factory(engine)
    demo = run_demo(sessions, SystemClock(), Signer(TEST_SIGNING_KEY),
                    key_ttl=timedelta(days=30),
                    storage=open_file_store(settings).under("deliveries"),
                    policy=trading.policy_of(settings))
    members: dict[str, Member] = {}
    for label in ("operator", "merchant", "processor", "buyer"):
        key = demo[label]["api_key"]
        actor = participants.authenticate(key, session_factory=sessions, clock=SystemClock())
        members[label] = Member(demo[label]["organisation_id"], key, actor)
    members["regulator"] = add_member(sessions, "regulator", "示例监管机构")
    members["other_merchant"] = add_member(sessions, "merchant", "另一数据商有限公司")
    app = create_app(settings, session_factory=sessions)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield World(f"http://127.0.0.1:{server.server_port}", settings, sessions, members,
                    demo)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Headless Chromium, with no network but loopback in mind (background requests off)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"browser tests need {', '.join(missing)}: install Debian's chromium and "
                    "chromium-driver (make test does, through scripts/browser-deps)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-default-apps", "--window-size=1280,1000",
                 "--lang=en-US",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shoot(browser: WebDriver, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Keep a screenshot of the page the browser shows, named after the test and ``name``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        browser.save_screenshot(str(path))
        assert path.stat().st_size > 0
        return path

    return take


def sign_in(browser: WebDriver, world: World, who: str) -> None:
    """Log ``who`` in through the login form (a fresh session: cookies cleared first),
    waiting until the console has opened (right after the click the browser may still show
    the login page)."""
    browser.get(world.url("/console/login"))
    browser.delete_all_cookies()
    browser.get(world.url("/console/login"))
    browser.find_element(By.ID, "api_key").send_keys(world.members[who].token)
    browser.find_element(By.ID, "login").click()
    WebDriverWait(browser, 20).until(lambda b: "/console/login" not in b.current_url,
                                     message="still on the login page")


def follow(browser: WebDriver, element: Any) -> None:
    """Click a link or button that loads a new page, and wait until it has (reading the
    page right after the click may still find the old one)."""
    old = browser.find_element(By.TAG_NAME, "html")
    element.click()

    def gone(_: WebDriver) -> bool:
        try:
            old.is_enabled()
        except WebDriverException:  # stale, or a node of a document that was replaced
            return True
        return False

    WebDriverWait(browser, 20).until(gone, message="the page did not change")


def click_and_wait(browser: WebDriver, element_id: str) -> None:
    """:func:`follow` the element with this id."""
    follow(browser, browser.find_element(By.ID, element_id))


def text_of(browser: WebDriver) -> str:
    return str(browser.find_element(By.TAG_NAME, "main").text)

