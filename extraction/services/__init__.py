"""Extraction services: the only entry points views, consumers and commands call."""

from extraction.services.curation import job_cancel, job_rerun
from extraction.services.run import (
    IngestResult,
    extraction_ingest,
    extraction_simulate,
    extraction_submit,
)

__all__ = [
    "IngestResult",
    "extraction_ingest",
    "extraction_simulate",
    "extraction_submit",
    "job_cancel",
    "job_rerun",
]
