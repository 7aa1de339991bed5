"""Offline importers: archived conversations and agent trajectories become extraction jobs.

`conversations` and `trajectories` are pure (files and JSON in, units out, no Django);
`service` runs the units through `extraction_ingest` and builds the report the
management commands print.
"""
