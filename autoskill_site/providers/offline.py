"""The offline built-in provider: clearly labelled deterministic chat replies and a gated heuristic extractor.

The embedded default runs without API keys, so something must answer chat turns and
propose skills. Unlike the original's mock (which turned any text into a "General SOP"),
the extractor is gated: only the user's own durable procedures, preferences and
policy-setting corrections become a candidate; small talk, questions, one-off tasks,
stories about other people and assistant-only checklists yield None. The scoring lives
in `offline_rules`, the wording of a candidate in `offline_candidate`; this module
picks the turn and answers chat.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from autoskill_site.providers import offline_rules as R
from autoskill_site.providers.llm import LLMError, LLMReply, Message
from autoskill_site.providers.offline_candidate import build_candidate, topic_of

__all__ = ["OfflineLLM"]


_SKILLS_HEADING = re.compile(
    r"^\s*#{1,6}\s*(relevant |available |selected |injected )?(skills\b|技能)", re.I
)
_SKILL_HEADING = re.compile(
    r"^\s*#{2,6}\s*(?:skill\s*\d*\s*[:：.-]\s*)?(.+?)(?:\s+v\d[\w.]*)?\s*$", re.I
)
_SKILL_BULLET = re.compile(r"^[-*]\s+\**([^:：*\n]{2,80}?)\**\s*(?:[:：—]|\s-\s|$)")
_FIELD_BULLET = re.compile(
    r"^[-*]\s+(id|title|description|tags|triggers|resources|instructions|version)\b",
    re.I,
)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p if isinstance(p, str) else str(p.get("text", ""))
            for p in content
            if isinstance(p, str | Mapping)
        )
    return ""


def _skills_in_context(messages: Sequence[Message]) -> list[str]:
    """Names of skills injected into system messages, whatever the exact layout."""
    names: list[str] = []
    for message in messages:
        if message.get("role") != "system":
            continue
        inside = False
        for line in _text_of(message.get("content")).splitlines():
            if _SKILLS_HEADING.match(line):
                inside = True
            elif inside and re.match(r"^\s*#\s", line):
                inside = False  # a new top-level section ends the block
            elif inside and (
                (m := _SKILL_HEADING.match(line))
                or (not _FIELD_BULLET.match(line) and (m := _SKILL_BULLET.match(line)))
            ):
                names.append(R.clean(m.group(1)))
    return list(dict.fromkeys(n for n in names if n))


class OfflineLLM:
    """The built-in provider used when no model is configured; deterministic and labelled."""

    provider = "offline"
    model = "offline-heuristic"
    offline = True

    def complete(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        json_mode: bool = False,
        timeout: float | None = None,
    ) -> LLMReply:
        """A reply saying no model is configured, plus what can be told without one."""
        if json_mode:
            raise LLMError(
                "The offline provider answers chat only and cannot produce JSON; "
                "use OfflineLLM.extract_candidate() for extraction, or configure a "
                "language model (AUTOSKILL_LLM_PROVIDER)."
            )
        return LLMReply(
            text=self._reply(messages),
            model=self.model,
            provider=self.provider,
            finish_reason="stop",
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """The same reply as `complete`, in word-sized pieces."""
        text = self.complete(messages, model=model, max_tokens=max_tokens).text
        # Runs without spaces (Chinese) are cut too, so a client still sees progress.
        for piece in re.findall(r"\s+|\S+\s*", text):
            yield from (piece[i : i + 16] for i in range(0, len(piece), 16))

    def extract_candidate(
        self,
        *,
        user_turns: list[str],
        context_turns: list[dict] | None = None,
        hint: str | None = None,
    ) -> dict | None:
        """One candidate skill dict, or None when the user stated nothing durable.

        Only `user_turns` are evidence. `context_turns` (the whole window) only tell
        whether the user is answering an assistant reply, which makes "no, use X" a
        correction. The latest qualifying turn wins; earlier qualifying turns join it
        only when they are about the same domain.
        """
        replying = any(t.get("role") == "assistant" for t in context_turns or [])
        threshold = R.HINT_THRESHOLD if hint and hint.strip() else R.THRESHOLD
        texts = [t for t in user_turns if isinstance(t, str) and t.strip()]
        turns = [R.analyse_turn(text, replying=replying) for text in texts]
        qualifying = [t for t in turns if t.score >= threshold and t.has_content]
        if not qualifying:
            return None
        main = qualifying[-1]
        topic = topic_of(main.text)
        for earlier in reversed(qualifying[:-1]):
            if topic is not None and topic_of(earlier.text) == topic:
                main.rules = earlier.rules + main.rules
                main.steps = main.steps or earlier.steps
                main.sections = main.sections or earlier.sections
        return build_candidate(main, hint=hint, zh=R.is_chinese(" ".join(texts[-3:])))

    def _reply(self, messages: Sequence[Message]) -> str:
        users = [
            _text_of(m.get("content")) for m in messages if m.get("role") == "user"
        ]
        skills = _skills_in_context(messages)
        candidate = self.extract_candidate(
            user_turns=users[-3:], context_turns=[dict(m) for m in messages]
        )
        if users and R.is_chinese(users[-1]):
            lines = [
                "[offline provider] 未配置语言模型，这条回复来自 AutoSkill Studio 内置的离线"
                "（offline）提供方：它只运行确定性的启发式规则，无法理解或回答你的问题。",
                "配置模型后重启即可获得真正的回答：设置 AUTOSKILL_LLM_PROVIDER（openai、generic、"
                "dashscope、glm、internlm 或 anthropic）及对应密钥，例如 OPENAI_API_KEY"
                "（可选 AUTOSKILL_LLM_MODEL、AUTOSKILL_LLM_BASE_URL），或 ANTHROPIC_API_KEY。",
                f"本次上下文中的技能（{len(skills)}）：{'、'.join(skills)}。"
                if skills
                else "本次请求的上下文中没有技能。",
                f"技能学习：你的消息包含可复用的流程或偏好，离线提取器可以将其学习为技能“{candidate['name']}”。"
                if candidate
                else "技能学习：没有发现可复用的流程或长期偏好（闲聊、提问和一次性任务不会被学习）。",
            ]
        else:
            lines = [
                "[offline provider] No language model is configured, so this reply comes "
                "from AutoSkill Studio's built-in offline provider. It only runs "
                "deterministic heuristics and cannot understand or answer your request.",
                "To get real answers, configure a model and restart: set "
                "AUTOSKILL_LLM_PROVIDER (openai, generic, dashscope, glm, internlm or "
                "anthropic) and its key, for example OPENAI_API_KEY (optionally "
                "AUTOSKILL_LLM_MODEL and AUTOSKILL_LLM_BASE_URL for any OpenAI-compatible "
                "server), or ANTHROPIC_API_KEY.",
                f"Skills in context ({len(skills)}): {', '.join(skills)}."
                if skills
                else "No skills were in context for this request.",
                "Skill learning: your message states a reusable procedure or preference; "
                f'the offline extractor can learn it as "{candidate["name"]}".'
                if candidate
                else "Skill learning: nothing reusable was found (small talk, questions "
                "and one-off tasks are not learned).",
            ]
        return "\n\n".join(lines)
