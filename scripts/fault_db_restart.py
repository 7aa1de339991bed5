"""Restart PostgreSQL under load: requests fail cleanly during the outage, then recover.

    .venv/bin/python scripts/fault_db_restart.py [--clients 8] [--before 10] [--outage 20]
        [--after 20] [--pool-timeout 5] [--timeout 60] [--skills DIR|none] [--server-log PATH]

It never touches a shared server: it creates a private cluster with initdb in a
temporary folder (as the `postgres` user when run as root, since PostgreSQL refuses
root), on a free loopback port, and removes it afterwards. On it: a fake upstream,
one daphne process (DEBUG off, psycopg's connection pool with DATABASE_POOL_TIMEOUT =
`--pool-timeout`, the skills of `--skills` in a library), and `--clients` clients sending chat completions back to back, streamed and not in
turn, each with a `--timeout` second limit. After `--before` seconds the cluster is
stopped (`pg_ctl stop -m fast`, which ends every connection), left down for `--outage`
seconds (0: a plain restart) and started again; the server keeps running throughout.

It reports the requests before, during and after the outage with their statuses, how
many plain answers still carried retrieved skills, whether every failure was an OpenAI
error envelope (or, for a stream already started, an error chunk), the slowest request
(no hang past the timeout), and how long after the database came back the first request
succeeded. It exits 1 when a failure was not clean, a
request hit the client timeout, the server process died, or requests still failed in the
second half of the time after the restart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_proxy import (  # noqa: E402
    DEV_SKILLS,
    free_port,
    load_queries,
    prepare_database,
    server_env,
    start_server,
    start_upstream,
    stop,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class Outcome:
    """One request: when it ran, what came back, and whether a failure was clean."""

    started: float
    ended: float
    stream: bool
    status: int | None
    ok: bool
    clean: bool
    detail: str
    hits: int | None = None  # retrieved skills of a plain answer


# -- the private cluster -------------------------------------------------------


class Cluster:
    """A throwaway PostgreSQL cluster under a temporary folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def _pg(self, tool: str, *argv: str) -> None:
        command = [str(PG_BIN / tool), *argv]
        if self.as_root:  # initdb and postgres refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)  # noqa: S603

    def create(self) -> None:
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._pg(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        )
        self._pg(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"


@contextlib.contextmanager
def private_cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="autoskill-pg-fault-"))
    cluster = Cluster(root)
    try:
        cluster.create()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


# -- the client ----------------------------------------------------------------


