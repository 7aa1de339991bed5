"""Deployment checks that Django's own skip for our middleware subclasses.

Django's security checks find its middleware by dotted path. With the subclasses of
autoskill_site/middleware.py (same behaviour, no thread hop) they report W001-W003
("not in MIDDLEWARE", silenced in settings) and then skip every check that depends on
that middleware: HSTS, SSL redirect, nosniff, X-Frame-Options, Referrer-Policy,
COOP and the CSRF cookie. This check runs exactly those Django checks with each
subclass named by its Django path, and warns when a protection is missing altogether.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register
from django.core.checks.security import base, csrf
from django.test.utils import override_settings
from django.utils.module_loading import import_string

REQUIRED = {
    "django.middleware.security.SecurityMiddleware": "security.W001",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "security.W002",
    "django.middleware.csrf.CsrfViewMiddleware": "security.W003",
}
# Django's deploy checks that look at the settings only when the middleware's path is listed.
SKIPPED_BY_DJANGO = (
    base.check_sts,
    base.check_sts_include_subdomains,
    base.check_sts_preload,
    base.check_content_type_nosniff,
    base.check_ssl_redirect,
    base.check_xframe_deny,
    base.check_referrer_policy,
    base.check_cross_origin_opener_policy,
    csrf.check_csrf_cookie_secure,
)


def _as_django_paths(middleware: list[str]) -> Iterator[str]:
    for path in middleware:
        try:
            cls = import_string(path)
        except ImportError:
            yield path
            continue
        yield next(
            (
                django_path
                for django_path in REQUIRED
                if isinstance(cls, type) and issubclass(cls, import_string(django_path))
            ),
            path,
        )


@register(Tags.security, deploy=True)
def middleware_protections(app_configs, **kwargs) -> list[CheckMessage]:  # noqa: ANN001
    """Each protection present (by class), then Django's checks of its settings."""
    translated = list(_as_django_paths(list(settings.MIDDLEWARE)))
    problems: list[CheckMessage] = [
        Warning(
            f"No {path} (or a subclass) in MIDDLEWARE.",
            hint=f"This check stands in for Django's {replaces}, silenced in settings.",
            id="autoskill.W001",
        )
        for path, replaces in REQUIRED.items()
        if path not in translated
    ]
    if translated != list(settings.MIDDLEWARE):
        with override_settings(MIDDLEWARE=translated):
            for check in SKIPPED_BY_DJANGO:
                problems.extend(check(app_configs))
    return problems
