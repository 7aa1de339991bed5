"""Sustained streaming load through the proxy, with a same-run baseline.

    .venv/bin/python scripts/load_proxy.py [--concurrency 50] [--duration 60] [--warmup 10]
        [--upstream-delay 0.05] [--tokens 50] [--token-interval 0] [--baseline 10]
        [--database postgres|sqlite] [--admin-url postgres://postgres@127.0.0.1:5432/postgres]
        [--skills DIR|none] [--redis-url URL] [--rate-limit N] [--json]

Everything runs on loopback, each part in its own process: a fake OpenAI-compatible
upstream (tests/fakes/openai_server.py) that waits `--upstream-delay` seconds and then
streams `--tokens` word-sized chunks, and one daphne process serving AutoSkill (DEBUG
off) on a scratch database that the script creates and drops: a new PostgreSQL database
on the server behind `--admin-url` (never an existing one), or a temporary SQLite file.
The skills of `--skills` (default: the dev bench, 1,057 skills) are imported into a
library, so every request searches all of them. Each concurrent client streams chat
completions back to back with its own API key (distinct bench queries) until the time
is up. The first `--warmup` seconds are not counted; the server's RSS is read at the end
of the warm-up and at the end. The same client then streams from the fake upstream
directly for `--baseline` seconds: the ratios are against that, measured in the same run.

It prints throughput (requests/s, streamed tokens/s), p50/p95/p99 of time to first byte
and of total time, errors by kind, and RSS growth; it exits 1 when a request failed, the
server logged a traceback, or the RSS grew by `--max-rss-growth` (10%) or more. The rate limiter stays on with a limit no client reaches
(`--rate-limit`), so its counting is part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from bench_proxy import SERVERS, free_port, load_queries, pct  # noqa: E402

DEV_SKILLS = ROOT.parent / "shared" / "bench" / "dev" / "skills"

UPSTREAM = """
import sys, time
sys.path.insert(0, {root!r})
from tests.fakes.openai_server import CHAT, FakeOpenAIServer
words = " ".join(f"word{{i}}" for i in range({tokens}))
server = FakeOpenAIServer(chat_text=words)
default = server._chat
def chat(request, scripted):
    reply = default(request, scripted)
    if reply.events is None:
        time.sleep({delay})
        return reply
    events = [{delay}]
    for event in reply.events:
        events += [event, {interval}] if {interval} else [event]
    reply.events = events
    return reply
server.route(CHAT, chat)
server.start()
print(server.port, flush=True)
while True:
    time.sleep(3600)
"""


@dataclass
class Sample:
    """One streamed request as the client saw it."""

    ttfb: float
    total: float
    tokens: int
    error: str = ""


@dataclass
class Phase:
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if not s.error]

    def summary(self) -> dict:
        ok = self.ok
        ttfb = [s.ttfb * 1000 for s in ok] or [float("nan")]
        total = [s.total * 1000 for s in ok] or [float("nan")]
        errors = Counter(s.error for s in self.samples if s.error)
        seconds = self.seconds or float("inf")
        return {
            "requests": len(self.samples),
            "errors": sum(errors.values()),
            "error_kinds": dict(errors.most_common(5)),
            "rps": len(ok) / seconds,
            "tokens_per_s": sum(s.tokens for s in ok) / seconds,
            "ttfb_ms": {p: round(pct(ttfb, p), 1) for p in (50, 95, 99)},
            "total_ms": {p: round(pct(total, p), 1) for p in (50, 95, 99)},
        }


# -- the client ----------------------------------------------------------------


async def stream_once(
    client: httpx2.AsyncClient, url: str, key: str | None, query: str
) -> Sample:
    """Stream one chat completion; an error is any answer but a whole stream."""
    body = {
        "model": "fake",
        "messages": [{"role": "user", "content": query}],
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    started = time.perf_counter()
    first = None
    tokens = 0
    done = False
    error = ""
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                await response.aread()
                error = f"HTTP {response.status_code}"
            else:
                async for line in response.aiter_lines():
                    if first is None:
                        first = time.perf_counter()
                    if not line.startswith("data: "):
                        continue
                    payload = line[6:]
                    if payload == "[DONE]":
                        done = True
                        continue
                    chunk = json.loads(payload)
                    if "error" in chunk:
                        error = f"error chunk: {chunk['error'].get('code')}"
                    for choice in chunk.get("choices") or []:
                        if (choice.get("delta") or {}).get("content"):
                            tokens += 1
                if not done and not error:
                    error = "stream ended without [DONE]"
    except (httpx2.HTTPError, ValueError) as exc:
        error = type(exc).__name__
    ended = time.perf_counter()
    return Sample((first or ended) - started, ended - started, tokens, error)


async def drive(
    url: str,
    keys: list[str | None],
    queries: list[str],
    *,
    seconds: float,
    warmup: float = 0.0,
    on_warm: object = None,
) -> Phase:
    """One client per key, each streaming back to back; samples after `warmup` count."""
    limits = httpx2.Limits(
        max_connections=len(keys), max_keepalive_connections=len(keys)
    )
    phase = Phase()
    async with httpx2.AsyncClient(timeout=60, limits=limits, trust_env=False) as client:
        loop_started = time.perf_counter()
        counting_from = loop_started + warmup
        deadline = counting_from + seconds

        async def worker(index: int, key: str | None) -> None:
            turn = index
            while time.perf_counter() < deadline:
                query = queries[turn % len(queries)]
                turn += len(keys)
                began = time.perf_counter()
                sample = await stream_once(client, url, key, query)
                if began >= counting_from:
                    phase.samples.append(sample)

        async def mark_warm() -> None:
            await asyncio.sleep(warmup)
            if callable(on_warm):
                on_warm()

        await asyncio.gather(mark_warm(), *[worker(i, k) for i, k in enumerate(keys)])
        # In-flight requests at the deadline finish and count; so does their time.
        phase.seconds = time.perf_counter() - counting_from
    return phase


# -- the processes -------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident memory of a process (Linux /proc), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@contextlib.contextmanager
def scratch_database(kind: str, admin_url: str) -> Iterator[str]:
    """A new, empty database for this run, dropped afterwards."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="autoskill-load-db-")
        try:
            yield f"sqlite:///{folder}/load.sqlite3"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    import psycopg

    name = f"autoskill_load_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_upstream(
    *, delay: float, tokens: int, interval: float
) -> tuple[subprocess.Popen, str]:
    code = UPSTREAM.format(
        root=str(ROOT), delay=delay, tokens=tokens, interval=interval
    )
    process = subprocess.Popen(  # noqa: S603 - our own code
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    )
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}/v1"


