"""Benchmark the OpenAI-compatible proxy against the same upstream called directly.

    .venv/bin/python scripts/bench_proxy.py --database-url URL [--requests 1000]
        [--latency 0 --latency 0.05] [--concurrency 1 --concurrency 16]
        [--embeddings none|local] [--repeat-queries]

The database must already hold the skills (e.g. `import_skills ../shared/bench/full_dev/skills
--library bench --keep-ids`, plus `refresh_embeddings` for `--embeddings local`). The script
starts, each in its own process: a fake OpenAI-compatible upstream on loopback that answers
after `--latency` seconds, and daphne serving AutoSkill (DEBUG off) in front of it. The same
asyncio client then sends identical requests directly to the upstream and through the proxy,
streamed and not, sequentially and concurrently. It prints per setting: p50/p95/p99 of time to
first byte and of total time for both paths, the added latency (proxy minus direct, per
percentile), throughput and the ratio to direct, and the proxy's own `x-autoskill-overhead-ms`.
Queries are the bench queries, distinct per request unless `--repeat-queries`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUERIES = ROOT.parent / "shared" / "bench" / "full_dev" / "queries.jsonl"

UPSTREAM = """
import sys, time, json
sys.path.insert(0, {root!r})
from tests.fakes.openai_server import CHAT, FakeOpenAIServer, Reply, _pieces
latency = {latency}
server = FakeOpenAIServer(chat_text="Sure - here is a short answer for you.")
default = server._chat
def chat(request, scripted):
    time.sleep(latency)
    return default(request, scripted)
server.route(CHAT, chat)
server.start()
print(server.port, flush=True)
while True:
    time.sleep(3600)