def _envelope(raw: bytes) -> str | None:
    """The envelope's message when `raw` is an OpenAI error envelope, else None."""
    try:
        error = json.loads(raw)["error"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return f"{error.get('code')}: {error['message'][:120]}"
    return None


async def one(
    client: httpx2.AsyncClient, url: str, key: str, query: str, stream: bool
) -> Outcome:
    body = {
        "model": "fake",
        "messages": [{"role": "user", "content": query}],
        "stream": stream,
    }
    started = time.monotonic()
    status = None
    try:
        async with client.stream(
            "POST", url, json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            status = response.status_code
            raw = await response.aread()
    except httpx2.TimeoutException:
        return Outcome(
            started, time.monotonic(), stream, status, False, False, "client timeout"
        )
    except httpx2.HTTPError as exc:
        return Outcome(
            started, time.monotonic(), stream, status, False, False, type(exc).__name__
        )
    ended = time.monotonic()
    if status != 200:
        message = _envelope(raw)
        clean = message is not None and status >= 400
        return Outcome(
            started,
            ended,
            stream,
            status,
            False,
            clean,
            message or raw[:120].decode(errors="replace"),
        )
    if not stream:
        hits = len(json.loads(raw)["autoskill"]["retrieval"]["hits"])
        return Outcome(started, ended, stream, status, True, True, "", hits)
    lines = [
        line[6:] for line in raw.decode().splitlines() if line.startswith("data: ")
    ]
    errors = [p for p in lines if p != "[DONE]" and "error" in json.loads(p)]
    if errors:
        return Outcome(
            started,
            ended,
            stream,
            status,
            False,
            True,
            f"error chunk: {errors[0][:120]}",
        )
    if not lines or lines[-1] != "[DONE]":
        return Outcome(
            started, ended, stream, status, False, False, "stream cut without [DONE]"
        )
    return Outcome(started, ended, stream, status, True, True, "")


async def load(
    url: str,
    keys: list[str],
    queries: list[str],
    *,
    seconds: float,
    timeout: float,
    outcomes: list[Outcome],
) -> None:
    limits = httpx2.Limits(
        max_connections=len(keys), max_keepalive_connections=len(keys)
    )
    async with httpx2.AsyncClient(
        timeout=timeout, limits=limits, trust_env=False
    ) as client:
        deadline = time.monotonic() + seconds

        async def worker(index: int, key: str) -> None:
            turn = index
            while time.monotonic() < deadline:
                query = queries[turn % len(queries)]
                outcomes.append(
                    await one(client, url, key, query, stream=turn % 2 == 1)
                )
                turn += len(keys)

        await asyncio.gather(*[worker(i, k) for i, k in enumerate(keys)])


async def scenario(
    args: argparse.Namespace, cluster: Cluster, url: str, keys: list[str]
) -> tuple[list[Outcome], float, float]:
    outcomes: list[Outcome] = []
    queries = load_queries(2000)
    seconds = args.before + args.outage + args.after
    loader = asyncio.create_task(
        load(
            f"{url}/v1/chat/completions",
            keys,
            queries,
            seconds=seconds,
            timeout=args.timeout,
            outcomes=outcomes,
        )
    )
    await asyncio.sleep(args.before)
    down = time.monotonic()
    await asyncio.to_thread(cluster.stop)
    await asyncio.sleep(args.outage)
    await asyncio.to_thread(cluster.start)
    up = time.monotonic()
    await loader
    return outcomes, down, up


# -- the report ----------------------------------------------------------------


def summarise(outcomes: list[Outcome], down: float, up: float, after: float) -> dict:
    phases = {
        "before": [o for o in outcomes if o.ended < down],
        "outage": [o for o in outcomes if o.ended >= down and o.started < up],
        "after": [o for o in outcomes if o.started >= up],
    }
    report: dict = {}
    for name, items in phases.items():
        failed = [o for o in items if not o.ok]
        plain = [o for o in items if o.hits is not None]
        report[name] = {
            "requests": len(items),
            "ok": len(items) - len(failed),
            "failed": len(failed),
            "unclean": sum(1 for o in failed if not o.clean),
            "statuses": dict(Counter(str(o.status) for o in items)),
            "plain_answers_with_skills": f"{sum(1 for o in plain if o.hits)}/{len(plain)}",
            "slowest_s": round(
                max((o.ended - o.started for o in items), default=0.0), 2
            ),
            "slowest_failure_s": round(
                max((o.ended - o.started for o in failed), default=0.0), 2
            ),
            "messages": dict(Counter(o.detail for o in failed).most_common(4)),
        }
    first_ok = min(
        (o.ended for o in outcomes if o.ok and o.started >= up), default=None
    )
    report["first_success_after_up_s"] = (
        None if first_ok is None else round(first_ok - up, 2)
    )
    late = [o for o in phases["after"] if o.started >= up + after / 2]
    report["late_after"] = {
        "requests": len(late),
        "failed": sum(1 for o in late if not o.ok),
    }
    last_failure = max((o.ended for o in phases["after"] if not o.ok), default=None)
    report["last_failure_after_up_s"] = (
        None if last_failure is None else round(last_failure - up, 2)
    )
    report["outage_s"] = round(up - down, 2)
    return report


def verdict(report: dict, *, server_alive: bool) -> list[str]:
    problems = []
    unclean = sum(report[p]["unclean"] for p in ("before", "outage", "after"))
    if unclean:
        problems.append(f"{unclean} failures were not an error envelope or error chunk")
    if report["before"]["failed"]:
        problems.append(
            f"{report['before']['failed']} requests failed before the outage"
        )
    if not report["late_after"]["requests"] or report["late_after"]["failed"]:
        problems.append(
            "requests still failed (or none ran) in the second half after the restart"
        )
    if not server_alive:
        problems.append("the server process died")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--before", type=float, default=10.0)
    parser.add_argument("--outage", type=float, default=20.0)
    parser.add_argument("--after", type=float, default=20.0)
    parser.add_argument("--pool-timeout", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--upstream-delay", type=float, default=0.05)
    parser.add_argument("--skills", default=str(DEV_SKILLS), help="a folder, or none")
    parser.add_argument("--server-log", help="keep the server's log at this path")
    args = parser.parse_args()
    upstream, upstream_url = start_upstream(
        delay=args.upstream_delay, tokens=20, interval=0.0
    )
    store = Path(tempfile.mkdtemp(prefix="autoskill-pg-fault-store-"))
    server = None
    try:
        with private_cluster() as cluster:
            subprocess.run(  # noqa: S603
                [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "autoskill"],
                check=True,
            )  # fmt: skip
            env = server_env(
                database_url=cluster.url("autoskill"), store_dir=str(store), upstream_url=upstream_url,
                args=argparse.Namespace(rate_limit=1_000_000, redis_url=""),
            )  # fmt: skip
            env["DATABASE_POOL_TIMEOUT"] = str(args.pool_timeout)
            keys = prepare_database(env, skills=args.skills, clients=args.clients)
            server, url = start_server(env, store / "server.log")
            pid = server.pid
            outcomes, down, up = asyncio.run(scenario(args, cluster, url, keys))
            alive = server.poll() is None and server.pid == pid
            report = summarise(outcomes, down, up, args.after)
    finally:
        if server is not None:
            stop(server)
        stop(upstream)
        log = (
            (store / "server.log").read_text(errors="replace")
            if (store / "server.log").exists()
            else ""
        )
        if args.server_log:
            Path(args.server_log).write_text(log)
        shutil.rmtree(store, ignore_errors=True)
    report["server_tracebacks"] = log.count("Traceback")
    report["settings"] = vars(args)
    print(json.dumps(report, indent=2))
    problems = verdict(report, server_alive=alive)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