def server_env(*, database_url: str, store_dir: str, upstream_url: str, args) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "autoskill_site.settings.base",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "AUTOSKILL_STORE_DIR": store_dir,
        "AUTOSKILL_MIRROR_ENABLED": "0",
        "AUTOSKILL_EMBEDDINGS_PROVIDER": "none",
        "AUTOSKILL_LLM_PROVIDER": "generic",
        "AUTOSKILL_GENERIC_LLM_URL": upstream_url,
        "AUTOSKILL_GENERIC_LLM_MODEL": "fake",
        "AUTOSKILL_REWRITE_MODE": "never",
        "AUTOSKILL_EXTRACT_ENABLED": "0",
        "AUTOSKILL_USAGE_AUDIT_RATE": "0",
        "AUTOSKILL_RATE_LIMIT_PER_MINUTE": str(args.rate_limit),
        "OMP_WAIT_POLICY": "passive",
        "DJANGO_LOG_LEVEL": "WARNING",
        "REDIS_URL": args.redis_url or "",
    }


def manage(env: dict, *argv: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *argv],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout


PREPARE = """
import io
from django.core.management import call_command
from accounts.models import User
from proxy.auth import api_key_create
call_command("migrate", verbosity=0)
if {skills!r} != "none":
    call_command("import_skills", {skills!r}, library="bench", keep_ids=True,
                 no_progress=True, stdout=io.StringIO())
for n in range({clients}):
    user, _ = User.objects.get_or_create(username=f"load{{n}}")
    print("KEY", api_key_create(owner=user).secret)
"""


def prepare_database(env: dict, *, skills: str, clients: int) -> list[str]:
    """Migrate, import the skills, and issue one API key per client (one Django start)."""
    out = manage(env, "shell", "-c", PREPARE.format(skills=skills, clients=clients))
    return [line.split()[1] for line in out.splitlines() if line.startswith("KEY ")]


