"""Run a function in racing threads that start together; collect what they raise."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections


def race(
    target: Callable[[int, int], object], *, threads: int, rounds: int
) -> list[BaseException]:
    """Call target(thread index, round) from `threads` threads released at once."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            for round_ in range(rounds):
                target(index, round_)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            connections.close_all()  # each thread opened its own connection

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return errors
