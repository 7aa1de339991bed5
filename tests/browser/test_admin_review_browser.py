"""The curators' admin in a real browser: approve a draft from the review queue, read
the rendered SKILL.md preview, and compare two versions in the coloured diff."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from skills.models import Skill, SkillStatus
from skills.services import skill_update
from tests.browser.harness import PASSWORD, BrowserTestCase
from tests.factories import make_skill

pytestmark = pytest.mark.browser

CURATOR_PERMISSIONS = (
    "view_skill",
    "change_skill",
    "view_skilldraft",
    "change_skilldraft",
)


class AdminReviewBrowserTests(BrowserTestCase):
    """A staff curator with exactly the permissions review needs (not a superuser)."""

    def setUp(self) -> None:
        super().setUp()
        users = get_user_model().objects
        curator = users.create_user(username="carol", password=PASSWORD, is_staff=True)
        curator.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="skills", codename__in=CURATOR_PERMISSIONS
            )
        )
        self.author = users.create_user(username="erin", password=PASSWORD)
        self.draft = make_skill(
            owner=self.author, title="Draft to approve", status=SkillStatus.DRAFT
        )
        self.waiting = make_skill(
            owner=self.author, title="Draft that waits", status=SkillStatus.DRAFT
        )
        self.edited = make_skill(
            owner=self.author,
            title="Edited skill",
            instructions="Use **bold** for breaking changes.",
        )
        skill_update(
            skill_id=self.edited.pk,
            instructions="Use **bold** for breaking changes.\n\nAdd a migration note.",
            bump=True,
        )
        skill_update(skill_id=self.edited.pk, title="Edited skill, third", bump=True)

    def admin_log_in(self, next_path: str) -> None:
        self.driver.get(self.url(f"/admin/login/?next={next_path}"))
        self.find("#id_username").send_keys("carol")
        self.find("#id_password").send_keys(PASSWORD)
        self.find("#login-form input[type=submit]").click()
        self.wait_for(
            lambda: "/admin/login/" not in self.driver.current_url,
            what="the admin login redirect",
        )

    def test_approve_a_draft_from_the_review_queue(self) -> None:
        from selenium.webdriver.support.select import Select

        # given the review queue
        self.admin_log_in("/admin/skills/skilldraft/")
        self.assertIn("2 drafts waiting for review", self.find("#content").text)
        # when the curator selects one draft and approves it
        self.find(f"input.action-select[value='{self.draft.pk}']").click()
        Select(self.find("select[name=action]")).select_by_value("approve_selected")
        self.find("button[name=index]").click()
        # then the queue says so, and only the other draft is left
        message = self.wait_for(
            lambda: self.find_all(".messagelist .success"),
            what="the approval message",
        )[0]
        self.assertIn("Approved 1 skill(s)", message.text)
        self.assertIn("1 draft waiting for review", self.find("#content").text)
        self.assertNotIn("Draft to approve", self.find("#result_list").text)
        self.assertIn("Draft that waits", self.find("#result_list").text)
        self.screenshot("admin-review-queue")
        approved = Skill.objects.get(pk=self.draft.pk)
        self.assertEqual(approved.status, SkillStatus.ACTIVE)
        self.assertEqual(approved.versions.get(number=2).author.username, "carol")

    def test_preview_and_the_diff_between_two_versions(self) -> None:
        from selenium.webdriver.support.select import Select

        # given the change page of a skill with three versions
        self.admin_log_in(f"/admin/skills/skill/{self.edited.pk}/change/")
        strong = self.wait_for(
            lambda: self.find_all("#skill-md-preview.is-rendered strong"),
            what="the rendered SKILL.md preview",
        )
        self.assertEqual(strong[0].text, "bold")
        self.screenshot("admin-skill-change")
        # when the curator opens the comparison and picks #1 against #3
        self.find(".object-tools a[href$='/diff/']").click()
        self.wait_for(lambda: self.find_all("#diff-a"), what="the diff page")
        Select(self.find("#diff-a")).select_by_value("1")
        Select(self.find("#diff-b")).select_by_value("3")
        self.find(".skills-diff-form button[type=submit]").click()
        self.wait_for(
            lambda: "a=1" in self.driver.current_url, what="the chosen comparison"
        )
        # then added and removed lines are coloured
        added = self.find_all(".skills-diff .diff-add")
        removed = self.find_all(".skills-diff .diff-del")
        self.assertTrue(any("migration note" in line.text for line in added))
        self.assertTrue(any("Edited skill" in line.text for line in removed))
        for line in (added[0], removed[0]):
            colour = line.value_of_css_property("background-color")
            self.assertNotIn(colour, ("rgba(0, 0, 0, 0)", "transparent"))
        self.assertNotEqual(
            added[0].value_of_css_property("background-color"),
            removed[0].value_of_css_property("background-color"),
        )
        self.screenshot("admin-diff")
        # and on a phone-sized screen the page does not scroll sideways
        self.driver.set_window_size(375, 800)
        try:
            self.driver.refresh()
            self.wait_for(lambda: self.find_all(".skills-diff"), what="the diff")
            width = self.driver.execute_script(
                "return document.documentElement.scrollWidth"
            )
            self.assertLessEqual(width, 375)
            self.screenshot("admin-diff-narrow")
        finally:
            self.driver.set_window_size(1360, 900)