def start_server(
    env: dict, log: Path, server: str = "daphne"
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own code
            SERVERS[server](port), cwd=ROOT, env=env, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text()[-2000:]}")
        try:
            health = httpx2.get(f"{url}/health", timeout=1, trust_env=False)
            if health.status_code == 200:
                return process, url
        except httpx2.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start within 30 s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the run -------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    """The whole measurement; returns the report."""
    queries = load_queries(2000)
    upstream, upstream_url = start_upstream(
        delay=args.upstream_delay, tokens=args.tokens, interval=args.token_interval
    )
    store = tempfile.mkdtemp(prefix="autoskill-load-store-")
    log = Path(store) / "server.log"
    processes = [upstream]
    try:
        with scratch_database(args.database, args.admin_url) as database_url:
            env = server_env(
                database_url=database_url,
                store_dir=store,
                upstream_url=upstream_url,
                args=args,
            )
            keys = prepare_database(env, skills=args.skills, clients=args.concurrency)
            server, url = start_server(env, log, args.server)
            processes.append(server)
            try:
                rss: dict[str, int] = {}
                proxied = asyncio.run(
                    drive(
                        f"{url}/v1/chat/completions", keys, queries,
                        seconds=args.duration, warmup=args.warmup,
                        on_warm=lambda: rss.setdefault("warm", rss_kib(server.pid)),
                    )
                )  # fmt: skip
                rss["end"] = rss_kib(server.pid)
            finally:
                stop(server)
        direct = asyncio.run(
            drive(
                f"{upstream_url}/chat/completions", [None] * args.concurrency, queries,
                seconds=args.baseline, warmup=min(2.0, args.warmup),
            )
        )  # fmt: skip
    finally:
        for process in processes:
            stop(process)
        server_log = log.read_text(errors="replace") if log.exists() else ""
        shutil.rmtree(store, ignore_errors=True)
    report = {
        "settings": {
            "concurrency": args.concurrency, "duration_s": args.duration, "warmup_s": args.warmup,
            "upstream_delay_s": args.upstream_delay, "tokens": args.tokens,
            "token_interval_s": args.token_interval, "database": args.database,
            "skills": args.skills, "server": args.server, "redis": bool(args.redis_url),
        },
        "proxy": proxied.summary(),
        "direct": direct.summary(),
        "rss_kib": {**rss, "growth": (rss["end"] - rss["warm"]) / rss["warm"]},
        "server_tracebacks": server_log.count("Traceback"),
    }  # fmt: skip
    report["ratio"] = {"rps": proxied.summary()["rps"] / (direct.summary()["rps"] or 1)}
    return report


def verdict(report: dict, *, max_rss_growth: float) -> list[str]:
    """The checks that failed (empty: the run passed)."""
    problems = []
    if report["proxy"]["errors"]:
        problems.append(f"{report['proxy']['errors']} proxied requests failed")
    if not report["proxy"]["requests"]:
        problems.append("no request completed in the measured window")
    if report["server_tracebacks"]:
        problems.append(f"the server logged {report['server_tracebacks']} tracebacks")
    if report["rss_kib"]["growth"] >= max_rss_growth:
        problems.append(
            f"server RSS grew {report['rss_kib']['growth']:.1%} after warm-up"
        )
    return problems


def print_report(report: dict) -> None:
    s, p, d = report["settings"], report["proxy"], report["direct"]
    print(
        f"{s['concurrency']} concurrent streaming clients for {s['duration_s']} s after "
        f"{s['warmup_s']} s warm-up; upstream delay {s['upstream_delay_s'] * 1000:.0f} ms, "
        f"{s['tokens']} tokens; {s['database']}, skills: {s['skills']}; {s['server']}"
    )
    for name, row in (("proxy ", p), ("direct", d)):
        print(
            f"{name}: {row['requests']} requests, {row['errors']} errors; "
            f"{row['rps']:.1f} req/s, {row['tokens_per_s']:.0f} tokens/s; "
            f"TTFB p50/p95/p99 {row['ttfb_ms'][50]}/{row['ttfb_ms'][95]}/{row['ttfb_ms'][99]} ms; "
            f"total p50/p95/p99 {row['total_ms'][50]}/{row['total_ms'][95]}/{row['total_ms'][99]} ms"
        )
    if p["error_kinds"]:
        print(f"errors: {p['error_kinds']}")
    rss = report["rss_kib"]
    print(
        f"throughput vs direct: {report['ratio']['rps']:.2f}x; server RSS "
        f"{rss['warm'] / 1024:.1f} MiB after warm-up, {rss['end'] / 1024:.1f} MiB at the end "
        f"({rss['growth']:+.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # fmt: off
    add = parser.add_argument
    add("--concurrency", type=int, default=50)
    add("--duration", type=float, default=60.0)
    add("--warmup", type=float, default=10.0)
    add("--baseline", type=float, default=10.0)
    add("--upstream-delay", type=float, default=0.05)
    add("--tokens", type=int, default=50)
    add("--token-interval", type=float, default=0.0)
    add("--database", choices=["postgres", "sqlite"], default="postgres")
    add("--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    add("--skills", default=str(DEV_SKILLS), help="a folder, or none")
    add("--redis-url", default="")
    add("--rate-limit", type=int, default=1_000_000)
    add("--server", choices=sorted(SERVERS), default="daphne")
    add("--max-rss-growth", type=float, default=0.10,
        help="fail when the RSS grows by this share after warm-up (short runs: raise it)")
    add("--json", action="store_true", help="print the report as JSON")
    # fmt: on
    args = parser.parse_args()
    report = run(args)
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    problems = verdict(report, max_rss_growth=args.max_rss_growth)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
