"""Writes of users: sub-users of trusted service keys."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from autoskill_site.exceptions import InvalidInput

MAX_EXTERNAL_ID_CHARS = 200


def clean_external_id(value: object) -> str:
    text = str(value or "").strip()
    if not text:
        raise InvalidInput("The sub-user id must not be empty.")
    if len(text) > MAX_EXTERNAL_ID_CHARS:
        raise InvalidInput(
            f"The sub-user id is longer than {MAX_EXTERNAL_ID_CHARS} characters."
        )
    if any(ord(char) < 32 for char in text):
        raise InvalidInput("The sub-user id must not contain control characters.")
    return text


def sub_username(*, parent: Any, external_id: str) -> str:
    """A unique, folder-safe username: the parent's name plus a hash of the id."""
    digest = hashlib.sha256(external_id.encode("utf-8")).hexdigest()[:16]
    return f"{parent.get_username()[:120]}--{digest}"


def sub_user_get_or_create(*, parent: Any, external_id: object) -> Any:
    """The sub-user `external_id` of `parent`, created on first use (race-safe)."""
    external_id = clean_external_id(external_id)
    users = get_user_model().objects
    existing = users.filter(parent=parent, external_id=external_id).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            user = users.create(
                username=sub_username(parent=parent, external_id=external_id),
                parent=parent,
                external_id=external_id,
            )
            user.set_unusable_password()
            user.save(update_fields=["password"])
            return user
    except IntegrityError:
        return users.get(parent=parent, external_id=external_id)
