"""Reads of users shared by entry points."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def user_for_command(username: str):  # noqa: ANN201 - the configured user model
    """The user a management command names, or a CommandError saying there is none."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named {username!r}; create it first.")
    return user
