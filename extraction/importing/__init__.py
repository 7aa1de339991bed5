"""Offline importers: archived conversations and agent trajectories become extraction jobs.

`reading` (files, JSON values, read problems, the tree walk), `conversations` and
`trajectories` are pure (files and JSON in, units out, no Django); `service` plans
each kind of import, `runner` runs the units through `extraction_ingest`, and
`tally` builds the report the management commands print.
"""
