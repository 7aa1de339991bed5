"""The evaluation harness: scenario bank, simulated user, judge, the evolution flow, metrics.

Everything talks HTTP to a running server (`--base-url`, a service `--api-key`), exactly
as the original's `auto_evalution.py` client does, so it measures any deployment.
"""
