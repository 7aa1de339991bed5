"""Benchmark `import_conversations` against a fake LLM server with fixed latency per call.

    .venv/bin/python scripts/bench_import.py [--conversations 96] [--latency 0.2] [--concurrency 8]

The fake server (tests/fakes/openai_server.py, on loopback) answers every chat call
after `--latency` seconds: extraction calls with a distinct skill per conversation,
decision calls with "add". The import runs as a real `manage.py import_conversations`
child process in a scratch SQLite database (or `--database-url`). Printed: wall time,
conversations per second, model round trips per conversation, the ideal rate
(concurrency / latency round trips per second) and the overhead per conversation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.openai_server import (  # noqa: E402
    CHAT,
    FakeOpenAIServer,
    Recorded,
    Reply,
)

TOPICS = [
    ("release notes", "summary, breaking changes, migration; no emojis"),
    ("code review", "check tests first, then naming, then performance"),
    ("weekly report", "progress, risks, next week's plan; no tables"),
    ("SQL style", "uppercase keywords, one clause per line"),
    ("incident postmortem", "timeline, root cause, actions with owners"),
    ("API design", "nouns for resources, plural paths, ISO dates"),
]


def conversations(count: int) -> list[dict]:
    items = []
    for index in range(count):
        topic, rule = TOPICS[index % len(TOPICS)]
        items.append(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": f"Draft the {topic} for project {index}.",
                    },
                    {
                        "role": "assistant",
                        "content": f"Here is a draft of the {topic}.",
                    },
                    {
                        "role": "user",
                        "content": f"From now on, for {topic} #{index}: {rule}.",
                    },
                ]
            }
        )
    return items


def answer(request: Recorded, latency: float) -> Reply:
    time.sleep(latency)
    messages = (
        request.json.get("messages", []) if isinstance(request.json, dict) else []
    )
    system = messages[0]["content"] if messages else ""
    body = messages[1]["content"] if len(messages) > 1 else ""
    if system.startswith("You distil reusable skills"):
        tag = hashlib.sha256(body.encode()).hexdigest()[:10]
        text = json.dumps(
            {
                "skills": [
                    {
                        "name": f"bench-skill-{tag}",
                        "description": f"Benchmark skill {tag}: follows the user's stated format.",
                        "instructions": f"# Goal\nApply rule {tag}.\n\n# Constraints & Style\n- Rule {tag}.",
                        "triggers": [f"rule {tag}", "bench format", "apply the format"],
                        "tags": ["bench"],
                        "confidence": 0.7,
                    }
                ]
            }
        )
    elif system.startswith("You maintain a user's library"):
        text = json.dumps(
            {"action": "add", "target_skill_id": None, "reason": "distinct rule"}
        )
    else:
        text = json.dumps({"skills": []})
    return Reply(
        body={
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "fake",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=96)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    server = FakeOpenAIServer().start()
    server.route(CHAT, lambda request, scripted: answer(request, args.latency))
    try:
        with tempfile.TemporaryDirectory(prefix="autoskill-import-bench-") as tmp:
            data = Path(tmp) / "conversations.json"
            data.write_text(
                json.dumps(conversations(args.conversations)), encoding="utf-8"
            )
            env = {
                **os.environ,
                "DJANGO_DEBUG": "1",
                "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.sqlite3",
                "AUTOSKILL_STORE_DIR": f"{tmp}/SkillBank",
                "AUTOSKILL_EMBEDDINGS_PROVIDER": "hashing",
                "AUTOSKILL_EMBEDDINGS_SYNC": "1",
                "AUTOSKILL_GENERIC_LLM_URL": server.base_url,
                "AUTOSKILL_GENERIC_LLM_MODEL": "fake",
            }
            manage = [sys.executable, "manage.py"]

            def run(*command: str) -> None:
                subprocess.run(
                    [*manage, *command],
                    cwd=ROOT,
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )  # noqa: S603

            if args.database_url:
                run("flush", "--noinput")
            run("migrate", "--noinput")
            run(
                "shell",
                "-c",
                "from accounts.models import User; User.objects.get_or_create(username='bench')",
            )
            started = time.perf_counter()
            run(
                "import_conversations", str(data), "--user", "bench",
                "--llm-provider", "generic", "--llm-model", "fake",
                "--concurrency", str(args.concurrency), "--report", f"{tmp}/report.json",
            )  # fmt: skip
            wall = time.perf_counter() - started
            report = json.loads(Path(f"{tmp}/report.json").read_text(encoding="utf-8"))
            # The importer's own clock excludes Django start-up of the child process.
            elapsed = float(report.get("elapsed_s") or wall)
    finally:
        server.stop()

    calls = len(server.requests_to(CHAT))
    n = args.conversations
    per_conv_calls = calls / n
    ideal = (
        args.concurrency / (args.latency * per_conv_calls)
        if args.latency
        else float("inf")
    )
    rate = n / elapsed
    overhead_ms = (
        elapsed * args.concurrency / n - per_conv_calls * args.latency
    ) * 1000
    print(f"conversations: {n}, processed {report['processed']}, failed {report['failed']}, "
          f"upserted {report['upserted_count']}")  # fmt: skip
    print(
        f"model round trips: {calls} ({per_conv_calls:.2f} per conversation, {args.latency * 1000:.0f} ms each)"
    )
    print(f"import time: {elapsed:.2f} s (child process wall time {wall:.2f} s)")
    print(f"rate: {rate:.2f} conversations/s; ideal {ideal:.2f} (= {args.concurrency} / "
          f"({args.latency:g} s x {per_conv_calls:.2f})); ratio {rate / ideal:.2f}")  # fmt: skip
    print(
        f"overhead per conversation (per worker, beyond model latency): {overhead_ms:.0f} ms"
    )


if __name__ == "__main__":
    main()
