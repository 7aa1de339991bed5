"""The chat in a real browser: log in, streamed tokens, the turn panel, /extract_now."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from autoskill_site.providers.offline import OfflineLLM
from extraction.jobs import job_claim
from extraction.models import ExtractionJob
from extraction.pipeline import job_run
from skills.models import Skill
from tests.browser.harness import PASSWORD, BrowserTestCase
from tests.factories import make_skill
from tests.fakes.openai_server import CHAT, Reply
from tests.proxy.chat_fixtures import chunk

pytestmark = pytest.mark.browser

RELEASE = "Before each release: run regression -> canary -> monitor -> full rollout"
# Pauses between the pieces, so the page shows a reply that is visibly unfinished.
SLOW_REPLY = [
    chunk("Streaming "),
    0.6,
    chunk("reply "),
    0.6,
    chunk("from the **fake** model."),
    chunk(None, "stop"),
    "[DONE]",
]


class ChatBrowserTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.user = get_user_model().objects.create_user(
            username="carol", password=PASSWORD
        )
        self.skill = make_skill(
            owner=self.user,
            title="Commit messages",
            name="commit-messages",
            description="Write commit messages in the team's style.",
            triggers=["write a commit message"],
            tags=["git"],
            instructions="# Goal\nImperative subject under 50 characters, then a body.",
        )

    def send(self, text: str) -> None:
        box = self.find("#composer-input")
        box.clear()
        box.send_keys(text)
        self.find("#send-button").click()

    def last_reply(self):  # noqa: ANN201 - a selenium WebElement
        replies = self.find_all('#messages li[data-role="assistant"]')
        return replies[-1] if replies else None

    def test_login_then_tokens_stream_and_the_panel_shows_the_skill(self) -> None:
        """A streamed reply is seen growing, then complete; its panel lists the skill."""
        self.fake.route(CHAT, lambda request, scripted: Reply(events=SLOW_REPLY))
        self.driver.get(self.url("/chat/"))
        self.assertIn("/login/", self.driver.current_url)  # the login comes first
        self.screenshot("01-login")
        self.log_in("carol")
        self.wait_for(
            lambda: "conn-open" in self.find("#conn-status").get_attribute("class"),
            what="the chat socket to connect",
        )
        self.send("How should I write a commit message?")
        partial = self.wait_for(
            lambda: (
                (reply := self.last_reply()) is not None
                and "streaming" in reply.get_attribute("class")
                and "Streaming" in reply.text
                and reply
            ),
            what="the first tokens",
        )
        self.assertNotIn("fake", partial.find_element("css selector", ".msg-body").text)
        self.screenshot("02-chat-streaming")
        reply = self.wait_for(
            lambda: (
                (r := self.last_reply()) is not None
                and "status-complete" in r.get_attribute("class")
                and r
            ),
            what="the finished reply",
        )
        body = reply.find_element("css selector", ".msg-body")
        self.assertEqual(body.text, "Streaming reply from the fake model.")
        # Markdown rendered, not shown as asterisks.
        self.assertEqual(body.find_element("css selector", "strong").text, "fake")

        reply.find_element("css selector", "details.turn-panel summary").click()
        table = reply.find_element("css selector", "table.hits")
        self.assertIn("Commit messages", table.text)
        link = table.find_element("css selector", "a")
        self.assertTrue(
            link.get_attribute("href").endswith(f"/skills/{self.skill.pk}/"),
            link.get_attribute("href"),
        )
        self.screenshot("03-chat-turn-panel")
        # The upstream really received the injected skill.
        system = self.fake.requests_to(CHAT)[-1].json["messages"][0]
        self.assertEqual(system["role"], "system")
        self.assertIn("Commit messages", system["content"])

    def test_extract_now_shows_the_new_skill_live(self) -> None:
        """/extract_now queues a job; its completion appears without a reload."""
        self.fake.route(
            CHAT,
            lambda request, scripted: Reply(
                events=[chunk("Noted, I will follow that order."), "[DONE]"]
            ),
        )
        self.log_in("carol")
        self.driver.get(self.url("/chat/"))
        self.wait_for(
            lambda: "conn-open" in self.find("#conn-status").get_attribute("class"),
            what="the chat socket to connect",
        )
        self.send(RELEASE)
        self.wait_for(
            lambda: (
                (r := self.last_reply()) is not None
                and "status-complete" in r.get_attribute("class")
            ),
            what="the reply",
        )
        self.send("/extract_now")
        job = self.wait_for(
            lambda: ExtractionJob.objects.filter(user=self.user).first(),
            what="the queued extraction job",
        )
        status = self.wait_for(
            lambda: self.find_all(
                f'.turn-extraction[data-job-id="{job.pk}"] .job-status'
            ),
            what="the job's panel",
        )[0]
        self.assertRegex(status.text, "queued|scheduled")
        # The worker's part, in this process: the same pipeline extraction_worker runs.
        job = job_run(job=job_claim(job_id=job.pk, capped=False), llm=OfflineLLM())
        self.assertEqual(
            (job.status, job.outcome), ("completed", "added"), job.decision
        )
        learned = Skill.objects.exclude(pk=self.skill.pk).get(owner=self.user)

        notice = self.wait_for(
            lambda: [n for n in self.find_all(".notice-skill") if n.is_displayed()],
            what="the 'skill proposed' notice",
        )[0]
        self.assertIn("Skill proposed", notice.text)
        link = notice.find_element("css selector", "a")
        self.assertIn(learned.name, link.text)
        self.assertTrue(link.get_attribute("href").endswith(f"/skills/{learned.pk}/"))
        self.assertIn("completed", status.text)
        self.screenshot("04-chat-extract-now")

        link.click()
        heading = self.wait_for(lambda: self.find("h1"), what="the skill page")
        self.assertIn(learned.title, heading.text)
        self.assertIn("regression", self.find("body").text.lower())
