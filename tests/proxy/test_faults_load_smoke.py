"""scripts/load_proxy.py works: a 2-second run at concurrency 4 on SQLite, and its client
really counts a broken stream as an error (so "0 errors" in a long run means something).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from django.conf import settings

from tests.fakes.openai_server import CHAT, RESET, Reply, error_body
from tests.proxy.chat_fixtures import chunk

SCRIPT = Path(settings.BASE_DIR) / "scripts" / "load_proxy.py"


def _load_script():
    """scripts/ is no package: import the file (its dataclasses need sys.modules)."""
    if "load_proxy" not in sys.modules:
        spec = importlib.util.spec_from_file_location("load_proxy", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["load_proxy"] = module
        spec.loader.exec_module(module)
    return sys.modules["load_proxy"]


def _skills(root: Path) -> Path:
    for n in range(3):
        folder = root / f"skill-{n}"
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(
            f"---\nname: release-notes-{n}\ndescription: Release notes, variant {n}.\n"
            f"---\n\n# Release notes {n}\n\nSummary first, then breaking changes.\n",
            encoding="utf-8",
        )
    return root


def test_a_short_run_streams_through_the_proxy_without_errors(tmp_path):
    # when: the real script, with its own upstream, server and scratch database
    done = subprocess.run(  # noqa: S603 - our own script
        [
            sys.executable, str(SCRIPT), "--database", "sqlite",
            "--skills", str(_skills(tmp_path / "skills")),
            "--concurrency", "4", "--duration", "2", "--warmup", "1",
            "--baseline", "1", "--tokens", "20",
            # Two seconds are not a warmed-up server; memory is judged in long runs.
            "--max-rss-growth", "10", "--json",
        ],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    # then
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    proxy, direct = report["proxy"], report["direct"]
    assert proxy["errors"] == 0 and proxy["requests"] > 0
    assert direct["errors"] == 0 and direct["requests"] > 0
    # every request streamed the 20 tokens
    assert proxy["tokens_per_s"] == pytest.approx(20 * proxy["rps"])
    for row in (proxy, direct):
        for key in ("ttfb_ms", "total_ms"):
            assert 0 < row[key]["50"] <= row[key]["95"] <= row[key]["99"]
        assert row["ttfb_ms"]["50"] <= row["total_ms"]["50"]
    assert report["rss_kib"]["warm"] > 0 and report["rss_kib"]["end"] > 0
    assert report["server_tracebacks"] == 0
    assert report["ratio"]["rps"] > 0


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(events=[chunk("Half"), 0.2, RESET]), "ReadError"),
        (Reply(events=[chunk("Half")]), "stream ended without [DONE]"),
        (
            Reply(events=[chunk("Half"), json.dumps(error_body("x")), "[DONE]"]),
            "error chunk: None",
        ),
        (Reply(status=500, body=error_body("boom")), "HTTP 500"),
    ],
    ids=["reset", "no-done", "error-chunk", "http-500"],
)
async def test_the_load_client_counts_broken_streams_as_errors(
    fake_openai, reply, error
):
    # given
    load = _load_script()
    fake_openai.route(CHAT, lambda request, scripted: reply)
    # when
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as client:
        sample = await load.stream_once(
            client, f"{fake_openai.base_url}/chat/completions", None, "hello"
        )
    # then
    assert sample.error == error


async def test_the_load_client_counts_the_tokens_of_a_whole_stream(fake_openai):
    fake_openai.chat_text = "one two three four"
    load = _load_script()
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as client:
        sample = await load.stream_once(
            client, f"{fake_openai.base_url}/chat/completions", None, "hello"
        )
    assert (sample.error, sample.tokens) == ("", 4)
    assert 0 < sample.ttfb <= sample.total
