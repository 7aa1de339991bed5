"""The skill pages in a real browser: list, live check, preview, save, history, rollback."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from skills.models import Skill
from tests.browser.harness import PASSWORD, BrowserTestCase
from tests.factories import make_skill

pytestmark = pytest.mark.browser


class SkillEditorBrowserTests(BrowserTestCase):
    """The editor checks as you type, points at the bad line, and saves."""

    def setUp(self) -> None:
        super().setUp()
        self.user = get_user_model().objects.create_user(
            username="erin", password=PASSWORD
        )
        self.skill = make_skill(
            owner=self.user,
            title="Release notes",
            instructions="Use **bold** for breaking changes.\n\n- one\n- two",
        )

    def replace_text(self, text: str) -> None:
        from selenium.webdriver.common.keys import Keys

        box = self.find("#skill-md")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        box.send_keys(text)

    def test_live_check_points_at_the_line_then_saving_makes_a_version(self) -> None:
        # given the editor of an existing skill
        self.log_in("erin")
        self.driver.get(self.url(f"/skills/{self.skill.pk}/edit/"))
        self.wait_for(
            lambda: self.find_all("#preview-body.is-rendered h3"),
            what="the rendered preview",
        )
        # when the YAML is broken
        self.replace_text("---\nname: erin-skill\ndescription: [oops\n---\n\nBody\n")
        link = self.wait_for(
            lambda: self.find_all("#editor-problems .line-link"),
            what="the inline YAML error",
        )[0]
        self.assertRegex(link.text, r"^Line \d+$")
        self.assertEqual(self.find("#skill-md").get_attribute("aria-invalid"), "true")
        link.click()
        self.assertEqual(
            self.driver.switch_to.active_element.get_attribute("id"), "skill-md"
        )
        # and then fixed
        self.replace_text(
            "---\nname: erin-skill\ndescription: Writes release notes.\n---\n\n"
            "Say **what changed**.\n"
        )
        self.wait_for(
            lambda: "No problems found." in self.find("#editor-status").text,
            what="the clean check",
        )
        self.assertIn("erin-skill", self.find("#preview-fields").text)
        self.assertEqual(self.find("#preview-body strong").text, "what changed")
        self.screenshot("skill-editor")
        self.find("#skill-editor button[type=submit]").click()
        # then the skill page shows the saved version, its Markdown rendered
        self.wait_for(
            lambda: "Saved as version" in self.find(".flash-messages").text,
            what="the saved message",
        )
        self.assertEqual(self.find(".markdown strong").text, "what changed")
        skill = Skill.objects.get(pk=self.skill.pk)
        self.assertEqual((skill.name, skill.version_number), ("erin-skill", 2))
        self.screenshot("skill-detail")

        # when the first version is restored from the history
        self.find(f'a[href$="/skills/{skill.pk}/history/"]').click()
        diff = self.wait_for(
            lambda: self.find_all(".diff .diff-add"), what="the coloured diff"
        )
        self.assertTrue(any("what changed" in line.text for line in diff))
        self.screenshot("skill-history")
        self.find(".rollback-form button[type=submit]").click()
        # then a new version holds the old content, and the page says so
        self.wait_for(
            lambda: (
                "Rolled back to #1 as new version #3"
                in self.find(".flash-messages").text
            ),
            what="the rollback message",
        )
        self.assertEqual(self.find(".markdown strong").text, "bold")
        skill.refresh_from_db()
        self.assertEqual((skill.version_number, skill.title), (3, "Release notes"))
        self.assertIn("Use **bold**", skill.instructions)

        # and the library browser lists it
        self.driver.get(self.url("/skills/?q=release"))
        self.assertIn("Release notes", self.find("main").text)
        self.screenshot("skill-list")

    def test_pages_work_at_phone_width(self) -> None:
        self.log_in("erin")
        self.driver.set_window_size(375, 800)
        try:
            for name, path in (
                ("list", "/skills/"),
                ("history", f"/skills/{self.skill.pk}/history/"),
                ("detail", f"/skills/{self.skill.pk}/"),
            ):
                self.driver.get(self.url(path))
                self.screenshot(f"skill-{name}-375")
                width = self.driver.execute_script(
                    "return document.documentElement.scrollWidth"
                )
                inner = self.driver.execute_script("return window.innerWidth")
                self.assertLessEqual(width, inner, f"{path} scrolls sideways")
            self.assertEqual(self.find(".markdown strong").text, "bold")
        finally:
            self.driver.set_window_size(1360, 900)
