"""Run one claimed job end to end: extract -> decide -> apply -> record.

Every exit is explicit: `no_candidate`, `added`, `merged`, `discarded` (completed) or
an error (failed, or rescheduled when the failure is transient).
"""

from __future__ import annotations

import logging
from typing import Any

from autoskill_site.providers.llm import LLMClient, LLMError
from autoskill_site.providers.llm_config import llm_from_settings
from extraction.candidate import Candidate
from extraction.evidence import EvidenceWindow
from extraction.extract import MalformedAnswer, extract_candidate
from extraction.jobs import WORKER_ID, Heartbeat, job_complete, job_fail
from extraction.maintenance import apply_decision, decide
from extraction.merging import merge_fields
from extraction.models import ExtractionJob, JobOutcome
from skills.models import Skill

logger = logging.getLogger(__name__)


def window_of(job: ExtractionJob) -> EvidenceWindow:
    return EvidenceWindow(
        messages=tuple(job.window),
        events=tuple(job.events),
        hint=job.hint,
        window_hash=job.window_hash,
    )


def _candidate_record(candidate: Candidate) -> dict[str, Any]:
    data = candidate.model_dump()
    data["files"] = sorted(data["files"])
    return data


def skill_summary(skill: Skill) -> dict[str, Any]:
    return {"id": str(skill.pk), "name": skill.name, "version": skill.version}


def job_run(
    *, job: ExtractionJob, llm: LLMClient | None = None, worker: str = WORKER_ID
) -> ExtractionJob:
    """Run a job this worker has claimed; returns it in its new state."""
    llm = llm or llm_from_settings("extraction")
    decision_record: dict[str, Any] = {
        "llm": {"provider": llm.provider, "model": llm.model}
    }
    try:
        with Heartbeat(job, worker):
            result = extract_candidate(
                window=window_of(job), llm=llm, reference=job.reference
            )
            decision_record["extraction"] = {
                "calls": result.calls,
                "repaired": result.repaired,
                "notes": result.notes,
            }
            if result.candidate is None:
                job_complete(
                    job=job,
                    outcome=JobOutcome.NO_CANDIDATE,
                    decision=decision_record,
                    upserted=[],
                    worker=worker,
                )
                return job
            candidate = result.candidate
            decision_record["candidate"] = _candidate_record(candidate)
            decision = decide(user=job.user, candidate=candidate, llm=llm)
            decision_record.update(decision.record())
            applied = apply_decision(
                user=job.user,
                candidate=candidate,
                decision=decision,
                llm=llm,
                job_id=job.pk,
                provenance={
                    "job_id": str(job.pk),
                    "trigger": job.trigger,
                    "source": job.source,
                },
            )
            decision_record.update(
                decision.record()
            )  # a lost create race turns add into merge
            decision_record["changed"] = applied.changed
            upserted = (
                [skill_summary(applied.skill)] if applied.skill is not None else []
            )
            job_complete(
                job=job,
                outcome=applied.outcome,
                decision=decision_record,
                upserted=upserted,
                worker=worker,
            )
    except LLMError as exc:
        job_fail(
            job=job,
            error=f"model call failed: {exc}",
            retryable=exc.retryable,
            worker=worker,
        )
    except MalformedAnswer as exc:
        job_fail(job=job, error=str(exc), retryable=False, worker=worker)
    except Exception as exc:  # noqa: BLE001 - recorded on the job, never lost silently
        logger.exception("extraction job %s crashed", job.pk)
        job_fail(
            job=job,
            error=f"{type(exc).__name__}: {exc}",
            retryable=False,
            worker=worker,
        )
    job.refresh_from_db()
    return job


def simulate(
    *,
    user: Any,
    window: EvidenceWindow,
    reference: dict[str, Any] | None = None,
    llm: LLMClient | None = None,
) -> dict[str, Any]:
    """What extraction and maintenance would do with this window; stores nothing."""
    llm = llm or llm_from_settings("extraction")
    report: dict[str, Any] = {
        "object": "extraction_simulation",
        "llm": {"provider": llm.provider, "model": llm.model},
        "window_hash": window.window_hash,
    }
    result = extract_candidate(window=window, llm=llm, reference=reference)
    if result.candidate is None:
        return {
            **report,
            "outcome": JobOutcome.NO_CANDIDATE,
            "candidate": None,
            "decision": None,
        }
    decision = decide(user=user, candidate=result.candidate, llm=llm)
    outcome = {
        "add": JobOutcome.ADDED,
        "merge": JobOutcome.MERGED,
        "discard": JobOutcome.DISCARDED,
    }[decision.action]
    report.update(
        outcome=outcome,
        candidate=_candidate_record(result.candidate),
        decision=decision.record(),
    )
    if decision.action == "merge":
        target = Skill.objects.get(pk=decision.target_skill_id)
        report["merge_preview"] = {
            "skill": skill_summary(target),
            **merge_fields(target, result.candidate),
        }
    return report
