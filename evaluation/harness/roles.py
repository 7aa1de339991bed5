"""The simulated user and the judge, offline (deterministic rules) or a real LLM.

The offline provider cannot write JSON or judge, so the offline roles are rules here:
the simulator replays the scripted turns, the judge checks the contract's required
phrases. An offline-provider answer cannot follow any procedure (it only reports which
skills were in its context), so for such answers the offline judge credits a skill in
context whose name matches the contract's `skill_terms`, and says so in its reason.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

import httpx2

from evaluation.harness.client import EvalHTTPError

OFFLINE_PROVIDERS = ("", "offline", "mock")
OFFLINE_MARK = "[offline provider]"
_CONTEXT_LINE = re.compile(
    r"(Skills in context \(\d+\):[^\n]*|本次上下文中的技能（\d+）：[^\n]*)"
)
# Where each provider's OpenAI-compatible endpoint and key come from (as the server).
_VENDORS = {
    "openai": ("OPENAI_BASE_URL", "https://api.openai.com/v1", ("OPENAI_API_KEY",)),
    "qwen": (
        "DASHSCOPE_BASE_URL",
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        ("DASHSCOPE_API_KEY",),
    ),  # noqa: E501
    "glm": (
        "GLM_BASE_URL",
        "https://open.bigmodel.cn/api/paas/v4",
        ("GLM_API_KEY", "BIGMODEL_API_KEY", "ZHIPU_API_KEY"),
    ),  # noqa: E501
    "internlm": (
        "INTERNLM_BASE_URL",
        "https://chat.intern-ai.org.cn/api/v1",
        ("INTERNLM_API_KEY",),
    ),  # noqa: E501
    "generic": ("AUTOSKILL_GENERIC_LLM_URL", "", ("AUTOSKILL_GENERIC_API_KEY",)),
}
_ALIASES = {"dashscope": "qwen", "bigmodel": "glm", "zhipu": "glm", "intern": "internlm",
            "intern-s1": "internlm", "intern-s1-pro": "internlm", "openai-compatible": "generic",
            "custom": "generic", "universal": "generic"}  # fmt: skip


@dataclass(frozen=True)
class RoleLLM:
    """An OpenAI-compatible chat endpoint playing the simulator or the judge."""

    url: str
    api_key: str
    model: str
    timeout_s: float

    def ask_json(self, *, system: str, user: str, max_tokens: int) -> dict[str, Any]:
        payload = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0.0,
            "max_tokens": max_tokens,
            "stream": False,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        with httpx2.Client(timeout=self.timeout_s, trust_env=False) as http:
            response = http.post(self.url, json=payload, headers=headers)
        if response.status_code >= 400:
            raise EvalHTTPError(
                f"HTTP {response.status_code} POST {self.url}: {response.text[:300]}"
            )
        text = response.json()["choices"][0]["message"].get("content") or ""
        match = re.search(r"\{.*\}", text, re.S)  # the outermost {...}, as the original
        if match is None:
            raise EvalHTTPError(f"the role model answered no JSON: {text[:200]!r}")
        return json.loads(match.group(0))


def role_llm(
    *, provider: str, model: str, api_key: str, base_url: str, proxy_url: str,
    proxy_key: str, proxy_model: str, timeout_s: float,
) -> RoleLLM | None:  # fmt: skip
    """The role's model, or None for the offline rules (`offline`, `mock`, empty)."""
    name = provider.strip().lower()
    if name in OFFLINE_PROVIDERS:
        return None
    name = _ALIASES.get(name, name)
    if name not in _VENDORS:  # `proxy` and unknown names: the server under test
        url, key = base_url or proxy_url, api_key or proxy_key
    else:
        url_var, default, key_vars = _VENDORS[name]
        url = base_url or os.environ.get(url_var, default)
        key = api_key or next(
            (os.environ[v] for v in key_vars if os.environ.get(v)), ""
        )
    if not url:
        raise EvalHTTPError(
            f"No base URL for the {provider!r} role provider; pass its --*-base-url."
        )
    url = url.rstrip("/").removesuffix("/v1") + "/v1/chat/completions"
    return RoleLLM(
        url=url, api_key=key, model=model or proxy_model, timeout_s=timeout_s
    )


