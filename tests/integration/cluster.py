"""Real server and worker processes on loopback, as docker-compose runs them.

Each process runs `autoskill_site.settings.base` against this test's database (the
test process must commit: `django_db(transaction=True)`), the Redis channel layer and
the fake model server. Output goes to a log file per process, whose tail is attached
to a failing assertion. `Cluster.stop()` ends every process it started (SIGTERM, then
SIGKILL), and is safe to call twice; a child whose test process dies without stopping
it (killed by a timeout) is killed by the kernel (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx2
from django.conf import settings
from django.db import connection

STARTUP_SECONDS = 120.0
STOP_SECONDS = 10.0


def database_url() -> str:
    """The URL of the database this test runs on (the test database, not DATABASE_URL)."""
    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


def private_redis_url(url: str) -> str:
    """The same Redis server, another logical database (1-15, by process id).

    channels_redis keeps groups in keys, which are per database: sockets of other
    tests running at the same time (user ids repeat across test databases) share
    no group with the cluster's.
    """
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{1 + os.getpid() % 15}"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class Cluster:
    """Start `web` (daphne) and `worker` (extraction_worker) processes with one env."""

    env: dict[str, str]
    logs: Path
    processes: list[Process] = field(default_factory=list)

    @classmethod
    def for_test(cls, *, logs: Path, store_dir: Path, llm_url: str) -> Cluster:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "autoskill_site.settings.base",
            "DJANGO_DEBUG": "1",
            # Sessions made by the test process must verify in the servers.
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DATABASE_URL": database_url(),
            "REDIS_URL": private_redis_url(os.environ["REDIS_URL"]),
            "AUTOSKILL_STORE_DIR": str(store_dir),
            "AUTOSKILL_EMBEDDINGS_PROVIDER": "hashing",
            "AUTOSKILL_EMBEDDINGS_SYNC": "1",
            "AUTOSKILL_LLM_PROVIDER": "generic",
            "AUTOSKILL_GENERIC_LLM_URL": llm_url,
            "AUTOSKILL_GENERIC_LLM_MODEL": "fake-chat",
            "AUTOSKILL_LLM_RETRIES": "0",
            "AUTOSKILL_REWRITE_MODE": "never",
            # Only /extract_now starts a job, so the test knows which one to expect.
            "AUTOSKILL_EXTRACT_MODE": "never",
            "AUTOSKILL_USAGE_AUDIT_RATE": "0",
            "AUTOSKILL_REQUEST_LOG": "0",
            "PYTHONUNBUFFERED": "1",
        }
        logs.mkdir(parents=True, exist_ok=True)
        return cls(env=env, logs=logs)

    def _spawn(self, name: str, args: list[str], port: int | None = None) -> Process:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(  # noqa: S603 - our own commands
                args,
                cwd=settings.BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Only async-signal-safe work in the child: one prctl call.
                preexec_fn=_die_with_parent,
            )
        process = Process(name=name, popen=popen, log=log, port=port)
        self.processes.append(process)
        return process

    def web(self, name: str) -> Process:
        port = free_port()
        daphne = Path(sys.executable).with_name("daphne")
        args = [str(daphne), "-b", "127.0.0.1", "-p", str(port)]
        return self._spawn(name, [*args, "autoskill_site.asgi:application"], port)

    def worker(self, name: str) -> Process:
        args = [sys.executable, "manage.py", "extraction_worker", "--interval", "0.2"]
        return self._spawn(name, args)

    def wait_ready(self, *webs: Process) -> None:
        """Every web process answers /ready (database reachable, providers set)."""
        deadline = time.monotonic() + STARTUP_SECONDS
        pending = list(webs)
        with httpx2.Client(trust_env=False, timeout=5) as client:
            while pending:
                for process in list(pending):
                    self.check_alive(process)
                    try:
                        if client.get(f"{process.url}/ready").status_code == 200:
                            pending.remove(process)
                    except httpx2.TransportError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise AssertionError(
                        f"{pending[0].name} not ready in {STARTUP_SECONDS:.0f}s:\n"
                        + pending[0].tail()
                    )
                if pending:
                    time.sleep(0.2)

    def check_alive(self, *processes: Process) -> None:
        for process in processes or self.processes:
            code = process.popen.poll()
            if code is not None:
                raise AssertionError(
                    f"{process.name} exited with {code}:\n{process.tail()}"
                )

    def report(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail(1500)}" for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=STOP_SECONDS)


_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None).prctl  # looked up here: the child only calls it


def _die_with_parent() -> None:
    # Runs in the child before exec: SIGKILL it when the test process goes away.
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
