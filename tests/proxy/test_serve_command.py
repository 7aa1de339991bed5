"""manage.py serve: the original's flags, mapped, refused when invalid, and a real run."""

from __future__ import annotations

import io
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]
SECRET = "static-proxy-key-0123456789"


def _dry_run(*args: str) -> str:
    out = io.StringIO()
    call_command("serve", "--dry-run", *args, stdout=out)
    return out.getvalue()


def test_flags_become_settings_for_the_children(tmp_path):
    # when
    out = _dry_run(
        "--host", "0.0.0.0",
        "--port", "9123",
        "--llm-provider", "mock",
        "--embeddings-provider", "generic",
        "--store-dir", str(tmp_path / "bank"),
        "--user-id", "u9",
        "--skill-scope", "common",
        "--rewrite-mode", "never",
        "--extract-mode", "always",
        "--extract-turn-limit", "2",
        "--min-score", "0.25",
        "--top-k", "3",
        "--served-model", "gpt-a",
        "--served-model", "gpt-b",
        "--served-model", "gpt-a",
        "--proxy-api-key", SECRET,
    )  # fmt: skip
    # then
    env = dict(
        line.strip().removeprefix("env ").split("=", 1)
        for line in out.splitlines()
        if line.strip().startswith("env ")
    )
    assert env == {
        "AUTOSKILL_LLM_PROVIDER": "offline",
        "AUTOSKILL_EMBEDDINGS_PROVIDER": "openai",
        "AUTOSKILL_STORE_DIR": str((tmp_path / "bank").resolve()),
        "AUTOSKILL_USER_ID": "u9",
        "AUTOSKILL_SKILL_SCOPE": "library",
        "AUTOSKILL_REWRITE_MODE": "never",
        "AUTOSKILL_EXTRACT_MODE": "always",
        "AUTOSKILL_EXTRACT_TURN_LIMIT": "2",
        "AUTOSKILL_MIN_SCORE": "0.25",
        "AUTOSKILL_TOP_K": "3",
        "AUTOSKILL_PROXY_MODELS": "gpt-a,gpt-b",
        "AUTOSKILL_PROXY_API_KEY": "***",
    }
    assert SECRET not in out
    assert "-b 0.0.0.0 -p 9123" in out
    assert "url:" in out and "http://127.0.0.1:9123/" in out
    assert "llm provider:  offline" in out
    assert "served models: gpt-a,gpt-b (other models are refused)" in out
    assert "an API key of user u9" in out


def test_without_flags_the_current_settings_are_shown(settings):
    settings.AUTOSKILL_TOP_K = 4
    out = _dry_run()
    assert "top k:         4" in out
    assert "env AUTOSKILL" not in out
    assert "-b 127.0.0.1 -p 8000" in out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--top-k", "0"], "--top-k must be 1 to 200"),
        (["--top-k", "many"], "--top-k must be a whole number"),
        (["--min-score", "1.5"], "--min-score must be between 0 and 1"),
        (["--min-score", "high"], "--min-score must be a number"),
        (["--port", "70000"], "--port must be 1 to 65535"),
        (["--extract-turn-limit", "0"], "--extract-turn-limit must be 1 to 1000"),
        (["--skill-scope", "everyone"], "--skill-scope must be one of"),
        (["--rewrite-mode", "sometimes"], "--rewrite-mode must be one of"),
        (["--extract-mode", "often"], "--extract-mode must be one of"),
        (["--llm-provider", "nope"], "LLM provider 'nope' is unknown"),
        (["--embeddings-provider", "qwen"], "--embeddings-provider must be one of"),
        (["--served-model", "a,b"], "--served-model takes one model id"),
        (["--proxy-api-key", "short"], "at least 16 characters"),
        (["--user-id", " "], "--user-id must not be empty"),
        (["--llm-provider", "openai"], "The chat model is not usable"),
    ],
)
def test_invalid_values_are_refused_clearly(flags, message):
    with pytest.raises(CommandError, match=message):
        _dry_run(*flags)


def test_a_store_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CommandError, match="is not a folder"):
        _dry_run("--store-dir", str(tmp_path / "file"))


# -- a real run ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """`manage.py serve` in a subprocess, its output read line by line."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.port = _free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("DATABASE_URL", "REDIS_URL", "AUTOSKILL_", "PROMETHEUS")
            )
        }
        env.update(
            DJANGO_SETTINGS_MODULE="autoskill_site.settings.test",
            DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        )
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(self.port),
             "--store-dir", str(tmp_path / "bank"), *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.output.append(line)
            if text in line:
                return
        raise AssertionError(f"{text!r} never came:\n{''.join(self.output)}")

    def rest(self) -> str:
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return "".join(self.output)

    def children(self) -> dict[str, int]:
        pids = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        found = {}
        for pid in pids.read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            for name in ("daphne", "extraction_worker"):
                if name.encode() in cmdline:
                    found[name] = int(pid)
        return found


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    server = Served(tmp_path, "--proxy-api-key", SECRET)
    try:
        yield server
    finally:
        server.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still has a pid; it is gone for our purpose once it stopped running.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


@pytest.mark.slow
def test_serve_answers_health_and_stops_cleanly(served):
    """migrate, maintenance, daphne and the worker; SIGTERM stops both, exit 0."""
    # given
    served.wait_for("Ready: ")
    children = served.children()
    assert set(children) == {"daphne", "extraction_worker"}
    # when
    with urllib.request.urlopen(
        f"http://127.0.0.1:{served.port}/health", timeout=10
    ) as response:
        status = response.status
    models = urllib.request.Request(
        f"http://127.0.0.1:{served.port}/v1/models",
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    with urllib.request.urlopen(models, timeout=30) as response:
        models_status = response.status
    served.process.send_signal(signal.SIGTERM)
    code = served.process.wait(timeout=60)
    # then
    assert status == 200
    assert models_status == 200  # --proxy-api-key is accepted as that user's key
    assert code == 0, served.rest()
    assert "Stopped." in served.rest()
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in children.values()):
        assert time.monotonic() < deadline, "a child outlived serve"
        time.sleep(0.1)


@pytest.mark.slow
def test_when_the_worker_dies_the_server_is_stopped_too(served):
    served.wait_for("Ready: ")
    children = served.children()
    os.kill(children["extraction_worker"], signal.SIGKILL)
    code = served.process.wait(timeout=60)
    assert code != 0
    assert "The worker process exited" in served.rest()
    deadline = time.monotonic() + 10
    while not _gone(children["daphne"]):
        assert time.monotonic() < deadline, "daphne outlived the worker"
        time.sleep(0.1)