def simulate_turns(
    *, llm: RoleLLM | None, scenario: dict[str, Any], max_turns: int
) -> tuple[list[str], str]:  # noqa: E501
    """The training turns and where they came from (`template` or `simulator`)."""
    scripted = list(scenario["turns"])[:max_turns]
    if llm is None:
        return scripted, "template"
    try:
        answer = llm.ask_json(
            system="You simulate a user. Rewrite the seed turns as natural user turns, keeping every "
            'constraint, procedure and topic switch. Answer strict JSON {"turns": [...]}.',
            user=json.dumps({"topic": scenario["topic"], "objective": scenario["objective"],
                             "seed_turns": scripted, "target_count": len(scripted)},
                            ensure_ascii=False),
            max_tokens=1200,
        )  # fmt: skip
        turns = [str(t) for t in answer.get("turns", []) if str(t).strip()][:max_turns]
    except (EvalHTTPError, httpx2.HTTPError, ValueError, KeyError):
        return scripted, "template"
    return (turns, "simulator") if turns else (scripted, "template")


def _rules_judge(
    *, answer: str, contract: dict[str, Any], threshold: float
) -> dict[str, Any]:
    constraints = contract.get("hard_constraints") or []
    if answer.lstrip().startswith(OFFLINE_MARK):
        found = _CONTEXT_LINE.search(answer)
        context = (found.group(0) if found else "").lower()
        terms = [t for t in contract.get("skill_terms") or [] if t.lower() in context]
        met = len(constraints) if terms and constraints else 0
        reason = (f"offline answer: a skill matching {terms} was in context" if terms
                  else "offline answer: no skill matching the contract was in context")  # fmt: skip
        resolved = [c["text"] for c in constraints] if met else []
    else:
        lowered = answer.lower()
        resolved = [c["text"] for c in constraints
                    if any(p.lower() in lowered for p in c.get("any_of") or [c["text"]])]  # fmt: skip
        met = len(resolved)
        reason = f"{met} of {len(constraints)} required points found in the answer"
    total = len(constraints)
    score = round(100.0 * met / total, 2) if total else 0.0
    return {
        "score": score,
        "success": bool(total) and met == total and score >= threshold,
        "reason": reason,
        "strengths": resolved,
        "gaps": [c["text"] for c in constraints if c["text"] not in resolved],
        "constraint_coverage": {"critical_met": met, "critical_total": total,
                                "overall_ratio": round(met / total, 4) if total else 0.0},
        "resolved_constraints": {"critical": resolved, "important": []},
        "violations": [],
        "judge": "rules",
    }  # fmt: skip


def judge_answer(
    *,
    llm: RoleLLM | None,
    query: str,
    answer: str,
    contract: dict[str, Any],
    threshold: float,
) -> dict[str, Any]:
    """Score one answer 0..100 against the contract; fails when a critical point is missed."""
    if llm is None:
        return _rules_judge(answer=answer, contract=contract, threshold=threshold)
    try:
        raw = llm.ask_json(
            system="You are a strict judge. Score the answer 0-100 against the requirement contract "
            "(contract > evaluation query). Answer strict JSON {score, success, reason, strengths, "
            "gaps, constraint_coverage {critical_met, critical_total, overall_ratio}, violations}.",
            user=json.dumps({"contract": contract, "evaluation_query": query, "answer": answer},
                            ensure_ascii=False),
            max_tokens=1200,
        )  # fmt: skip
    except (EvalHTTPError, httpx2.HTTPError, ValueError, KeyError) as exc:
        verdict = _rules_judge(answer=answer, contract=contract, threshold=threshold)
        return {**verdict, "judge": "rules", "judge_error": str(exc)[:300]}
    score = min(100.0, max(0.0, float(raw.get("score") or 0.0)))
    success = bool(raw["success"]) if "success" in raw else score >= threshold
    coverage = raw.get("constraint_coverage") or {}
    if int(coverage.get("critical_met", 0)) < int(coverage.get("critical_total", 0)):
        success = False
    return {**raw, "score": score, "success": success, "judge": "llm"}
