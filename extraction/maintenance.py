"""Decide add / merge / discard for one candidate, and carry the decision out.

Order of evidence: an identical identity (normalised description) or slug among the
user's live skills is a merge with no model call; the same identity in a library is
a discard. Otherwise the similar skills (owner-filtered search over the user's own
and the library skills) go to the LLM, whose answer passes guard rails; without an
LLM the deterministic gate decides. Merges are optimistic compare-and-set writes
retried on conflict, so the model is never called while a row is locked and two
merges into one skill cannot overwrite each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from autoskill_site.exceptions import Conflict
from autoskill_site.providers.llm import LLMClient
from extraction.candidate import Candidate
from extraction.extract import parse_json_answer
from extraction.merging import merge_fields, merged_with_llm
from extraction.prompts import decide_messages
from retrieval.search import MAX_QUERY_CHARS, skill_search
from skills.identity import identity_key
from skills.models import Skill, SkillStatus, VersionOrigin
from skills.services import skill_create, skill_update

ACTIONS = ("add", "merge", "discard")
_SYNONYMS = {
    "create": "add", "new": "add", "insert": "add",
    "update": "merge", "upsert": "merge", "combine": "merge",
    "delete": "discard", "drop": "discard", "ignore": "discard",
    "skip": "discard", "reject": "discard", "none": "discard",
}  # fmt: skip
NEIGHBOURS = 8
MERGE_ATTEMPTS = 4
# Above this similarity an "add" would create a near-duplicate: the guard rail wins.
GUARD_MARGIN = 0.25
_TOKENS = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]+")


@dataclass
class Decision:
    action: str  # add | merge | discard
    target_skill_id: str | None = None
    reason: str = ""
    decided_by: str = "rules"  # identity | llm | guardrail | rules
    similarity: float | None = None
    neighbours: list[dict[str, Any]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "target_skill_id": self.target_skill_id,
            "reason": self.reason,
            "decided_by": self.decided_by,
            "similarity": self.similarity,
            "neighbours": self.neighbours,
        }


@dataclass
class Applied:
    outcome: str  # added | merged | discarded
    skill: Skill | None = None
    changed: bool = False


def _tokens(text: str) -> set[str]:
    return set(_TOKENS.findall(text.casefold()))


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def gate_score(*, similarity: float, candidate: Candidate, neighbour: dict) -> float:
    """How sure we are the two are one capability: mostly similarity, plus word overlap."""
    threshold = settings.AUTOSKILL_DEDUPE_THRESHOLD
    floor = max(0.0, threshold - 0.15)
    semantic = min(1.0, max(0.0, (similarity - floor) / (1 - floor)))
    signal = _jaccard(
        _tokens(
            " ".join(
                [
                    candidate.name,
                    candidate.description,
                    *candidate.triggers,
                    *candidate.tags,
                ]
            )
        ),
        _tokens(
            " ".join([neighbour["name"], neighbour["title"], neighbour["description"]])
        ),
    )
    names = _jaccard(
        _tokens(candidate.slug.replace("-", " ")),
        _tokens(neighbour["name"].replace("-", " ")),
    )
    return min(1.0, 0.70 * semantic + 0.18 * signal + 0.12 * names)


def _same_capability(
    *, similarity: float, candidate: Candidate, neighbour: dict
) -> bool:
    if similarity < settings.AUTOSKILL_DEDUPE_THRESHOLD:
        return False
    return (
        gate_score(similarity=similarity, candidate=candidate, neighbour=neighbour)
        >= 0.5
    )


def candidate_query(candidate: Candidate) -> str:
    text = "\n".join(
        [candidate.name.replace("-", " "), candidate.description, " ".join(candidate.triggers),
         " ".join(candidate.tags), candidate.instructions[:1500]]
    )  # fmt: skip
    return text[:MAX_QUERY_CHARS]


def similar_skills(*, user: Any, candidate: Candidate) -> list[dict[str, Any]]:
    """The user's own and the library skills nearest the candidate (never other users')."""
    result = skill_search(
        user=user,
        query=candidate_query(candidate),
        scope="all",
        top_k=NEIGHBOURS,
        min_score=0.0,
    )
    ids = [hit.skill.id for hit in result.hits]
    rows = {
        str(s.pk): s
        for s in Skill.objects.filter(pk__in=ids, status=SkillStatus.ACTIVE)
    }
    neighbours = []
    for hit in result.hits:
        row = rows.get(hit.skill.id)
        if row is None or (row.owner_id is not None and row.owner_id != user.pk):
            continue
        neighbours.append(
            {
                "id": str(row.pk),
                "scope": "library" if row.library_id else "user",
                "score": round(float(hit.score), 4),
                "name": row.name,
                "title": row.title,
                "description": row.description,
                "instructions": row.instructions[:3000],
                "triggers": row.triggers,
                "tags": row.tags,
                "version": row.version,
            }
        )
    return neighbours


def _identity_match(*, user: Any, candidate: Candidate) -> Decision | None:
    fields = candidate.as_skill_fields()
    key = identity_key(description=fields["description"], title=fields["title"])
    live = Skill.objects.exclude(status=SkillStatus.ARCHIVED)
    own = (
        live.filter(owner=user).filter(identity_key=key).first()
        or live.filter(owner=user, name=candidate.slug).first()
    )
    if own is not None:
        return Decision(
            "merge",
            str(own.pk),
            "same description or name as an existing skill",
            "identity",
            1.0,
        )
    shared = live.filter(library__isnull=False, identity_key=key).first()
    if shared is not None:
        return Decision(
            "discard",
            str(shared.pk),
            "a library skill already covers it",
            "identity",
            1.0,
        )
    return None


def _rules(candidate: Candidate, neighbours: list[dict]) -> Decision:
    for scope, action in (("user", "merge"), ("library", "discard")):
        best = next((n for n in neighbours if n["scope"] == scope), None)
        if best and _same_capability(
            similarity=best["score"], candidate=candidate, neighbour=best
        ):
            reason = (
                "same capability as an existing skill"
                if action == "merge"
                else "covered by a library skill"
            )
            return Decision(action, best["id"], reason, "rules", best["score"])
    return Decision("add", None, "no existing skill covers this capability", "rules")


def _ask_llm(
    llm: LLMClient, candidate: Candidate, neighbours: list[dict]
) -> Decision | None:
    """The model's decision, or None when its answer is unusable (rules decide then)."""
    brief = {k: v for k, v in candidate.model_dump().items() if k != "files"}
    similar = [{k: v for k, v in n.items() if k != "title"} for n in neighbours]
    reply = llm.complete(
        decide_messages(brief, similar), temperature=0.0, json_mode=True
    )
    try:
        data = parse_json_answer(reply.text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    action = str(data.get("action") or "").strip().lower()
    action = _SYNONYMS.get(action, action)
    if action not in ACTIONS:
        return None
    target = data.get("target_skill_id") or data.get("target")
    reason = str(data.get("reason") or data.get("rationale") or "")[:300]
    return Decision(action, str(target) if target else None, reason, "llm")


def _guard(
    decision: Decision, candidate: Candidate, neighbours: list[dict]
) -> Decision:
    """Keep the model inside the rules: no near-duplicate adds, merges only into own skills."""
    by_id = {n["id"]: n for n in neighbours}
    best_user = next((n for n in neighbours if n["scope"] == "user"), None)
    best_library = next((n for n in neighbours if n["scope"] == "library"), None)
    high = min(1.0, settings.AUTOSKILL_DEDUPE_THRESHOLD + GUARD_MARGIN)
    if decision.action == "add":
        for best, action in ((best_user, "merge"), (best_library, "discard")):
            if (
                best
                and best["score"] >= high
                and _same_capability(
                    similarity=best["score"], candidate=candidate, neighbour=best
                )
            ):
                return Decision(
                    action,
                    best["id"],
                    f"guard rail over the model's add: {best['name']} is the same capability",
                    "guardrail",
                    best["score"],
                )
        return decision
    if decision.action == "merge":
        target = by_id.get(decision.target_skill_id or "")
        if target and target["scope"] == "user":
            decision.similarity = target["score"]
            return decision
        if target and target["scope"] == "library":
            return Decision(
                "discard",
                target["id"],
                "library skills are read-only; overlap can only be discarded",
                "guardrail",
                target["score"],
            )
        fallback = _rules(candidate, neighbours)
        fallback.decided_by = "guardrail"
        fallback.reason = f"model named no valid merge target; {fallback.reason}"
        return fallback
    return decision


def decide(*, user: Any, candidate: Candidate, llm: LLMClient | None) -> Decision:
    """add / merge / discard for `candidate` in `user`'s namespace. May raise LLMError."""
    identity = _identity_match(user=user, candidate=candidate)
    if identity is not None:
        return identity
    neighbours = similar_skills(user=user, candidate=candidate)
    summary = [{k: n[k] for k in ("id", "scope", "score", "name")} for n in neighbours]
    decision: Decision | None = None
    if llm is not None and not getattr(llm, "offline", False) and neighbours:
        decision = _ask_llm(llm, candidate, neighbours)
        if decision is not None:
            decision = _guard(decision, candidate, neighbours)
    if decision is None:
        decision = _rules(candidate, neighbours)
    decision.neighbours = summary
    return decision


def apply_decision(
    *,
    user: Any,
    candidate: Candidate,
    decision: Decision,
    llm: LLMClient | None,
    job_id: Any = None,
    provenance: dict[str, Any] | None = None,
) -> Applied:
    """Write the decision: create, merge (compare-and-set, retried) or nothing."""
    if decision.action == "discard":
        return Applied("discarded")
    if decision.action == "add":
        fields = candidate.as_skill_fields()
        try:
            skill = skill_create(
                owner=user,
                **fields,
                confidence=candidate.confidence,
                provenance=provenance or {},
                files={p: c.encode("utf-8") for p, c in candidate.files.items()},
                origin=VersionOrigin.EXTRACTION,
                reason=decision.reason,
                job_id=job_id,
                status=settings.AUTOSKILL_EXTRACTION_SKILL_STATUS,
            )
            return Applied("added", skill, True)
        except Conflict as exc:
            # An identical candidate won the race; fold this one into it instead.
            decision.action, decision.decided_by = "merge", "identity"
            decision.target_skill_id = str(exc.extra.get("existing_id"))
            decision.reason = "an identical skill was created concurrently"
    return _merge(
        user=user, candidate=candidate, decision=decision, llm=llm, job_id=job_id
    )


def _merge(
    *,
    user: Any,
    candidate: Candidate,
    decision: Decision,
    llm: LLMClient | None,
    job_id: Any,
) -> Applied:
    keep_identity = False

    def write(existing: Skill, fields: dict[str, Any], keep: bool) -> Applied:
        return _write_merge(
            existing=existing,
            candidate=candidate,
            decision=decision,
            job_id=job_id,
            fields=fields,
            keep_identity=keep,
        )

    for _ in range(MERGE_ATTEMPTS):
        existing = Skill.objects.get(pk=decision.target_skill_id, owner=user)
        fields = merged_with_llm(existing, candidate, llm) or merge_fields(
            existing, candidate
        )
        try:
            return write(existing, fields, keep_identity)
        except Conflict as exc:
            # Either another merge landed first (merge into the new state), or the
            # merged description collides with another skill's identity (keep ours).
            keep_identity = keep_identity or "current_version_number" not in exc.extra
    # Every optimistic attempt lost a race (a hot skill: fifty jobs merging at once).
    # Failing the job would drop its update, so the last attempt holds the row and
    # cannot lose. Only the deterministic merge runs there: the model is never
    # called while a row is locked.
    with transaction.atomic():
        existing = Skill.objects.select_for_update().get(
            pk=decision.target_skill_id, owner=user
        )
        fields = merge_fields(existing, candidate)
        try:
            return write(existing, fields, keep_identity)
        except Conflict:
            if keep_identity:
                raise
        return write(existing, fields, True)


def _write_merge(
    *,
    existing: Skill,
    candidate: Candidate,
    decision: Decision,
    job_id: Any,
    fields: dict[str, Any],
    keep_identity: bool,
) -> Applied:
    """One compare-and-set write of merged `fields` over `existing`; Conflict if lost."""
    if keep_identity:
        fields = {k: v for k, v in fields.items() if k not in ("description", "title")}
    before = existing.version_number
    skill = skill_update(
        skill_id=existing.pk,
        expected_version_number=before,
        bump=True,
        origin=VersionOrigin.MERGE,
        reason=decision.reason,
        confidence=max(existing.confidence or 0.0, candidate.confidence),
        job_id=job_id,
        **fields,
    )
    return Applied("merged", skill, skill.version_number != before)