"""


SERVERS = {
    "daphne": lambda port: [
        sys.executable,
        "-m",
        "daphne",
        "-v",
        "0",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "autoskill_site.asgi:application",
    ],
    "uvicorn": lambda port: [
        sys.executable,
        "-m",
        "uvicorn",
        "--log-level",
        "warning",
        "--no-access-log",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "autoskill_site.asgi:application",
    ],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def load_queries(limit: int) -> list[str]:
    queries = []
    with QUERIES.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                queries.append(json.loads(line)["query"])
    while len(queries) < limit:
        queries += queries
    return queries[:limit]


async def one(
    client: httpx2.AsyncClient, url: str, headers: dict, query: str, stream: bool
) -> tuple[float, float, float]:
    body = {
        "model": "fake",
        "messages": [{"role": "user", "content": query}],
        "stream": stream,
    }
    started = time.perf_counter()
    first = None
    overhead = float("nan")
    async with client.stream("POST", url, json=body, headers=headers) as response:
        if response.status_code != 200:
            text = await response.aread()
            raise RuntimeError(f"{url}: HTTP {response.status_code}: {text[:300]!r}")
        overhead = float(response.headers.get("x-autoskill-overhead-ms", "nan"))
        async for _chunk in response.aiter_bytes():
            if first is None:
                first = time.perf_counter()
    done = time.perf_counter()
    return (first or done) - started, done - started, overhead


async def run(
    url: str, headers: dict, queries: list[str], *, concurrency: int, stream: bool
) -> dict:
    limits = httpx2.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency
    )
    async with httpx2.AsyncClient(timeout=60, limits=limits, trust_env=False) as client:
        for query in queries[:5]:  # warm up connections and caches of both paths
            await one(client, url, headers, "warm-up " + query, stream)
        pending = iter(queries)
        results: list[tuple[float, float, float]] = []

        async def worker() -> None:
            for query in pending:
                results.append(await one(client, url, headers, query, stream))

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    ttfb = [r[0] * 1000 for r in results]
    total = [r[1] * 1000 for r in results]
    overhead = [r[2] for r in results if r[2] == r[2]]
    return {
        "ttfb": {p: pct(ttfb, p) for p in (50, 95, 99)},
        "total": {p: pct(total, p) for p in (50, 95, 99)},
        "rps": len(results) / elapsed,
        "overhead_p50": statistics.median(overhead) if overhead else float("nan"),
    }


def start_processes(
    args: argparse.Namespace, latency: float
) -> tuple[list[subprocess.Popen], str, str, str]:
    upstream = subprocess.Popen(  # noqa: S603 - our own code
        [sys.executable, "-c", UPSTREAM.format(root=str(ROOT), latency=latency)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    upstream_port = int(upstream.stdout.readline())
    upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": args.database_url,
        "AUTOSKILL_STORE_DIR": args.store_dir,
        "AUTOSKILL_MIRROR_ENABLED": "0",
        "AUTOSKILL_EMBEDDINGS_PROVIDER": args.embeddings,
        "AUTOSKILL_LLM_PROVIDER": "generic",
        "AUTOSKILL_GENERIC_LLM_URL": upstream_url,
        "AUTOSKILL_GENERIC_LLM_MODEL": "fake",
        "AUTOSKILL_REWRITE_MODE": "never",
        "AUTOSKILL_EXTRACT_ENABLED": "0",
        "AUTOSKILL_USAGE_AUDIT_RATE": "0",
        # One key sends every request: the per-key limit would refuse most of them.
        "AUTOSKILL_RATE_LIMIT_PER_MINUTE": "0",
        "OMP_WAIT_POLICY": "passive",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    key = subprocess.run(  # noqa: S603
        [*manage, "shell", "-c",
         "from accounts.models import User; from proxy.auth import api_key_create; "
         "u, _ = User.objects.get_or_create(username='proxybench'); print(api_key_create(owner=u).secret)"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    port = free_port()
    proxy = subprocess.Popen(  # noqa: S603
        SERVERS[args.server](port),
        cwd=ROOT, env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        try:
            if (
                httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code
                == 200
            ):
                break
        except httpx2.HTTPError:
            pass
        time.sleep(0.1)
    else:
        raise SystemExit("the proxy did not start")
    return [upstream, proxy], upstream_url, f"http://127.0.0.1:{port}/v1", key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--store-dir", default="/tmp/autoskill-proxy-bench-store")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--latency", type=float, action="append")
    parser.add_argument("--concurrency", type=int, action="append")
    parser.add_argument("--embeddings", default="none")
    parser.add_argument("--repeat-queries", action="store_true")
    parser.add_argument("--modes", default="plain,stream")
    parser.add_argument("--server", choices=sorted(SERVERS), default="daphne")
    args = parser.parse_args()
    latencies = args.latency or [0.0, 0.05]
    concurrencies = args.concurrency or [1, 16]
    queries = load_queries(args.requests)
    if args.repeat_queries:
        queries = [queries[0]] * len(queries)
    print(f"server: {args.server}; requests per setting: {len(queries)}; embeddings: {args.embeddings}; "
          f"{'one repeated query' if args.repeat_queries else 'distinct queries'}")  # fmt: skip
    for latency in latencies:
        processes, upstream_url, proxy_url, key = start_processes(args, latency)
        try:
            for concurrency in concurrencies:
                for mode in args.modes.split(","):
                    stream = mode == "stream"
                    direct = asyncio.run(
                        run(
                            f"{upstream_url}/chat/completions",
                            {},
                            queries,
                            concurrency=concurrency,
                            stream=stream,
                        )
                    )
                    proxied = asyncio.run(
                        run(
                            f"{proxy_url}/chat/completions",
                            {"Authorization": f"Bearer {key}"},
                            queries,
                            concurrency=concurrency,
                            stream=stream,
                        )
                    )
                    added_ttfb = {
                        p: proxied["ttfb"][p] - direct["ttfb"][p] for p in (50, 95, 99)
                    }
                    added_total = {
                        p: proxied["total"][p] - direct["total"][p]
                        for p in (50, 95, 99)
                    }
                    print(
                        f"upstream {latency * 1000:.0f} ms, concurrency {concurrency:>2}, {mode:>6}: "
                        f"added TTFB p50/p95/p99 {added_ttfb[50]:.1f}/{added_ttfb[95]:.1f}/{added_ttfb[99]:.1f} ms, "
                        f"added total {added_total[50]:.1f}/{added_total[95]:.1f}/{added_total[99]:.1f} ms; "
                        f"direct total p50 {direct['total'][50]:.1f} ms; "
                        f"throughput {proxied['rps']:.0f} vs {direct['rps']:.0f} req/s direct ({proxied['rps'] / direct['rps']:.2f}x); "
                        f"x-autoskill-overhead-ms p50 {proxied['overhead_p50']:.1f}",
                        flush=True,
                    )
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)


if __name__ == "__main__":
    main()
