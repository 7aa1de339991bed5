"""Real headless Chromium against a live daphne server (ChannelsLiveServerTestCase).

The server runs in a forked process, so everything it must see is settled in
`setUpClass` before the fork: the fake model server as the chat upstream, a SkillBank
root of the class, and (PostgreSQL) the test database's name. Data a test creates is
committed (TransactionTestCase), so the server process reads it. Extraction jobs are
run in the test process with the same pipeline the worker uses; the server's consumer
sees their events in the database, as on the embedded default.

Chromium and its driver are Debian's `chromium` and `chromium-driver` (`.ci/run`
installs them). Without them the tests skip with the install line, unless
AUTOSKILL_REQUIRE_BROWSER is set (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import unittest
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from channels.testing import ChannelsLiveServerTestCase
from daphne.testing import DaphneProcess
from django.conf import settings
from django.db import connections
from django.test import override_settings

from tests.fakes.openai_server import FakeOpenAIServer

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# The flags DEPENDENCIES.md section 9 measured on this kind of machine.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1360,900",
)
PASSWORD = "browser-test-password-42"
WAIT_SECONDS = 20
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


class ForkSafeDaphneProcess(DaphneProcess):
    """Close the parent's database connections before forking the server.

    A forked child would otherwise share the parent's open PostgreSQL socket, and the
    two processes' queries would interleave on it.
    """

    def start(self) -> None:
        connections.close_all()
        super().start()


def browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return (
                f"{path} is not installed; run `apt-get install chromium "
                "chromium-driver` for the browser tests."
            )
    return None


def start_chromium():  # noqa: ANN201 - selenium's WebDriver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager must never look for one online.
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class BrowserTestCase(ChannelsLiveServerTestCase):
    """A live server, a fake chat model and one Chromium for the class."""

    host = "127.0.0.1"
    ProtocolServerProcess = ForkSafeDaphneProcess

    @classmethod
    def setUpClass(cls) -> None:
        missing = browser_missing()
        if missing:
            if os.environ.get("AUTOSKILL_REQUIRE_BROWSER"):
                raise RuntimeError(missing)
            raise unittest.SkipTest(missing)
        cls.fake = FakeOpenAIServer().start()
        cls.store_root = Path(tempfile.mkdtemp(prefix="browser-skillbank-"))
        cls._settings = override_settings(
            AUTOSKILL_STORE_DIR=cls.store_root,
            AUTOSKILL_LLM_PROVIDER="generic",
            AUTOSKILL_LLM_ENV={
                **settings.AUTOSKILL_LLM_ENV,
                "AUTOSKILL_GENERIC_LLM_URL": cls.fake.base_url,
                "AUTOSKILL_GENERIC_LLM_MODEL": "fake-chat",
            },
            AUTOSKILL_REWRITE_MODE="never",
            AUTOSKILL_LLM_RETRIES=0,
            AUTOSKILL_MIN_SCORE=0.0,
            AUTOSKILL_TOP_K=3,
        )
        cls._settings.enable()
        # The server process opens the database by settings' TEST NAME (channels'
        # set_database_connection) and would otherwise derive a wrong one on
        # PostgreSQL; override_settings cannot touch DATABASES, so set it in place.
        database = settings.DATABASES["default"]
        cls._test_settings = dict(database.get("TEST") or {})
        database["TEST"] = {**cls._test_settings, "NAME": database["NAME"]}
        try:
            super().setUpClass()
            cls.driver = start_chromium()
        except BaseException:
            cls._restore_settings()
            cls.fake.stop()
            raise
        cls.driver.set_page_load_timeout(WAIT_SECONDS)

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            cls.driver.quit()
        finally:
            super().tearDownClass()
            cls._restore_settings()
            cls.fake.stop()
            shutil.rmtree(cls.store_root, ignore_errors=True)

    @classmethod
    def _restore_settings(cls) -> None:
        settings.DATABASES["default"]["TEST"] = cls._test_settings
        cls._settings.disable()

    def setUp(self) -> None:
        super().setUp()
        self.driver.delete_all_cookies()
        self.driver.get_log("browser")  # drop what earlier tests left

    def tearDown(self) -> None:
        try:
            self.assert_no_page_errors()
        finally:
            super().tearDown()

    # -- helpers ------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.live_server_url + path

    def wait_for(
        self, condition: Callable[[], T], *, what: str, timeout: float = WAIT_SECONDS
    ) -> T:
        """Poll `condition` until it returns something truthy; fail naming `what`."""
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = condition()
            except (NoSuchElementException, StaleElementReferenceException) as exc:
                last_error, value = exc, None
            if value:
                return value
            time.sleep(0.05)
        self.screenshot(f"timeout-{self._testMethodName}")
        raise AssertionError(f"timed out waiting for {what} (last error: {last_error})")

    def find(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def find_all(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def log_in(self, username: str, password: str = PASSWORD) -> None:
        """Log in through the real form, as a person would."""
        self.driver.get(self.url("/login/"))
        self.find("input[name=username]").send_keys(username)
        self.find("input[name=password]").send_keys(password)
        self.find("form button[type=submit], form input[type=submit]").click()
        self.wait_for(
            lambda: "/login/" not in self.driver.current_url, what="the login redirect"
        )

    def screenshot(self, name: str) -> Path:
        """Save the current screen under test-artifacts/ (looked at by eye)."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def assert_no_page_errors(self) -> None:
        """No JavaScript error reached the console or the page's error banner."""
        severe = [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry.get("level") == "SEVERE"
            # Chromium asks every page for a favicon; the app has none by design.
            and "favicon.ico" not in entry["message"]
        ]
        self.assertEqual(severe, [], "the browser console reported errors")
        banners = self.find_all("#js-error")
        if banners:
            self.assertFalse(banners[0].is_displayed(), banners[0].text)
