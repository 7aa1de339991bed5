"""python manage.py serve [the original server's flags] [--dry-run]

For people coming from the original: its flags (--host, --port, --llm-provider,
--llm-model, --embeddings-provider, --store-dir, --user-id, --skill-scope,
--rewrite-mode, --extract-mode, --extract-turn-limit, --min-score, --top-k,
--served-model, --proxy-api-key) become our settings' environment variables for the
processes this command starts: migrate and startup maintenance first (waited for),
then, supervised, daphne (browser app, admin, proxy and API on one port) and the
extraction worker. When either stops, the other is stopped and the command exits
non-zero; SIGINT/SIGTERM stop both cleanly.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from autoskill_site.providers.llm import LLMPurpose
from autoskill_site.providers.llm_config import describe_llm, normalise_provider

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
SCOPES = {"user": "user", "common": "library", "library": "library", "all": "all"}
EMBEDDINGS = {"local": "local", "openai": "openai", "generic": "openai"}
EMBEDDINGS.update(hashing="hashing", none="none")
MODES = ("never", "auto", "always")
READY_SECONDS = 60.0
STOP_SECONDS = 10.0
PR_SET_PDEATHSIG = 1


def _choice(options: dict[str, str] | tuple[str, ...], what: str):  # noqa: ANN202
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise argparse.ArgumentTypeError(
                f"{what} must be one of {', '.join(options)}; got {raw!r}."
            )
        return options[value] if isinstance(options, dict) else value

    return parse


def _llm_provider(raw: str) -> str:
    try:
        return normalise_provider(raw)
    except ImproperlyConfigured as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _int_in(low: int, high: int, what: str):  # noqa: ANN202
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be a whole number, got {raw!r}."
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{what} must be {low} to {high}, got {value}."
            )
        return value

    return parse


def _score(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--min-score must be a number, got {raw!r}."
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"--min-score must be between 0 and 1, got {value}."
        )
    return value


def _model_id(raw: str) -> str:
    value = raw.strip()
    if not value or "," in value or any(ch.isspace() for ch in value):
        raise argparse.ArgumentTypeError(
            f"--served-model takes one model id without commas or spaces, got {raw!r}."
        )
    return value


@dataclass
class Plan:
    """What `serve` will run: the environment of its children and the commands."""

    env: dict[str, str]
    host: str
    port: int

    @property
    def url(self) -> str:
        wildcard = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104
        host = wildcard.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def web(self) -> list[str]:
        # The JSON request log (autoskill.requests) replaces daphne's access log.
        return [sys.executable, "-m", "daphne", "-b", self.host, "-p", str(self.port),
                "--access-log", os.devnull, "autoskill_site.asgi:application"]  # fmt: skip

    def worker(self) -> list[str]:
        return [sys.executable, MANAGE, "extraction_worker"]

    def manage(self, *args: str) -> list[str]:
        return [sys.executable, MANAGE, *args]


def _database() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"SQLite {db['NAME']}"
    return f"{db['ENGINE'].rsplit('.', 1)[-1]} {db.get('NAME')} at {db.get('HOST') or 'local socket'}"


def _die_with_parent() -> None:
    """Children get SIGTERM if serve itself is killed (Linux; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class Command(BaseCommand):
    help = "Run daphne and the extraction worker with the original server's flags."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="bind address (127.0.0.1)")
        parser.add_argument("--port", type=_int_in(1, 65535, "--port"), default=None,
                            help="port (8000)")  # fmt: skip
        parser.add_argument("--llm-provider", type=_llm_provider)
        parser.add_argument("--llm-model")
        parser.add_argument(
            "--embeddings-provider", type=_choice(EMBEDDINGS, "--embeddings-provider")
        )
        parser.add_argument("--embeddings-model")
        parser.add_argument(
            "--store-dir", help="SkillBank folder (AUTOSKILL_STORE_DIR)"
        )
        parser.add_argument(
            "--user-id", help="owner of --proxy-api-key and user-scope imports"
        )
        parser.add_argument("--skill-scope", type=_choice(SCOPES, "--skill-scope"))
        parser.add_argument("--rewrite-mode", type=_choice(MODES, "--rewrite-mode"))
        parser.add_argument("--extract-mode", type=_choice(MODES, "--extract-mode"))
        parser.add_argument(
            "--extract-turn-limit", type=_int_in(1, 1000, "--extract-turn-limit")
        )
        parser.add_argument("--min-score", type=_score)
        parser.add_argument("--top-k", type=_int_in(1, 200, "--top-k"))
        parser.add_argument("--served-model", action="append", type=_model_id,
                            help="a model id /v1/models lists (repeatable)")  # fmt: skip
        parser.add_argument("--proxy-api-key", help="a static key clients may send")
        parser.add_argument("--skip-migrate", action="store_true")
        parser.add_argument("--dry-run", action="store_true",
                            help="print the configuration and exit")  # fmt: skip

    def handle(self, *args, **options) -> None:
        plan = self._plan(options)
        self._describe(plan, options)
        if options["dry_run"]:
            return
        self._run(plan, skip_migrate=options["skip_migrate"])

    # -- configuration -------------------------------------------------------
    def _plan(self, options: dict) -> Plan:
        mapping = {
            "llm_provider": "AUTOSKILL_LLM_PROVIDER",
            "llm_model": "AUTOSKILL_LLM_MODEL",
            "embeddings_provider": "AUTOSKILL_EMBEDDINGS_PROVIDER",
            "embeddings_model": "AUTOSKILL_EMBEDDINGS_MODEL",
            "user_id": "AUTOSKILL_USER_ID",
            "skill_scope": "AUTOSKILL_SKILL_SCOPE",
            "rewrite_mode": "AUTOSKILL_REWRITE_MODE",
            "extract_mode": "AUTOSKILL_EXTRACT_MODE",
            "extract_turn_limit": "AUTOSKILL_EXTRACT_TURN_LIMIT",
            "min_score": "AUTOSKILL_MIN_SCORE",
            "top_k": "AUTOSKILL_TOP_K",
            "proxy_api_key": "AUTOSKILL_PROXY_API_KEY",
        }
        env = {
            variable: str(options[option])
            for option, variable in mapping.items()
            if options[option] is not None
        }
        if options["served_model"]:
            env["AUTOSKILL_PROXY_MODELS"] = ",".join(
                dict.fromkeys(options["served_model"])
            )
        if options["store_dir"] is not None:
            store = Path(options["store_dir"]).expanduser().resolve()
            if store.exists() and not store.is_dir():
                raise CommandError(f"--store-dir {store} exists and is not a folder.")
            env["AUTOSKILL_STORE_DIR"] = str(store)
        if options["user_id"] is not None and not options["user_id"].strip():
            raise CommandError("--user-id must not be empty.")
        if options["proxy_api_key"] is not None:
            from proxy.static_key import MIN_STATIC_KEY_CHARS

            if len(options["proxy_api_key"]) < MIN_STATIC_KEY_CHARS:
                raise CommandError(
                    f"--proxy-api-key must be at least {MIN_STATIC_KEY_CHARS} characters."
                )
        host = options["host"] if options["host"] is not None else "127.0.0.1"
        return Plan(env=env, host=host, port=options["port"] or 8000)

    def _value(self, plan: Plan, variable: str, setting: str | None = None) -> str:
        if variable in plan.env:
            return plan.env[variable]
        value = getattr(settings, setting or variable, "")
        return ",".join(value) if isinstance(value, list) else str(value)

    def _describe(self, plan: Plan, options: dict) -> None:
        llm = describe_llm(
            LLMPurpose.CHAT,
            provider=plan.env.get("AUTOSKILL_LLM_PROVIDER") or None,
            model=plan.env.get("AUTOSKILL_LLM_MODEL") or None,
        )
        if llm.get("error"):
            raise CommandError(f"The chat model is not usable: {llm['error']}")
        served = self._value(plan, "AUTOSKILL_PROXY_MODELS")
        key = self._value(plan, "AUTOSKILL_PROXY_API_KEY")
        user = self._value(plan, "AUTOSKILL_USER_ID")
        lines = [
            ("url", f"{plan.url}/  (admin {plan.url}/{os.environ.get('DJANGO_ADMIN_PATH', 'admin/')}, "
                    f"OpenAI API {plan.url}/v1, health {plan.url}/health)"),
            ("llm provider", llm["provider"]),
            ("llm model", llm["model"] + (f" at {llm['base_url']}" if llm.get("base_url") else "")),
            ("embeddings", self._value(plan, "AUTOSKILL_EMBEDDINGS_PROVIDER")
                + (f" ({m})" if (m := self._value(plan, "AUTOSKILL_EMBEDDINGS_MODEL")) else "")),
            ("store dir", self._value(plan, "AUTOSKILL_STORE_DIR")),
            ("database", _database()),
            ("channel layer", "Redis" if settings.REDIS_URL else "in-memory (one web process)"),
            ("user", user),
            ("skill scope", self._value(plan, "AUTOSKILL_SKILL_SCOPE")),
            ("top k", self._value(plan, "AUTOSKILL_TOP_K")),
            ("min score", self._value(plan, "AUTOSKILL_MIN_SCORE")),
            ("rewrite mode", self._value(plan, "AUTOSKILL_REWRITE_MODE")),
            ("extract mode", f"{self._value(plan, 'AUTOSKILL_EXTRACT_MODE')} (every "
                             f"{self._value(plan, 'AUTOSKILL_EXTRACT_TURN_LIMIT')} turn(s))"),
            ("served models", f"{served} (other models are refused)" if served
                              else "any (forwarded to the upstream)"),
            ("proxy api key", f"set: an API key of user {user} (only its hash is stored)"
                              if key else "not set (use create_api_key for per-user keys)"),
            ("allowed hosts", ", ".join(settings.ALLOWED_HOSTS)),
        ]  # fmt: skip
        width = max(len(label) for label, _ in lines) + 1
        self.stdout.write(
            "AutoSkill Studio serve" + (" (dry run)" if options["dry_run"] else "")
        )
        for label, value in lines:
            self.stdout.write(f"  {label + ':':<{width}} {value}")
        shown = {
            k: ("***" if k == "AUTOSKILL_PROXY_API_KEY" else v)
            for k, v in plan.env.items()
        }
        for variable, value in sorted(shown.items()):
            self.stdout.write(f"  env {variable}={value}")
        self.stdout.write(f"  web:    {' '.join(plan.web())}")
        self.stdout.write(f"  worker: {' '.join(plan.worker())}")

    # -- processes -----------------------------------------------------------
    def _run(self, plan: Plan, *, skip_migrate: bool) -> None:
        env = {**os.environ, **plan.env}
        metrics_dir = self._metrics_dir(env)
        if not skip_migrate:
            done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
                plan.manage("migrate", "--noinput"), env=env, check=False
            )
            if done.returncode:
                raise CommandError(
                    f"migrate failed (exit {done.returncode}); nothing started."
                )
        # Before the server, so imported skills are there when it answers; the slow
        # part (vectors) is a job the worker picks up once it runs.
        done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            plan.manage("startup_maintenance"), env=env, check=False
        )
        if done.returncode:
            self.stderr.write("Startup maintenance reported problems (above); serving.")
        stop: list[int] = []

        def on_signal(signum: int, _frame: object) -> None:
            stop.append(signum)

        previous = {
            s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)
        }
        children: dict[str, subprocess.Popen] = {}
        try:
            for name, command in (("web", plan.web()), ("worker", plan.worker())):
                children[name] = subprocess.Popen(  # noqa: S603 - fixed arguments
                    command,
                    env=env,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            died = self._supervise(plan, children, stop)
        finally:
            self._stop(children)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if metrics_dir:
                shutil.rmtree(metrics_dir, ignore_errors=True)
        if died:
            name, code = died
            raise CommandError(
                f"The {name} process exited with status {code}; stopped the rest."
            )
        self.stdout.write("Stopped.")

    def _metrics_dir(self, env: dict[str, str]) -> str | None:
        """One multiprocess folder, so /metrics also counts the worker's upstream errors."""
        given = env.get("PROMETHEUS_MULTIPROC_DIR")
        if given:
            for stale in Path(given).glob("*.db"):
                stale.unlink()
            return None
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="autoskill-metrics-")
        return env["PROMETHEUS_MULTIPROC_DIR"]

    def _supervise(
        self, plan: Plan, children: dict[str, subprocess.Popen], stop: list[int]
    ) -> tuple[str, int] | None:
        """Wait for a signal or a dead child; report /health once it answers."""
        ready_by = time.monotonic() + READY_SECONDS
        ready = False
        while not stop:
            for name, child in children.items():
                if child.poll() is not None:
                    return None if stop else (name, child.returncode)
            if not ready and self._healthy(plan):
                ready = True
                self.stdout.write(
                    f"Ready: {plan.url}/ (Ctrl-C stops the server and the worker)"
                )
            elif not ready and time.monotonic() > ready_by:
                self.stderr.write(
                    f"{plan.url}/health has not answered after {READY_SECONDS:.0f} s."
                )
                ready_by = float("inf")
            time.sleep(0.2)
        return None

    @staticmethod
    def _healthy(plan: Plan) -> bool:
        try:
            with urllib.request.urlopen(f"{plan.url}/health", timeout=1) as response:  # noqa: S310
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    @staticmethod
    def _stop(children: dict[str, subprocess.Popen]) -> None:
        alive = [c for c in children.values() if c.poll() is None]
        for child in alive:
            child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for child in alive:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
