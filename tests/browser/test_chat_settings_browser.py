"""The chat page's "Retrieval & learning" controls in a real browser."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from proxy.models import ChatSession
from tests.browser.harness import PASSWORD, BrowserTestCase
from tests.fakes.openai_server import CHAT, Reply
from tests.proxy.chat_fixtures import chunk

pytestmark = pytest.mark.browser


class ChatSettingsBrowserTests(BrowserTestCase):
    """The controls in Chromium: chosen before the first message, changed in a
    conversation, moved by slash commands, refused values put back."""

    def setUp(self) -> None:
        super().setUp()
        get_user_model().objects.create_user(username="dana", password=PASSWORD)
        self.fake.route(
            CHAT, lambda request, scripted: Reply(events=[chunk("Fine."), "[DONE]"])
        )

    def connected(self) -> None:
        self.wait_for(
            lambda: "conn-open" in self.find("#conn-status").get_attribute("class"),
            what="the chat socket to connect",
        )

    def type_into(self, name: str, text: str) -> None:
        from selenium.webdriver.common.keys import Keys

        box = self.find(f"#setting-{name}")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(text, Keys.TAB)  # leaving the field commits the change

    def choose(self, name: str, value: str) -> None:
        from selenium.webdriver.support.select import Select

        Select(self.find(f"#setting-{name}")).select_by_value(value)

    def value(self, name: str) -> str:
        return self.find(f"#setting-{name}").get_attribute("value")

    def session(self) -> ChatSession | None:
        return ChatSession.objects.filter(owner__username="dana").first()

    def test_settings_travel_with_the_first_message_then_change_live(self) -> None:
        # given a new chat, settings chosen before anything is sent
        self.log_in("dana")
        self.driver.get(self.url("/chat/"))
        self.connected()
        self.find("details.chat-settings summary").click()
        self.assertFalse(self.find("#extract-now").is_enabled())
        self.choose("scope", "library")
        self.type_into("top_k", "2")
        self.type_into("top_k", "0")  # refused here, the kept value is put back
        notice = self.wait_for(
            lambda: self.find_all(".notice-error"), what="the top_k notice"
        )[0]
        self.assertIn("from 1 to 200", notice.text)
        self.assertEqual(self.value("top_k"), "2")
        self.assertIsNone(self.session())
        # when the first message starts the conversation
        box = self.find("#composer-input")
        box.send_keys("Hello there")
        self.find("#send-button").click()
        self.wait_for(
            lambda: self.find_all(
                '#messages li[data-role="assistant"].status-complete'
            ),
            what="the reply",
        )
        # then the session has them and the turn retrieved with them
        session = self.session()
        self.assertEqual((session.scope, session.top_k), ("library", 2))
        self.assertTrue(self.find("#extract-now").is_enabled())

        # when changed inside the conversation
        self.type_into("min_score", "0.5")
        self.wait_for(
            lambda: "Saved" in self.find("#chat-settings-status").text,
            what="the saved status",
        )
        self.choose("extract_mode", "never")
        self.wait_for(
            lambda: not self.find("#setting-extract_turn_limit").is_enabled(),
            what="extract every N to be greyed out",
        )
        # and a slash command moves the control
        box.send_keys("/scope all")
        self.find("#send-button").click()
        self.wait_for(lambda: self.value("scope") == "all", what="the scope select")
        # then everything is stored
        self.wait_for(
            lambda: (
                (s := self.session()).extract_mode == "never"
                and (s.min_score, s.scope) == (0.5, "all")
            ),
            what="the stored settings",
        )

        # Extract now goes through the command path.
        self.find("#extract-now").click()
        self.wait_for(
            lambda: (
                any(
                    "/extract_now" in m.text
                    for m in self.find_all('#messages li[data-role="user"]')
                )
                and self.find_all('#messages li[data-role="command"] .turn-extraction')
            ),
            what="the extract-now command and its job panel",
        )
        self.screenshot("chat-settings-wide")

        # At phone width nothing scrolls sideways.
        self.driver.set_window_size(375, 800)
        try:
            overflow = self.driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth;"
            )
            self.screenshot("chat-settings-375")
            self.assertLessEqual(overflow, 0)
        finally:
            self.driver.set_window_size(1360, 900)
