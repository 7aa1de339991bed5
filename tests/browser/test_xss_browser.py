"""Script injection through skills, chat messages and model replies: nothing runs.

A skill whose title, description, instructions, triggers and tags carry the usual
payloads (a script element, an image with `onerror`, an attribute break-out into
`<svg onload>`, `javascript:` links in Markdown, quotes), a chat message and a
streamed model reply that carry them too, and an extraction job whose transcript
holds them. Every page that shows any of it is opened in Chromium: the chat (live
stream, turn panel, then the reloaded conversation), the skill list, detail, editor
and history, and as staff the admin's skill list, change page, version diff and job
page. On each: `window.__xss` was never set, no element the payloads describe exists
in the DOM, no alert is open, and the payload is on screen as text. The harness
also fails the test on any console error, which is where a strict CSP would report
an injected inline script it blocked.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from autoskill_site.providers.openai_chat import OpenAICompatibleLLM
from extraction.jobs import job_claim
from extraction.models import JobTrigger
from extraction.pipeline import job_run
from extraction.services import extraction_submit
from skills.services import skill_update
from tests.browser.harness import PASSWORD, BrowserTestCase
from tests.factories import make_skill
from tests.fakes.openai_server import CHAT, Reply
from tests.proxy.chat_fixtures import chunk

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'
SVG = '"><svg onload="window.__xss=1">'
JS_LINK = "[click me](javascript:window.__xss=1)"
QUOTED_LINK = '[docs](https://example.com/"onmouseover="window.__xss=1)'
TITLE = f"Deploy \"quoted\" 'name' </title>{SCRIPT}"
REPLY = [
    chunk(f"Reply with {SCRIPT} and "),
    chunk(f"{IMG} then {JS_LINK} "),
    chunk(f"and {QUOTED_LINK} **done**."),
    chunk(None, "stop"),
    "[DONE]",
]
# What a payload would leave in the DOM had it been parsed as markup.
INJECTED = (
    "img[src='x'], [onerror], [onload], [onmouseover], "
    "a[href^='javascript:' i], iframe, object, embed"
)
PAGE_STATE = """
return {
  xss: typeof window.__xss,
  injected: document.querySelectorAll(arguments[0]).length,
  scripts: Array.from(document.scripts).filter(
    function (s) { return s.textContent.indexOf("__xss") !== -1; }).length,
  text: document.body.innerText
};
"""


class XssBrowserTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.user = get_user_model().objects.create_user(
            username="xavier", password=PASSWORD, is_staff=True, is_superuser=True
        )
        self.skill = make_skill(
            owner=self.user,
            name="deploy-quoted",
            title=TITLE,
            description=f"Deploys {IMG} safely {SVG}",
            instructions=(
                f"# Goal\nDeploy {SCRIPT}\n\n- {JS_LINK}\n- {QUOTED_LINK}\n"
                f'- <a href="javascript:window.__xss=1">raw link</a>\n\n{IMG}'
            ),
            triggers=["deploy quoted", SVG, SCRIPT],
            tags=["deploy", IMG],
        )
        # A second version, so the history and the diffs carry payloads on both sides.
        skill_update(
            skill_id=self.skill.pk,
            instructions=f"{self.skill.instructions}\n\nAlso {SVG} and {SCRIPT}",
            bump=True,
        )

    def assert_page_is_inert(self, what: str, *shown: str) -> None:
        """Nothing ran or was injected on the current page; `shown` is visible as text."""
        from selenium.common.exceptions import NoAlertPresentException

        with self.assertRaises(NoAlertPresentException, msg=what):
            self.driver.switch_to.alert  # noqa: B018 - raises when none is open
        state = self.driver.execute_script(PAGE_STATE, INJECTED)
        self.assertEqual(state["xss"], "undefined", what)
        self.assertEqual(state["injected"], 0, what)
        self.assertEqual(state["scripts"], 0, what)
        for text in shown:
            self.assertIn(text, state["text"], what)

    def test_chat_and_skill_pages_show_payloads_as_text(self) -> None:
        self.fake.route(CHAT, lambda request, scripted: Reply(events=REPLY))
        self.log_in("xavier")
        self.driver.get(self.url("/chat/"))
        self.wait_for(
            lambda: "conn-open" in self.find("#conn-status").get_attribute("class"),
            what="the chat socket to connect",
        )
        box = self.find("#composer-input")
        box.send_keys(f"deploy quoted {SCRIPT} {IMG}")
        self.find("#send-button").click()
        reply = self.wait_for(
            lambda: [
                r
                for r in self.find_all('#messages li[data-role="assistant"]')
                if "status-complete" in r.get_attribute("class")
            ],
            what="the finished reply",
        )[0]
        # Markdown still works beside the payloads, and only http(s) links exist.
        body = reply.find_element("css selector", ".msg-body")
        self.assertEqual(body.find_element("css selector", "strong").text, "done")
        for link in body.find_elements("css selector", "a"):
            self.assertTrue(link.get_attribute("href").startswith("https://"))
        reply.find_element("css selector", "details.turn-panel summary").click()
        panel = reply.find_element("css selector", "table.hits")
        self.assertIn(TITLE, panel.text)
        self.assert_page_is_inert("live chat", SCRIPT, IMG, "javascript:window.__xss=1")
        self.screenshot("xss-chat")

        # The same conversation rendered by the server after a reload.
        self.driver.get(self.driver.current_url)
        self.wait_for(
            lambda: self.find_all('#messages li[data-role="assistant"] .msg-body p'),
            what="the reloaded conversation",
        )
        self.assert_page_is_inert("reloaded chat", SCRIPT, IMG)

        skill = f"/skills/{self.skill.pk}"
        for path, shown in (
            ("/skills/", (TITLE,)),
            (f"{skill}/", (TITLE, IMG, SVG, SCRIPT, "javascript:window.__xss=1")),
            (f"{skill}/edit/", (TITLE, IMG)),
            (f"{skill}/history/", (SCRIPT, SVG)),
            (f"{skill}/history/?compare=1", (SCRIPT, SVG)),
        ):
            self.driver.get(self.url(path))
            self.wait_for(lambda: self.find("h1"), what=path)
            if path.endswith("/edit/"):
                self.wait_for(
                    lambda: self.find_all("#preview-body.is-rendered"),
                    what="the editor's preview",
                )
            self.assert_page_is_inert(path, *shown)
        self.screenshot("xss-skill-detail")

    def test_admin_pages_show_payloads_as_text(self) -> None:
        job, _ = extraction_submit(
            user=self.user,
            messages=[
                {"role": "user", "content": f"Always deploy {SCRIPT} {IMG}"},
                {"role": "assistant", "content": f"Noted {SVG} {JS_LINK}"},
                {"role": "user", "content": f"And then {SCRIPT} again."},
            ],
            trigger=JobTrigger.EXTRACT_NOW,
        )
        # The model proposes a skill made of payloads: the job page shows the
        # transcript, the candidate, the decision and the skill it added.
        candidate = {
            "name": "payload-skill",
            "description": f"Candidate {IMG} and {SVG}",
            "instructions": f"# Goal\nRun {SCRIPT}\n\n- {JS_LINK}",
            "triggers": [f"deploy {SCRIPT}", "deploy safely"],
            "tags": ["deploy"],
            "confidence": 0.8,
        }
        self.fake.reply_chat(json.dumps({"skills": [candidate]}))
        llm = OpenAICompatibleLLM(
            base_url=self.fake.base_url, model="fake", provider="generic", retries=0
        )
        job = job_run(job=job_claim(job_id=job.pk, capped=False), llm=llm)
        self.assertIn(job.outcome, ("added", "merged"), job.error)
        self.driver.get(self.url("/admin/login/?next=/admin/"))
        self.find("#id_username").send_keys("xavier")
        self.find("#id_password").send_keys(PASSWORD)
        self.find("#login-form input[type=submit]").click()
        self.wait_for(
            lambda: "/admin/login/" not in self.driver.current_url,
            what="the admin login",
        )
        change = f"/admin/skills/skill/{self.skill.pk}"
        for path, shown in (
            ("/admin/skills/skill/", (TITLE,)),
            (f"{change}/change/", (TITLE, SCRIPT)),
            (f"{change}/diff/?a=1&b=2", (SCRIPT, SVG)),
            (
                f"/admin/extraction/extractionjob/{job.pk}/change/",
                (SCRIPT, IMG, SVG, "payload-skill"),
            ),
        ):
            self.driver.get(self.url(path))
            self.wait_for(lambda: self.find("#content"), what=path)
            self.assert_page_is_inert(path, *shown)
        self.screenshot("xss-admin-job")
